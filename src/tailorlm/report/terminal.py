"""The report as a rich renderable: the criteria table, then the recommendation and its evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tailorlm.report.criteria import criteria_rows

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report

WINNER = "★"
# Below this many columns per system the criteria table folds its cells into slivers of a few
# characters; the report then prints one card per system instead.
MIN_COLUMN = 22
CRITERION_COLUMN = 26


def _title(report: Report) -> str:
    c = report.comparison
    where = c.hardware.get("name") or c.device or "?"
    n = f"{c.n_examples} {c.split} examples" if c.n_examples else c.split
    return f"{c.task}: {c.model or 'model ?'} · {n} · {where}"


def _cell(row: Any, sid: str) -> Text:
    text = row.cells[sid]
    if sid in row.winners:
        return Text(f"{WINNER} {text}", style="bold green")
    return Text(text)


def _caption(report: Report) -> str:
    return (
        f"{WINNER} best on that criterion. Costs: {report.scenario} scenario first; prices from "
        + ", ".join(report.prices.sources)
    )


def criteria_table(report: Report) -> Table:
    table = Table(title=_title(report), show_lines=True, title_justify="left")
    table.add_column("criterion", style="bold", no_wrap=True)
    for s in report.comparison.systems:
        table.add_column(s.label, overflow="fold", style=None if s.ok else "dim")
    for row in criteria_rows(report):
        table.add_row(row.name, *(_cell(row, s.id) for s in report.comparison.systems))
    table.caption = _caption(report)
    return table


def system_cards(report: Report) -> Group:
    """The same cells as the criteria table, one panel per system: for narrow terminals."""
    rows = criteria_rows(report)
    cards: list[Any] = [Text(_title(report), style="italic")]
    for s in report.comparison.systems:
        card = Table.grid(padding=(0, 1))
        card.add_column(style="bold", no_wrap=True)
        card.add_column(overflow="fold")
        for row in rows:
            card.add_row(row.name, _cell(row, s.id))
        cards.append(Panel(card, title=s.label, title_align="left", style="" if s.ok else "dim"))
    cards.append(Text(_caption(report), style="dim"))
    return Group(*cards)


class _CriteriaView:
    """The criteria table where the terminal is wide enough for it, else the system cards."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = CRITERION_COLUMN + MIN_COLUMN * len(self.report.comparison.systems)
        yield (
            criteria_table(self.report) if options.max_width >= wide else system_cards(self.report)
        )


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
    return Group(_CriteriaView(report), recommendation_panel(report))
