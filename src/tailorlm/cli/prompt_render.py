"""Terminal rendering for `tailor prompt ...`. Pure presentation: every number comes from a result
object or a stored run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from tailorlm.cli.render import console

_TRUNCATE = 110


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _short(text: str, width: int = _TRUNCATE) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def strategies(items: Sequence[Mapping[str, Any]]) -> None:
    table = Table(title="Prompt strategies (combine with +, options after ':')")
    for col in ("name", "what it adds", "options"):
        table.add_column(col)
    for item in items:
        options = ", ".join(f"{k}={v}" for k, v in item["options"].items())
        table.add_row(item["name"], item["doc"], options)
    console.print(table)


def optimize_outcome(outcome: Any, saved_to: Path | None) -> None:
    from tailorlm.store import RunStore

    record = RunStore().get(outcome.run_id)
    trials = record.read_jsonl("trials.jsonl")
    _trials_table(trials)
    s = outcome.summary
    note = " (reused stored search)" if outcome.reused else ""
    console.print(f"run [bold]{outcome.run_id}[/bold]{note}", highlight=False)
    console.print(
        f"winner {s['strategy']}: dev {_pct(s['quality'])} on {s['n']} examples; "
        f"{s['overhead_tokens']:.0f} tokens added per request; "
        f"{s['calls']}/{s['budget']} model calls, {s['candidates']} candidates",
        highlight=False,
    )
    _against_strategies(trials, s["winner_index"])
    console.print(
        f"program: {outcome.program_path}" + (f" (saved to {saved_to})" if saved_to else "")
    )
    if outcome.test is not None:
        t = outcome.test.summary
        console.print(
            f"test (once, winner only): {_pct(t.quality)}  95% CI [{_pct(t.ci_low)}, "
            f"{_pct(t.ci_high)}]  n={t.n}  run {outcome.test.run_id}",
            highlight=False,
        )


def _trials_table(trials: Sequence[Mapping[str, Any]]) -> None:
    table = Table(title="Trials (dev; rung = how far it got)")
    for col in ("#", "candidate", "origin", "rung", "n", "quality", "well-formed", "+tokens"):
        table.add_column(col, justify="right" if col not in ("candidate", "origin") else "left")
    for t in trials:
        table.add_row(
            str(t["index"]),
            _short(t["name"], 60),
            t["origin"],
            str(t["rung"]),
            str(t["n"]),
            _pct(t["quality"]),
            _pct(t["well_formed"]),
            f"{t['overhead_tokens_mean']:.0f}",
        )
    console.print(table)


def _against_strategies(trials: Sequence[Mapping[str, Any]], winner_index: int) -> None:
    """The winner vs each built-in strategy on the examples that strategy was scored on."""
    winner = trials[winner_index]
    scores = {o["id"]: o["score"] for o in winner["outcomes"]}
    for t in trials:
        if t["origin"] not in ("student", "strategy") or t is winner:
            continue
        ids = [o["id"] for o in t["outcomes"]]
        mine = sum(scores[i] for i in ids) / len(ids)
        console.print(
            f"  vs {t['name']}: {_pct(mine)} vs {_pct(t['quality'])} on the same {len(ids)}",
            highlight=False,
        )


def try_outcome(
    outcome: Any, rows: Sequence[Mapping[str, Any]], path: Path, overhead: float
) -> None:
    for row in rows:
        ok = row["score"] >= 1
        mark = "[green]PASS[/green]" if ok else f"[red]FAIL[/red] {_short(row['reason'], 60)}"
        question = _short(" | ".join(str(v) for v in row["inputs"].values()))
        console.print(f"{row['id']} {mark}\n  Q:    {question}", highlight=False)
        console.print(
            f"  gold: {_short(row['gold'])}\n  got:  {_short(row['prediction'])}", highlight=False
        )
        if row["output"].strip() != row["prediction"].strip():
            console.print(f"  raw:  {_short(row['output'])}", highlight=False)
    s = outcome.summary
    reused = " (reused stored run)" if outcome.reused else ""
    console.print(
        f"\n{sum(r['score'] >= 1 for r in rows)}/{len(rows)} passed: {_pct(s.quality)} "
        f"95% CI [{_pct(s.ci_low)}, {_pct(s.ci_high)}]; prompt tokens/request "
        f"{s.prompt_tokens_mean:.0f} ({overhead:.0f} added by the program)\n"
        f"program {path}; run {outcome.run_id}{reused}",
        highlight=False,
    )


def history(task: str, records: Sequence[Any], tested: Mapping[str, Mapping[str, Any]]) -> None:
    table = Table(title=f"{task}: prompt attempts, newest first")
    for col in ("run", "kind", "program", "split", "n", "quality [95% CI]", "test"):
        table.add_column(col, overflow="fold", no_wrap=col in ("kind", "split", "n"))
    for r in records:
        s = r.summary or {}
        test = tested.get(r.id)
        table.add_row(
            r.id,
            r.kind,
            str(s.get("strategy", r.name or "")),
            str(s.get("split", "")),
            str(s.get("n", "")),
            _quality(s) or r.status,
            _pct(test["quality"]) if test else "",
        )
    console.print(table)


def _quality(summary: Mapping[str, Any]) -> str:
    if "quality" not in summary:
        return ""
    ci = summary.get("ci")
    return _pct(summary["quality"]) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "")


def program_view(program: Any, messages: Sequence[Mapping[str, str]]) -> None:
    console.print(program.to_yaml(), highlight=False, markup=False)
    console.rule("rendered for one dev example")
    for m in messages:
        console.print(f"[bold]{m['role']}[/bold]")
        console.print(m["content"], highlight=False, markup=False)
