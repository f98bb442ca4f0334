"""`tailor compare` and `tailor demo`: thin wrappers over `tailorlm.compare.run_compare`, then the
report (terminal table, HTML, Markdown, JSON) rendered from the stored `comparison.json`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from tailorlm.cli.options import ApiKeyOpt, ModelOpt, TargetOpt, TaskArg
from tailorlm.compare.registry import status_words

log = logging.getLogger("tailorlm")
DEMO_TASK = "sql-sales"

PresetOpt = Annotated[
    str,
    typer.Option("--preset", "-p", help="quick (minutes on a laptop CPU), standard or thorough."),
]
BudgetOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Optimizer budget in model calls on dev (both optimized systems)."),
]
LimitOpt = Annotated[
    int | None, typer.Option(min=1, help="Test examples (the first N of the shuffled test split).")
]
SystemsOpt = Annotated[
    str | None,
    typer.Option(
        help="Systems to run: comma-separated ids (the systems they build on are added) or "
        "'all'; default: the preset's. Ids: zero-shot, best-prompt, optimized-prompt, "
        "finetuned, finetuned-optimized, prompted-finetune, prompted-finetune-optimized.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(help="Folder for report.html/.md/.json (default: the compare run's folder)."),
]


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
    app.command("demo")(demo_cmd)


def compare_cmd(
    task: TaskArg,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    preset: PresetOpt = "quick",
    budget: BudgetOpt = None,
    limit: LimitOpt = None,
    systems: SystemsOpt = None,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="A strong model (a spec, e.g. openai:gpt-4o or a `tailor serve` model at "
            "openai:ft:RUN@URL) measured as a prompted system, and a student fine-tuned on "
            "its labels of the train inputs (the `distilled` system).",
        ),
    ] = None,
    teacher_prompt: Annotated[
        Path | None,
        typer.Option(help="The teacher's prompt program (default: the bare question)."),
    ] = None,
    reuse: Annotated[
        bool, typer.Option(help="Reuse an identical stored comparison (steps are reused anyway).")
    ] = True,
    out: OutOpt = None,
    target: TargetOpt = None,
    until_decided: Annotated[
        bool,
        typer.Option(
            "--until-decided",
            help="Add test rows chunk by chunk until the best prompt and the best fine-tuned "
            "system differ significantly or are within --margin (a sequential test).",
        ),
    ] = False,
    margin: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="With --until-decided: a difference too small to matter."
        ),
    ] = 0.05,
) -> None:
    """Measure prompt engineering, fine-tuning and their combinations side by side on TASK's
    frozen test split (the systems: see --systems), then the report and the verdict."""
    _compare(
        task,
        model=model,
        api_key=api_key,
        preset=preset,
        budget=budget,
        limit=limit,
        systems=systems,
        teacher=teacher,
        teacher_prompt=teacher_prompt,
        reuse=reuse,
        out=out,
        target=target,
        until_decided=until_decided,
        margin=margin,
    )


def demo_cmd(
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    limit: LimitOpt = None,
    out: OutOpt = None,
) -> None:
    """`tailor compare sql-sales --preset quick` with the default model: the quick preset's
    systems on the built-in text-to-SQL task, then where the HTML report is."""
    _compare(
        DEMO_TASK,
        model=model,
        api_key=api_key,
        preset="quick",
        budget=None,
        limit=limit,
        reuse=True,
        out=out,
    )


def _compare(
    task: str,
    *,
    out: Path | None,
    api_key: str | None,
    target: float | None = None,
    until_decided: bool = False,
    margin: float = 0.05,
    **kwargs: Any,
) -> None:
    from tailorlm.backends import as_backend
    from tailorlm.cli.render import console
    from tailorlm.compare import run_compare

    kwargs["model"] = as_backend(kwargs["model"], api_key=api_key)  # the key stays out of configs

    with _progress() as progress:
        if until_decided:
            from tailorlm.compare.sequential import run_until_decided

            kwargs.pop("reuse", None)
            outcome = run_until_decided(task, progress=progress, margin=margin, **kwargs)
        else:
            outcome = run_compare(task, progress=progress, **kwargs)
    for line in _sequential_lines(outcome.comparison):
        console.print(line, highlight=False, soft_wrap=True)
    wall = outcome.comparison.get("wall_s") or 0.0
    note = " (reused stored comparison)" if outcome.reused else f" in {wall:.0f} s"
    console.print(f"run [bold]{outcome.run_id}[/bold]{note}", highlight=False)
    # The bar as the task states it now (a reused comparison may have stored an older one).
    bar = target if target is not None else outcome.comparison.get("target")
    html = show_report(outcome.comparison, out or outcome.run_dir, bar)
    if html is not None:
        console.print(f"HTML report: {html}", highlight=False, soft_wrap=True)
    console.print(
        f"re-render without running a model: tailor report {outcome.run_id}",
        highlight=False,
        soft_wrap=True,
    )


def _sequential_lines(comparison: dict[str, Any]) -> list[str]:
    seq = comparison.get("sequential")
    if not seq:
        return []
    lines = [f"until decided ({seq['method']}):"]
    for lk in seq["looks"]:
        low, high = lk["ci"]
        lines.append(
            f"  {lk['n']} rows: {lk['a']} - {lk['b']} {100 * lk['diff']:+.1f} points "
            f"[{100 * low:+.1f}, {100 * high:+.1f}], alpha this look {lk['alpha_k']:.4f}: "
            f"{lk['decision']}"
        )
    return [*lines, seq["decision"]]


def show_report(
    comparison: dict[str, Any], out_dir: Path, target: float | None = None
) -> Path | None:
    """The report layer's table and files; a plain table if it is missing or fails (the
    comparison is stored either way and `tailor report RUN` can render it later)."""
    from tailorlm.cli.render import console

    try:
        from tailorlm.report import build_report, write_reports
    except ImportError:
        fallback_table(comparison)
        return None
    try:
        report = build_report(comparison, target=target)
        paths = write_reports(report, out_dir)
        console.print(report.terminal())
    except Exception as exc:  # noqa: BLE001 - the measurements are stored; show them anyway
        log.warning("report not rendered (%s); a plain table instead", exc)
        fallback_table(comparison)
        return None
    return paths.get("html")


def fallback_table(comparison: dict[str, Any]) -> None:
    """One column per system, measured values only; tolerant of missing keys and nulls."""
    from rich.table import Table

    from tailorlm.cli.render import console

    systems = comparison.get("systems") or []
    table = Table(title=f"{comparison.get('task', '?')}: n={comparison.get('n_examples', '?')}")
    table.add_column("measure")
    for s in systems:
        table.add_column(str(s.get("id", "?")), justify="right")
    for label, cell in _ROWS:
        table.add_row(label, *(_safe(cell, s) for s in systems))
    console.print(table)


def _safe(cell: Callable[[dict[str, Any]], str], system: dict[str, Any]) -> str:
    if system.get("status", "ok") != "ok":
        return status_words(system.get("status"))
    try:
        return cell(system)
    except (KeyError, TypeError, ValueError):
        return "-"


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%"


def _num(x: Any, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


_ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("quality", lambda s: _pct(s["quality"]["score"])),
    ("95% CI", lambda s: "-".join(_pct(v) for v in s["quality"]["ci"])),
    ("setup (s)", lambda s: _num(s["setup"]["wall_s"])),
    ("prompt tokens/request", lambda s: _num(s["per_request"]["prompt_tokens"])),
    ("completion tokens/request", lambda s: _num(s["per_request"]["completion_tokens"])),
    # p50 where several requests were timed; the one request's time where one was (quick).
    ("latency/request (s)", lambda s: _num(s["per_request"]["latency_p50_s"], "{:.2f}")),
    ("adapter (bytes)", lambda s: _num(s["artifacts"]["adapter_bytes"])),
]


@contextmanager
def _progress() -> Iterator[Callable[[dict[str, Any]], None]]:
    """One bar for the step in progress (elapsed, ETA), one line per finished system; where
    output is not a terminal, plain progress lines instead of the bar."""
    from rich.markup import escape

    from tailorlm.cli.render import PlainProgress, console, live_progress

    plain: dict[str, PlainProgress] = {}
    live = console.is_terminal
    with live_progress(disable=not live) as bar:
        task_id = bar.add_task("compare", total=None)

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            if kind == "step":
                label = f"{event['system']}: {event['stage']}"
                if not live:
                    if label not in plain:  # one per stage: its own clock and last line
                        plain[label] = PlainProgress(label, "")
                    plain[label](event["done"], event["total"])
                    return
                bar.update(
                    task_id,
                    description=escape(label),
                    completed=event["done"],
                    total=event["total"],
                )
            elif kind == "system-start":
                bar.update(task_id, description=f"{event['system']}", completed=0, total=None)
            elif kind == "system":
                took = f" ({event['wall_s']:.0f} s)" if "wall_s" in event else ""
                console.print(system_line(event["entry"]) + took, highlight=False)

        yield on_event


def system_line(entry: dict[str, Any]) -> str:
    status = entry.get("status")
    if status != "ok":
        return f"- {entry['id']}: {status_words(status)}: {entry.get('reason')}"
    q = entry["quality"]
    reused = " (reused)" if entry.get("reused") else ""
    ci = f"[{_pct(q['ci'][0])}, {_pct(q['ci'][1])}]"
    return f"+ {entry['id']}: {_pct(q['score'])} {ci} on {q['n']} examples{reused}"
