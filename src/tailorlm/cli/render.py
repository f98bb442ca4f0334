"""Terminal rendering with rich. Pure presentation: every number comes from a result object."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task_id = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task_id, completed=done, total=total)

        yield advance


def tasks_table(tasks: Sequence[Any]) -> None:
    table = Table(title="Built-in tasks")
    for col in ("name", "output", "metric", "train", "dev", "test", "description"):
        table.add_column(col)
    for task in tasks:
        counts = [str(len(task.split(s))) for s in ("train", "dev", "test")]
        cfg = task.config
        table.add_row(cfg.name, cfg.output_type, cfg.metric, *counts, cfg.description[:70])
    console.print(table)


def validation_report(report: Any) -> None:
    for err in report.errors:
        console.print(f"[red]error[/red] {err}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
    status = "[red]invalid[/red]" if report.errors else "[green]valid[/green]"
    console.print(
        f"{status} ({counts}); {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )


def stats(data: dict[str, Any]) -> None:
    console.print_json(json.dumps(data, default=str))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def eval_outcome(outcome: Any) -> None:
    s = outcome.summary
    note = " (reused stored run)" if outcome.reused else (" (resumed)" if outcome.resumed else "")
    console.print(f"run [bold]{outcome.run_id}[/bold]{note}")
    console.print(
        f"quality {_pct(s.quality)}  95% CI [{_pct(s.ci_low)}, {_pct(s.ci_high)}]  n={s.n}\n"
        f"tokens/request: prompt {s.prompt_tokens_mean:.0f}, "
        f"completion {s.completion_tokens_mean:.0f}\n"
        f"latency/request p50 {s.latency_p50_s:.2f}s p95 {s.latency_p95_s:.2f}s; "
        f"throughput {s.throughput_tokens_s:.1f} tokens/s; wall {s.wall_s:.1f}s",
        highlight=False,
    )
    if s.failure_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in s.failure_reasons.items())
        console.print(f"failures by reason: {reasons}", highlight=False)
    for line in corpus_lines(s.corpus):
        console.print(line, highlight=False)


def corpus_lines(corpus: Mapping[str, Any]) -> list[str]:
    """Run-level figures (macro-F1, per-field accuracy, score parts) as text lines."""
    lines = []
    if "macro_f1" in corpus:
        lines.append(f"macro-F1 {_pct(corpus['macro_f1'])}")
    for name, fig in corpus.get("fields", {}).items():
        f1 = f", macro-F1 {_pct(fig['macro_f1'])}" if "macro_f1" in fig else ""
        lines.append(f"{name}: accuracy {_pct(fig['accuracy'])}{f1}")
    if corpus.get("parts"):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in corpus["parts"].items())
        lines.append(f"score parts: {parts}")
    return lines


def runs_table(records: Sequence[Any]) -> None:
    table = Table(title="Runs")
    for col in ("id", "kind", "task", "model", "status", "quality", "n", "created"):
        table.add_column(col)
    for r in records:
        summary = r.summary or {}
        quality = _pct(summary["quality"]) if "quality" in summary else ""
        table.add_row(
            r.id,
            r.kind,
            r.task or "",
            r.model or "",
            r.status,
            quality,
            str(summary.get("n", "")),
            r.created_at,
        )
    console.print(table)


def run_detail(record: Any) -> None:
    console.print(f"[bold]{record.id}[/bold] {record.kind} {record.status}")
    console.print_json(json.dumps({"summary": record.summary, "config": record.load_config()}))
    if record.is_complete and record.kind == "eval":
        for row in record.read_jsonl("examples.jsonl")[:5]:
            mark = (
                "[green]pass[/green]" if row["score"] >= 1 else f"[red]fail[/red] {row['reason']}"
            )
            console.print(
                f"- {row['inputs']}\n  gold: {row['gold']}\n  pred: {row['prediction']}  {mark}",
                highlight=False,
            )
