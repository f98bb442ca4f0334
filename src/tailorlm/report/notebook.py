"""The report as a notebook shows it (`Report._repr_html_`, `Report.to_pandas()`): a compact
table of the systems with the criteria table's quality, latency and cost cells, winners marked,
then the recommendation. The full page is `Report.html()`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailorlm import display
from tailorlm.compare.notebook import COLUMNS, caption, system_rows
from tailorlm.report.criteria import Criterion, criteria_rows

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report

WINNER = "★"
# The criteria the compact table shows, one column each, by how their names in criteria.py
# start (a criterion is known by its name; the rest of the name may be reworded).
SHOWN = ("Quality", "Latency", "Cost per 1,000")
FRAME_COLUMNS = (*COLUMNS[:-1], "cost_per_1000", COLUMNS[-1])


def shown_criteria(report: Report) -> list[Criterion]:
    rows = criteria_rows(report)
    picked = (next((r for r in rows if r.name.startswith(start)), None) for start in SHOWN)
    return [row for row in picked if row is not None]


def _cell(row: Criterion, system_id: str) -> display.Html | str:
    text = row.cells[system_id]
    return display.strong(f"{WINNER} {text}") if system_id in row.winners else text


def _systems(report: Report) -> display.Html:
    rows = shown_criteria(report)
    cells = [
        [s.label, s.approach, *(_cell(row, s.id) for row in rows)]
        for s in report.comparison.systems
    ]
    headers = ("system", "approach", *(row.name for row in rows))
    return display.table(headers, cells, caption=caption(report.raw))


def _recommendation(report: Report) -> list[display.Html]:
    advice = report.advice
    parts = [display.paragraph(display.strong(advice.headline)), display.bullets(advice.reasons)]
    if advice.evidence:
        parts += [display.paragraph("Evidence:"), display.bullets(advice.evidence)]
    return parts + [display.paragraph(note) for note in advice.notes]


def report_html(report: Report) -> display.Html:
    footer = (
        f"{WINNER} best on that criterion. Costs in {report.prices.currency}, {report.scenario} "
        f"scenario first; prices from {', '.join(report.prices.sources)}."
    )
    return display.fragment(_systems(report), display.paragraph(footer), *_recommendation(report))


def cost_rows(report: Report) -> list[dict[str, Any]]:
    """compare/notebook.py's system rows plus each system's cost per 1,000 requests under the
    report's primary scenario (None where it did not run): the table a notebook and MLflow get."""
    rows = []
    for row in system_rows(report.raw):
        cost = report.cost(row["id"])
        rows.append({**row, "cost_per_1000": cost.per_1000 if cost else None})
    return rows


def systems_frame(report: Report) -> Any:
    """One row per system: the comparison's columns plus the cost per 1,000 requests under the
    report's primary scenario (`frame.attrs` names it and the currency)."""
    frame = display.data_frame(cost_rows(report), FRAME_COLUMNS)
    frame.attrs.update(scenario=report.scenario, currency=report.prices.currency)
    return frame
