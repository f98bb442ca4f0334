"""The report as a rich renderable: the criteria table, then the recommendation and its evidence."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tailorlm.report.build import Report
from tailorlm.report.criteria import criteria_rows

WINNER = "★"


def _title(report: Report) -> str:
    c = report.comparison
    where = c.hardware.get("name") or c.device or "?"
    n = f"{c.n_examples} {c.split} examples" if c.n_examples else c.split
    return f"{c.task}: {c.model or 'model ?'} · {n} · {where}"


def criteria_table(report: Report) -> Table:
    table = Table(title=_title(report), show_lines=True, title_justify="left")
    table.add_column("criterion", style="bold", no_wrap=True)
    for s in report.comparison.systems:
        table.add_column(s.label, overflow="fold", style=None if s.ok else "dim")
    for row in criteria_rows(report):
        cells = []
        for s in report.comparison.systems:
            text = row.cells[s.id]
            if s.id in row.winners:
                cells.append(Text(f"{WINNER} {text}", style="bold green"))
            else:
                cells.append(Text(text))
        table.add_row(row.name, *cells)
    table.caption = (
        f"{WINNER} best on that criterion. Costs: {report.scenario} scenario first; prices from "
        + ", ".join(report.prices.sources)
    )
    return table


def recommendation_panel(report: Report) -> Panel:
    advice = report.advice
    body = Text()
    for reason in advice.reasons:
        body.append(f"• {reason}\n")
    if advice.evidence:
        body.append("\nEvidence:\n", style="bold")
        for line in advice.evidence:
            body.append(f"  {line}\n")
    for note in advice.notes:
        body.append(f"\n{note}", style="italic")
    return Panel(body, title=advice.headline, title_align="left", border_style="green")


def render_terminal(report: Report) -> Any:
    return Group(criteria_table(report), recommendation_panel(report))
