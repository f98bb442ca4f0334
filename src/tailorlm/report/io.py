"""Reports to and from disk: load a compare run from the store, write the HTML/MD/JSON files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from tailorlm.advisor import Evidence
from tailorlm.costs import PriceTable
from tailorlm.errors import StoreError
from tailorlm.report.build import Report, build_report
from tailorlm.store import RunStore
from tailorlm.store.files import atomic_write, pretty_json

COMPARISON_FILE = "comparison.json"
FORMATS = ("html", "md", "json")
FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json"}


def write_reports(
    report: Report, out_dir: Path, formats: Iterable[str] = FORMATS
) -> dict[str, Path]:
    """Write each format to `out_dir` (temp file + rename: never a half-written report)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    render = {
        "html": report.html,
        "md": report.markdown,
        "json": lambda: pretty_json(report.to_dict()),
    }
    paths = {}
    for fmt in formats:
        if fmt not in render:
            raise StoreError(f"Unknown report format '{fmt}'", hint="use html, md or json")
        paths[fmt] = out_dir / FILE_NAMES[fmt]
        atomic_write(paths[fmt], render[fmt]())
    return paths


def load_report(
    run: str,
    *,
    prices: PriceTable | None = None,
    store: RunStore | None = None,
    target: float | None = None,
) -> Report:
    """The report of a stored compare run (id or unique prefix), rendered with today's prices."""
    record = (store or RunStore()).get(run)
    if record.kind != "compare":
        raise StoreError(
            f"Run '{record.id}' is a {record.kind} run, not a comparison",
            hint="list comparisons with `tailor runs --kind compare`",
        )
    if not record.is_complete:
        raise StoreError(
            f"Run '{record.id}' is {record.status}", hint="run the same `tailor compare` again"
        )
    # The store's id is the one `tailor report`/`show` accept, so evidence cites that one.
    comparison = {**record.read_json(COMPARISON_FILE), "run_id": record.id}
    return build_report(comparison, prices, target)


def find_compare_run(task: str, store: RunStore | None = None) -> str | None:
    """The newest complete comparison of `task`, if any."""
    runs = (store or RunStore()).list(kind="compare", task=task, status="complete", limit=1)
    return runs[0].id if runs else None


def _task_name(task: str) -> str:
    """A task folder's name from its task.yaml (runs are stored under it); else `task` as given."""
    config = Path(task) / "task.yaml"
    if config.is_file():
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return data["name"]
    return task


def stored_target(
    *, task: str | None = None, run: str | None = None, store: RunStore | None = None
) -> float | None:
    """The bar a comparison is held to when the user names none: the task's `target:` as its
    task.yaml says today, else the one stored with comparison `run` (or the task's newest)."""
    if task is not None:
        from tailorlm.errors import TailorError
        from tailorlm.tasks import load_task

        try:
            return load_task(task).config.target
        except TailorError:
            pass  # a task known only by its stored runs: the comparison says
    if run is None and task is not None:
        run = find_compare_run(task, store) or find_compare_run(_task_name(task), store)
    if run is None:
        return None
    target = (store or RunStore()).get(run).read_json(COMPARISON_FILE).get("target")
    return float(target) if target is not None else None


def evidence_for(
    *,
    task: str | None = None,
    run: str | None = None,
    prices: PriceTable | None = None,
    store: RunStore | None = None,
) -> Evidence | None:
    """The measured evidence of comparison `run`, else of the newest comparison of `task`."""
    if run is None and task is not None:
        run = find_compare_run(task, store) or find_compare_run(_task_name(task), store)
    if run is None:
        return None
    return load_report(run, prices=prices, store=store).evidence
