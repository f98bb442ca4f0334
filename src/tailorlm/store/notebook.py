"""A stored run as a notebook shows it (`RunRecord._repr_html_`, `RunRecord.to_pandas`): its
index row and summary, and for a run that stores examples (an eval), the first few of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailorlm import display
from tailorlm.errors import StoreError
from tailorlm.store.steps import ARTIFACTS

if TYPE_CHECKING:  # runs.py imports this module inside RunRecord's methods, not the reverse
    from tailorlm.store.runs import RunRecord

SHOWN_EXAMPLES = 5
EXAMPLE_COLUMNS = ("id", "inputs", "gold", "prediction", "score")


def examples_file(record: RunRecord) -> str | None:
    """The file of per-example rows this kind of run stores, if it stores any."""
    return ARTIFACTS.get(record.kind, {}).get("rows")


def example_rows(record: RunRecord) -> list[dict[str, Any]]:
    """Every stored example row (an unfinished run: the rows written so far)."""
    name = examples_file(record)
    if name is None:
        with_rows = sorted(kind for kind, files in ARTIFACTS.items() if "rows" in files)
        raise StoreError(
            f"Run '{record.id}' is a {record.kind} run: it stores no examples",
            hint=f"examples are stored by {', '.join(with_rows)} runs, e.g. "
            "RunStore().list(kind='eval')",
        )
    return record.read_jsonl(name)


def examples_frame(record: RunRecord) -> Any:
    return display.data_frame(example_rows(record))


def _row_fields(record: RunRecord) -> dict[str, Any]:
    shown = {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        "task": record.task,
        "model": record.model,
        "status": record.status,
        "created": record.created_at,
    }
    return {k: v for k, v in shown.items() if v is not None}


def _examples(record: RunRecord) -> display.Html:
    if not record.is_complete or examples_file(record) is None:
        return display.Html("")
    try:
        rows = example_rows(record)
    except StoreError:  # a folder someone emptied: the row above still says what the run was
        return display.Html("")
    caption = f"first {min(len(rows), SHOWN_EXAMPLES)} of {len(rows)} examples (to_pandas(): all)"
    cells = [[row.get(c) for c in EXAMPLE_COLUMNS] for row in rows[:SHOWN_EXAMPLES]]
    return display.table(EXAMPLE_COLUMNS, cells, caption=caption)


def run_html(record: RunRecord) -> display.Html:
    return display.fragment(
        display.fields(_row_fields(record), caption=f"{record.kind} run"),
        display.fields(record.summary, caption="summary") if record.summary else display.Html(""),
        _examples(record),
    )
