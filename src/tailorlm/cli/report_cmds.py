"""`tailor report` (re-render a stored comparison) and `tailor advise` (prompt, fine-tune or both).
`register(app)` adds them to a typer app. Neither calls a model."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from tailorlm.cli.options import TargetOpt
from tailorlm.errors import ConfigError

T = TypeVar("T")
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices", help="A price file (YAML); default: $TAILOR_HOME/prices.yaml over built-ins."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("advise")(advise_cmd)


def report_cmd(
    run: Annotated[str, typer.Argument(help="A compare run id (or unique prefix).")],
    html: Annotated[bool, typer.Option("--html", help="Write report.html.")] = False,
    md: Annotated[bool, typer.Option("--md", help="Write report.md.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Write report.json.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the files (default: the run's folder).")
    ] = None,
    prices: PricesOpt = None,
    target: TargetOpt = None,
) -> None:
    """Re-render a stored comparison (table, recommendation, HTML/Markdown/JSON) from the store.

    Without --html/--md/--json all three files are written.
    """
    from tailorlm.cli.render import console
    from tailorlm.costs import PriceTable
    from tailorlm.report import FORMATS, load_report, write_reports
    from tailorlm.store import RunStore

    store = RunStore()
    report = load_report(run, prices=PriceTable.load(prices), store=store, target=target)
    console.print(report.terminal())
    chosen = [f for f, on in zip(FORMATS, (html, md, json_)) if on] or list(FORMATS)
    folder = out or store.get(run).dir
    for fmt, path in write_reports(report, folder, chosen).items():
        console.print(f"{fmt}: {path}", highlight=False)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("y", "yes", "true", "1"):
        return True
    if text.lower() in ("n", "no", "false", "0"):
        return False
    raise ValueError("answer y or n")


def _parse_change(text: str) -> str:
    from tailorlm.advisor import CHANGES

    if text.lower() not in CHANGES:
        raise ValueError("answer one of " + ", ".join(CHANGES))
    return text.lower()


def _nonneg(cast: Callable[[str], T]) -> Callable[[str], T]:
    def parse(text: str) -> T:
        value = cast(text.replace(",", "").replace("_", ""))
        if value < 0:  # type: ignore[operator]
            raise ValueError("must be 0 or more")
        return value

    return parse


QUESTIONS: list[tuple[str, str, Callable[[str], Any]]] = [
    (
        "weights_access",
        "Can you access and retrain the model's weights? (y = yes, n = API only)",
        _parse_bool,
    ),
    (
        "n_labelled",
        "How many labelled examples (input -> correct output) do you have?",
        _nonneg(int),
    ),
    ("requests_per_day", "How many requests per day do you expect?", _nonneg(float)),
    ("max_latency_s", "Latency limit per request in seconds (p95)?", _nonneg(float)),
    (
        "budget_per_1000",
        "Budget per 1,000 requests (in the price file's currency)?",
        _nonneg(float),
    ),
    (
        "change_frequency",
        "How often do the task's requirements change? (never/rarely/monthly/weekly/daily)",
        _parse_change,
    ),
    ("standardized_output", "Must the output be consistent and standardized? (y/n)", _parse_bool),
]


def _ask(question: str, parse: Callable[[str], Any]) -> Any:
    while True:
        text = typer.prompt(f"{question} [blank: don't know]", default="", show_default=False)
        if not text.strip():
            return None
        try:
            return parse(text.strip())
        except ValueError as e:
            typer.echo(f"  {e}; try again or leave blank", err=True)


def _fill(given: dict[str, Any], interactive: bool) -> dict[str, Any]:
    answers = dict(given)
    if interactive:
        for name, question, parse in QUESTIONS:
            if answers.get(name) is None:
                answers[name] = _ask(question, parse)
    return answers


def _print_advice(advice: Any) -> None:
    from tailorlm.cli.render import console

    console.print(f"[bold green]{advice.headline}[/bold green]")
    for reason in advice.reasons:
        console.print(f"  • {reason}", highlight=False)
    if advice.evidence:
        console.print("[bold]Evidence used[/bold]")
        for line in advice.evidence:
            console.print(f"  {line}", highlight=False)
    for note in advice.notes:
        console.print(f"[italic]{note}[/italic]", highlight=False)


def advise_cmd(
    task: Annotated[
        str | None, typer.Option(help="Base the answer on this task's latest comparison.")
    ] = None,
    run: Annotated[str | None, typer.Option(help="Base the answer on this compare run.")] = None,
    weights: Annotated[
        bool | None,
        typer.Option(
            "--weights/--api-only", help="Can you retrain the weights, or only call an API?"
        ),
    ] = None,
    examples: Annotated[int | None, typer.Option(min=0, help="Labelled examples you have.")] = None,
    requests_per_day: Annotated[
        float | None, typer.Option(min=0, help="Expected requests per day.")
    ] = None,
    max_latency: Annotated[
        float | None, typer.Option(min=0, help="Latency limit per request (p95), seconds.")
    ] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="Budget per 1,000 requests.")] = None,
    changes: Annotated[
        str | None,
        typer.Option(help="How often requirements change: never, rarely, monthly, weekly, daily."),
    ] = None,
    standardized: Annotated[
        bool | None,
        typer.Option("--standardized/--free-form", help="Must the output be standardized?"),
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(help="Ask for what the flags leave out (default: when run in a terminal)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
    prices: PricesOpt = None,
    target: TargetOpt = None,
) -> None:
    """Prompt engineering, fine-tuning or both? Rules of thumb, overruled by your measurements."""
    from tailorlm.advisor import Situation, advise
    from tailorlm.costs import PriceTable
    from tailorlm.report import evidence_for
    from tailorlm.report.io import stored_target

    if target is None and (task or run):
        target = stored_target(task=task, run=run)  # the task's own `target:`
    if changes is not None:
        try:
            changes = _parse_change(changes)
        except ValueError as e:
            raise ConfigError(f"--changes '{changes}': {e}") from e
    given = {
        "weights_access": weights,
        "n_labelled": examples,
        "requests_per_day": requests_per_day,
        "max_latency_s": max_latency,
        "budget_per_1000": budget,
        "change_frequency": changes,
        "standardized_output": standardized,
        "target": target,
    }
    ask = sys.stdin.isatty() if interactive is None else interactive
    situation = Situation(**_fill(given, ask))
    evidence = evidence_for(task=task, run=run, prices=PriceTable.load(prices))
    if task and evidence is None:
        typer.echo(f"No comparison run for task '{task}' yet; answering from rules of thumb.")
    advice = advise(situation, evidence)
    if json_out:
        typer.echo(
            json.dumps({"headline": advice.headline, **dataclasses.asdict(advice)}, indent=2)
        )
    else:
        _print_advice(advice)
