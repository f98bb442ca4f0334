"""One stored run as the index knows it (`RunRecord`), its statuses, and how run ids are made
(readable, time-sortable, unique); the store that writes and finds them is runs.py."""

from __future__ import annotations

import builtins
import dataclasses
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tailorlm.store.files import file_in_run, read_json, read_jsonl

RUNNING, COMPLETE, FAILED, INTERRUPTED = "running", "complete", "failed", "interrupted"
CANCELLED = "cancelled"  # stopped on request: kept, but never resumed by an identical step
RESUMABLE = (RUNNING, FAILED, INTERRUPTED)
TMP_PREFIX = ".tmp-"


def now() -> str:
    # Microseconds in UTC so two runs started in the same second still sort by time.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# Where the words of a run id start (1-based, for SQL substr): after `YYYYMMDD-HHMMSS-`.
ID_WORDS = len("20261125-131500-") + 1


def new_run_id(kind: str, task: str | None, name: str | None) -> str:
    """e.g. `20261125-131500-eval-sql-sales-zero-shot-ab12cd`: sorts by time, reads at a glance."""
    task_slug, name_slug = _slug(task or ""), _slug(name or "")
    if task_slug and name_slug.startswith(task_slug):
        task_slug = ""  # the name already says which task
    words = "-".join(w for w in (_slug(kind), task_slug, name_slug) if w)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{words[:48].strip('-')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunRecord:
    id: str
    kind: str
    name: str | None
    task: str | None
    model: str | None
    status: str
    config_hash: str | None
    data_hash: str | None
    created_at: str
    finished_at: str | None
    summary: dict[str, Any]
    path: str
    parent_id: str | None
    dir: Path

    @classmethod
    def from_row(cls, row: sqlite3.Row, root: Path) -> RunRecord:
        # Named fields only, so a column added by a later migration doesn't break old code.
        names = [f.name for f in dataclasses.fields(cls) if f.name not in ("summary", "dir")]
        fields = {name: row[name] for name in names}
        summary = json.loads(row["summary_json"] or "{}")
        return cls(**fields, summary=summary, dir=root / row["path"])

    @property
    def is_complete(self) -> bool:
        return self.status == COMPLETE

    def to_dict(self) -> dict[str, Any]:
        """The index row as JSON-ready data (`tailor runs --json`), its folder as a string."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["dir"] = str(self.dir)
        return data

    def load_config(self) -> dict[str, Any]:
        return self.read_json("config.json")

    def read_json(self, relname: str | Path) -> Any:
        return read_json(file_in_run(self.dir, self.id, relname))

    def read_jsonl(self, relname: str | Path) -> builtins.list[Any]:
        return read_jsonl(file_in_run(self.dir, self.id, relname))

    def to_pandas(self) -> Any:
        """The run's examples (an eval's examples.jsonl) as a DataFrame, one row per example;
        StoreError for a kind of run that stores none."""
        from tailorlm.store.notebook import examples_frame

        return examples_frame(self)

    def _repr_html_(self) -> str:
        """In a notebook: the index row, the summary and the first few examples."""
        from tailorlm.store.notebook import run_html

        return run_html(self)
