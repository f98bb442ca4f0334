"""Terminal rendering with rich. Pure presentation: every number comes from a result object."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

console = Console()


@contextmanager
def progress_bar(label: str, unit: str = "rows") -> Iterator[Callable[[float, int], None]]:
    """A live bar with an ETA in a terminal; elsewhere (a pipe, a log file, CI) plain lines
    at most every PLAIN_EVERY_S seconds and at the end, so a log shows the run moving."""
    if not console.is_terminal:
        with plain_progress(label, unit) as advance:
            yield advance
        return
    # Log lines (e.g. the GGUF conversion's) print above the bar: the logging handler writes to
    # the sys.stderr of the moment, which the live display redirects (cli.app._setup).
    with live_progress() as progress:
        task_id = progress.add_task(escape(label), total=None)

        def advance(done: float, total: int) -> None:
            progress.update(task_id, completed=done, total=total)

        yield advance


def live_progress(*, disable: bool = False) -> Any:
    """The one live bar: label, bar, done/total, elapsed, ETA; log lines print above it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(
        *columns, console=console, transient=True, redirect_stderr=True, disable=disable
    )


PLAIN_EVERY_S = 10.0


class PlainProgress:
    """Progress as plain lines: the first call, then at most every PLAIN_EVERY_S seconds, and
    the end (for output that is not a terminal: a pipe, a log file, CI)."""

    def __init__(self, label: str, unit: str = "rows") -> None:
        import time

        self.label, self.unit, self._clock = label, unit, time.monotonic
        self.started = self._clock()
        self._last_at, self._last = self.started - PLAIN_EVERY_S, -1

    def __call__(self, done: float, total: int) -> None:
        now = self._clock()
        finished = total > 0 and done >= total
        if (now - self._last_at < PLAIN_EVERY_S and not finished) or int(done) == self._last:
            return
        self._last_at, self._last = now, int(done)
        elapsed = now - self.started
        eta = f", ~{elapsed * (total - done) / done:.0f} s left" if 0 < done < total else ""
        console.print(
            f"{self.label}: {int(done)}/{total}{f' {self.unit}' * bool(self.unit)} "
            f"({elapsed:.0f} s{eta})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@contextmanager
def plain_progress(label: str, unit: str = "rows") -> Iterator[Callable[[float, int], None]]:
    yield PlainProgress(label, unit)


def print_json(data: Any) -> None:
    """JSON for scripts on stdout: plain (no colour, no wrapping), one document."""
    import sys

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _table(title: str) -> Table:
    # No outer box: at 80 columns every character goes to the values users must type.
    return Table(
        title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True
    )


def _whole(table: Table, header: str, values: Sequence[str]) -> None:
    """A column that is never cut: ids, task, model and run names are what users type."""
    width = max([len(header), *(len(v) for v in values)])
    table.add_column(header, min_width=width, no_wrap=True, overflow="fold")


def tasks_table(tasks: Sequence[Any]) -> None:
    table = _table("Built-in tasks")
    cfgs = [t.config for t in tasks]
    counts = [[str(len(t.split(s))) for s in ("train", "dev", "test")] for t in tasks]
    columns = {
        "name": [c.name for c in cfgs],
        "output": [c.output_type for c in cfgs],
        "metric": [c.metric for c in cfgs],
        **{s: [row[i] for row in counts] for i, s in enumerate(("train", "dev", "test"))},
    }
    for header, values in columns.items():
        _whole(table, header, values)
    # Last, one line, in what is left (none when little is): `tailor tasks --json` has it.
    room = console.width - Measurement.get(console, console.options, table).maximum - 3
    if room >= 12:
        table.add_column("description", no_wrap=True, max_width=room)
    for i, cfg in enumerate(cfgs):
        cut = cfg.description if len(cfg.description) <= room else cfg.description[: room - 1]
        more = "…" if cut != cfg.description else ""
        table.add_row(*[values[i] for values in columns.values()], *([cut + more] * (room >= 12)))
    console.print(table)


def task_json(task: Any) -> dict[str, Any]:
    cfg = task.config
    return {
        "name": cfg.name,
        "ref": task.ref,
        "output_type": cfg.output_type,
        "metric": cfg.metric,
        "counts": {s: len(task.split(s)) for s in ("train", "dev", "test")},
        "description": cfg.description,
    }


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


def eval_outcome(outcome: Any, batch_size: int = 1) -> None:
    """`batch_size` > 1: the rows were generated together, so a row's time is its batch's."""
    s = outcome.summary
    note = " (reused stored run)" if outcome.reused else (" (resumed)" if outcome.resumed else "")
    console.print(f"run [bold]{outcome.run_id}[/bold]{note}")
    console.print(
        f"quality {_pct(s.quality)}  95% CI [{_pct(s.ci_low)}, {_pct(s.ci_high)}]  n={s.n}\n"
        f"tokens/request: prompt {s.prompt_tokens_mean:.0f}, "
        f"completion {s.completion_tokens_mean:.0f}\n"
        f"{_time_words(batch_size, s.latency_p50_s, s.latency_p95_s)}\n"
        f"throughput {s.throughput_tokens_s:.1f} tokens/s; wall {s.wall_s:.1f}s",
        highlight=False,
    )
    if s.failure_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in s.failure_reasons.items())
        console.print(f"failures by reason: {reasons}", highlight=False)
    for line in corpus_lines(s.corpus):
        console.print(line, highlight=False)


def _time_words(batch_size: int, p50: float, p95: float) -> str:
    figures = f"p50 {p50:.2f}s p95 {p95:.2f}s"
    if batch_size <= 1:
        return f"latency/request {figures}"
    # Each row's time is its whole batch's: not what one request would wait (`tailor
    # compare` times requests one at a time).
    return f"time per batch (up to {batch_size} rows, not one request) {figures}"


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


def runs_table(records: Sequence[Any], ids: Sequence[str] | None = None) -> None:
    """`ids`: what the id column shows (short unique prefixes, as git shows commits).

    Aligned plain columns, not a rich table: a table fitted to 80 columns cuts or drops cells,
    and nothing here may be cut (ids, task, model and run names are what users type); a long
    line wraps in the terminal instead, and a pipe gets it whole."""
    ids = list(ids) if ids is not None else [r.id for r in records]
    headers = ("id", "kind", "task", "status", "quality", "n", "model", "name")
    rows = [
        (
            shown,
            r.kind,
            r.task or "",
            r.status,
            _quality(r.summary or {}),
            str((r.summary or {}).get("n", "")),
            r.model or "",
            r.name or "",
        )
        for shown, r in zip(ids, records, strict=True)
    ]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    console.print(line(headers), style="bold", highlight=False, soft_wrap=True)
    for row in rows:
        console.print(line(row), highlight=False, soft_wrap=True, markup=False)
    if records:
        console.print(
            "ids are unique prefixes; `tailor show` takes one, a run's name or its full id",
            style="dim",
            highlight=False,
        )


def _quality(summary: Mapping[str, Any]) -> str:
    q = summary.get("quality")
    return _pct(q) if isinstance(q, int | float) and not isinstance(q, bool) else ""


def run_json(record: Any) -> dict[str, Any]:
    """`tailor show --json`: the index row, the config, and an eval run's first examples."""
    data = {**record.to_dict(), "config": record.load_config() if record.dir.is_dir() else None}
    if record.is_complete and record.kind == "eval":
        data["examples"] = record.read_jsonl("examples.jsonl")[:5]
    return data


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
