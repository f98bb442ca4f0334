"""The report as Markdown: the criteria table, the recommendation, curves and disagreements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailorlm.report.criteria import criteria_rows
from tailorlm.report.fmt import pct

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report


def _cell(text: str, winner: bool) -> str:
    text = text.replace("|", "\\|").replace("\n", "<br>")
    return f"**★ {text}**" if winner else text


def _table(report: Report) -> list[str]:
    systems = report.comparison.systems
    lines = [
        "| criterion | " + " | ".join(s.label for s in systems) + " |",
        "|---" * (len(systems) + 1) + "|",
    ]
    for row in criteria_rows(report):
        cells = [_cell(row.cells[s.id], s.id in row.winners) for s in systems]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return lines


def _recommendation(report: Report) -> list[str]:
    advice = report.advice
    lines = [f"## {advice.headline}", ""]
    lines += [f"- {r}" for r in advice.reasons]
    if advice.evidence:
        lines += ["", "Evidence:", ""] + [f"- {e}" for e in advice.evidence]
    return lines + [f"\n_{n}_" for n in advice.notes]


def _learning_curve(report: Report) -> list[str]:
    curve = report.comparison.learning_curve
    if report.comparison.learning_curve_error:
        why = report.comparison.learning_curve_error
        return ["## Learning curve", "", f"Not measured: {why} (rerun the comparison to retry)."]
    if not curve:
        return []
    lines = [
        "## Learning curve",
        "",
        "| training examples | quality | 95% CI | dev loss |",
        "|---|---|---|---|",
    ]
    for p in curve:
        score = pct(p.score) if p.score is not None else "—"
        ci = f"{pct(p.ci[0])}–{pct(p.ci[1])}" if p.ci else "—"
        loss = f"{p.dev_loss:.3f}" if p.dev_loss is not None else "—"
        lines.append(f"| {p.n_train} | {score} | {ci} | {loss} |")
    return lines


def _disagreements(report: Report) -> list[str]:
    ids = [s.id for s in report.ok_systems]
    split = [
        it
        for it in report.comparison.items
        if len({it.outputs[i].passed for i in ids if i in it.outputs}) > 1
    ]
    lines = [
        "## Examples the systems disagree on",
        "",
        f"{len(split)} of {len(report.comparison.items)} examples.",
        "",
    ]
    if not split:
        return lines
    lines += ["| id | input | " + " | ".join(ids) + " |", "|---" * (len(ids) + 2) + "|"]
    for it in split:
        marks = [
            "pass" if it.outputs[i].passed else "fail" if i in it.outputs else "—" for i in ids
        ]
        text = str(it.input).replace("|", "\\|").replace("\n", " ")[:120]
        lines.append(f"| {it.id} | {text} | " + " | ".join(marks) + " |")
    return lines


def render_markdown(report: Report) -> str:
    c = report.comparison
    head = [
        f"# {c.task}: prompt engineering vs fine-tuning",
        "",
        f"Model `{c.model}`, {c.n_examples} {c.split} examples, metric `{c.metric}`, preset "
        f"`{c.preset}`, run `{c.run_id}`. Costs in {report.prices.currency}, "
        f"{report.scenario} scenario first (prices: {', '.join(report.prices.sources)}).",
        "",
    ]
    parts = [
        head,
        _table(report),
        [""],
        _recommendation(report),
        [""],
        _learning_curve(report),
        [""],
        _disagreements(report),
    ]
    return "\n".join(line for part in parts for line in part).rstrip() + "\n"
