"""Writing rows a teacher model labelled (`tailor data label`) into a task folder: train and dev
through the leak-free splitter, around the folder's own frozen test split, all at once or not
at all.

Labelling a task's inputs makes a new folder that is a copy of that task (task.yaml under the
new name, resources, test split, everything but its train and dev rows); labelling a user's
files fills the folder named, keeping what it has (task.yaml, a hand-labelled test split)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.errors import ConfigError, DataError
from tailorlm.tasks.folder import staged_folder
from tailorlm.tasks.loader import display_path, split_exists
from tailorlm.tasks.splitting import (
    POOL_FILE,
    RECORD_FILE,
    SplitResult,
    SplitSpec,
    write_around_test,
    write_splits,
)
from tailorlm.types import Example

LABEL_SOURCE = "tailor data label"  # split.json's `source` in a folder this module wrote
_NOT_COPIED = {f"{s}.{x}" for s in ("train", "dev") for x in ("jsonl", "csv")}
_NOT_COPIED |= {POOL_FILE, RECORD_FILE, "__pycache__"}
_NO_TEST_HINT = (
    "add a hand-labelled test.jsonl to it (the frozen split every system is scored on), or "
    "pass --test 0.2 to hold out teacher-labelled rows (they measure agreement with the "
    "teacher, not correctness)"
)


@dataclass(frozen=True)
class LabelledTask:
    root: Path
    rows: int  # labelled rows written to train and dev (or test, with `test_share`)
    split: SplitResult
    left_out: int  # labelled rows left out as near-copies of a test input


def check_target(out_dir: str | Path, *, source: Path | None, test_share: float = 0.0) -> None:
    """What `write_labelled` would refuse, checked before any model is asked: a copy of a
    source task over a folder that is not one, or a folder left without a test split."""
    target = Path(out_dir).expanduser()
    if _copies(target, source):
        _check_fresh(target)
    elif test_share <= 0 and not (target.is_dir() and split_exists(target, "test")):
        raise DataError(
            "no test split to label around", path=display_path(target), hint=_NO_TEST_HINT
        )


def write_labelled(
    examples: Sequence[Example],
    out_dir: str | Path,
    *,
    source: Path | None = None,
    config_text: str | None = None,
    spec: SplitSpec | None = None,
    test_share: float = 0.0,
    min_rows: int = 1,
    run_id: str = "",
) -> LabelledTask:
    """`examples` (inputs with the teacher's answers) as the train and dev splits of `out_dir`:
    a copy of the `source` task folder, or else the folder as it is, with `config_text` as its
    task.yaml if it has none. Its test split stays; a folder without one holds out
    `test_share` of the rows as test. Rows too close to a test input are left out, and fewer
    than `min_rows` left is an error that writes nothing."""
    spec = spec or SplitSpec()
    target = Path(out_dir).expanduser()
    copying = _copies(target, source)
    base = (source if copying else target).resolve()  # type: ignore[union-attr]
    rows = [_task_row(ex, base) for ex in examples]
    record = f"{LABEL_SOURCE} (run {run_id})" if run_id else LABEL_SOURCE
    check_target(target, source=source, test_share=test_share)
    with staged_folder(target, copy_existing=not copying) as stage:
        if copying:
            _copy_task(source, stage, target.name)  # type: ignore[arg-type]
        elif not (stage / "task.yaml").is_file():
            if config_text is None:
                raise ConfigError(f"{display_path(target)} has no task.yaml")
            (stage / "task.yaml").write_text(config_text, encoding="utf-8")
        result, left_out = _write_rows(stage, rows, spec, test_share, record)
        if len(rows) - left_out < min_rows:
            raise DataError(
                f"only {len(rows) - left_out} labelled rows are left after leaving out "
                f"{left_out} near-copies of test inputs, fewer than {min_rows}; nothing written",
                path=display_path(target),
                hint="label more inputs, or lower --similarity / --min-kept",
            )
    return LabelledTask(target, len(rows) - left_out, result, left_out)


def _copies(target: Path, source: Path | None) -> bool:
    if source is None:
        return False
    return not (target.exists() and target.resolve() == source.resolve())


def _check_fresh(target: Path) -> None:
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    record = target / RECORD_FILE
    if record.is_file() and str(json.loads(record.read_text("utf-8")).get("source", "")).startswith(
        LABEL_SOURCE
    ):
        return  # labelled before: labelling again replaces it
    raise ConfigError(
        f"{display_path(target)} already exists and is not a labelled copy of a task",
        hint="choose a new --task folder for the copy, or label into this one without --from-task",
    )


def _write_rows(
    stage: Path, rows: list[dict[str, Any]], spec: SplitSpec, test_share: float, record: str
) -> tuple[SplitResult, int]:
    numbered = list(enumerate(rows, 1))
    if split_exists(stage, "test"):
        return write_around_test(stage, numbered, spec, source=record)
    spec = replace(spec, test=test_share)
    spec.check()
    return write_splits(stage, numbered, spec, source=record), 0


def _task_row(example: Example, base: Path) -> dict[str, Any]:
    """A row as task files hold it; a row's own database is named relative to the folder."""
    row: dict[str, Any] = {"id": example.id, "input": dict(example.inputs)}
    row["output"] = example.output
    meta = dict(example.meta)
    db = meta.pop("db", None)
    if db is not None:
        path = Path(str(db))
        row["db"] = str(path.relative_to(base)) if path.is_relative_to(base) else str(db)
    if meta:
        row["meta"] = meta
    return row


def _copy_task(source: Path, stage: Path, name: str) -> None:
    for item in sorted(source.iterdir()):
        if item.name in _NOT_COPIED or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, stage / item.name)
        else:
            shutil.copy2(item, stage / item.name)
    path = stage / "task.yaml"
    text = re.sub(
        r"^name:.*$", f"name: {json.dumps(name)}", path.read_text("utf-8"), count=1, flags=re.M
    )
    path.write_text(text, encoding="utf-8")
