"""One result row per measured figure, shared by the benchmark scripts and run_all.py.

A row is a baseline measured in the same run and our figure, with their ratio oriented so that
above 1 means ours is better, and the issue's target for that ratio where there is one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def row(
    metric: str,
    baseline: str,
    baseline_value: float,
    ours_value: float,
    unit: str,
    *,
    higher_is_better: bool = True,
    target: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    if higher_is_better:
        ratio = ours_value / baseline_value if baseline_value else float("inf")
    else:
        ratio = baseline_value / ours_value if ours_value else float("inf")
    return {
        "metric": metric,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ours_value": ours_value,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": None if target is None else ratio >= target,
        "note": note,
    }


def emit(rows: list[dict[str, Any]], path: str | None) -> None:
    """Print the rows; with `--json PATH`, also write them for run_all.py."""
    for r in rows:
        goal = (
            f" (target {r['target']:g}x: {'met' if r['met'] else 'NOT met'})" if r["target"] else ""
        )
        print(
            f"{r['metric']}: ours {r['ours_value']:.3g} vs {r['baseline']} "
            f"{r['baseline_value']:.3g} {r['unit']} = {r['ratio']:.2f}x{goal}"
            + (f"; {r['note']}" if r["note"] else "")
        )
    if path:
        Path(path).write_text(json.dumps(rows, indent=1), encoding="utf-8")
