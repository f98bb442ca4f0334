"""A comparison as a notebook shows it (`CompareOutcome._repr_html_`, `.to_pandas()`): one row
per system with what `comparison.json` measured. Costs and the recommendation are the report's
(L5, above this layer): `tailorlm.report.build_report(outcome.comparison)` shows them, and its
`to_pandas()` extends these rows with the cost column."""

from __future__ import annotations

from typing import Any

from tailorlm import display

COLUMNS = (
    "id",
    "label",
    "approach",
    "status",
    "quality",
    "ci_low",
    "ci_high",
    "n",
    "latency_p50_s",
    "latency_n",
    "reason",
)
REPORT_HINT = (
    "Costs and the recommendation: tailorlm.report.build_report(outcome.comparison), "
    "or load_report(run_id)."
)


def system_row(system: dict[str, Any]) -> dict[str, Any]:
    """One system of `comparison.json` as a flat row (None where nothing was measured)."""
    quality = system.get("quality") or {}
    ci = quality.get("ci") or (None, None)
    return {
        "id": system["id"],
        "label": system.get("label"),
        "approach": system.get("approach"),
        "status": system.get("status"),
        "quality": quality.get("score"),
        "ci_low": ci[0],
        "ci_high": ci[1],
        "n": quality.get("n"),
        "latency_p50_s": (system.get("per_request") or {}).get("latency_p50_s"),
        "latency_n": (system.get("per_request") or {}).get("latency_n"),
        "reason": system.get("reason"),
    }


def system_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    return [system_row(s) for s in comparison.get("systems", [])]


def systems_frame(comparison: dict[str, Any]) -> Any:
    return display.data_frame(system_rows(comparison), COLUMNS)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _quality(row: dict[str, Any]) -> str:
    if row["quality"] is None:
        return row["reason"] or ""
    ci = f" [{_pct(row['ci_low'])}–{_pct(row['ci_high'])}]" if row["ci_low"] is not None else ""
    return _pct(row["quality"]) + ci


def _latency(row: dict[str, Any]) -> str:
    """One timed request is one measurement, not a p50 (as report/fmt.py's `latency`)."""
    if row["latency_p50_s"] is None:
        return ""
    if row["latency_n"] == 1:
        return f"{row['latency_p50_s']:.2f} s (1 request)"
    timed = f" ({row['latency_n']} requests)" if row["latency_n"] else ""
    return f"p50 {row['latency_p50_s']:.2f} s{timed}"


def caption(comparison: dict[str, Any]) -> str:
    n = comparison.get("n_examples")
    examples = f"{n} {comparison.get('split', 'test')} examples" if n else ""
    parts = [comparison.get("model") or "model ?", examples, f"run {comparison.get('run_id')}"]
    return f"{comparison.get('task')}: " + " · ".join(p for p in parts if p)


def comparison_html(comparison: dict[str, Any]) -> display.Html:
    headers = ("system", "approach", "status", "quality (95% CI)", "n", "latency per request")
    cells = [
        (r["label"], r["approach"], r["status"], _quality(r), r["n"], _latency(r))
        for r in system_rows(comparison)
    ]
    return display.fragment(
        display.table(headers, cells, caption=caption(comparison)),
        display.paragraph(REPORT_HINT),
    )
