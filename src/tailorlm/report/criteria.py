"""The criteria table: one row per criterion, one cell per system, winners marked.

Rows that can be measured are filled from the comparison and the cost model; the qualitative
rows (access, effort, personalization, use case, reuse) are the system's registered texts,
stored with the comparison. A system that did not run shows its reason in the quality row and
a dash elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tailorlm.compare.registry import status_words
from tailorlm.costs import SELF_HOSTED
from tailorlm.report.evidence import paired_test
from tailorlm.report.fmt import count, duration, latency, money, pct, size
from tailorlm.report.schema import System

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report

DASH = "—"


@dataclass(frozen=True)
class Criterion:
    name: str
    cells: dict[str, str]  # system id -> text (may hold a second line after "\n")
    winners: frozenset[str] = frozenset()
    measured: bool = True


def _lowest(values: dict[str, float | None]) -> frozenset[str]:
    known = {k: v for k, v in values.items() if v is not None}
    if len(known) < 2:
        return frozenset()
    best = min(known.values())
    return frozenset(k for k, v in known.items() if v == best)


def _highest(values: dict[str, float | None]) -> frozenset[str]:
    return _lowest({k: -v if v is not None else None for k, v in values.items()})


def _sig(report: Report, s: System, other: str) -> str:
    test = paired_test(report.comparison, s.id, other)
    ref = report.comparison.system(other)
    if test is None or ref is None:
        return ""
    p = f", p={test.p_value:.2g}" if test.p_value is not None else ""
    mark = " ✓" if test.p_value is not None and test.p_value < 0.05 else " (n.s.)"
    return f"{100 * test.diff:+.1f} pts vs {ref.label}{p}{mark}"


def _quality(report: Report, s: System) -> str:
    q = s.quality
    assert q.score is not None
    text = pct(q.score) + (f" [{pct(q.ci[0])}–{pct(q.ci[1])}]" if q.ci else "")
    text += f" · {q.passed}/{q.n}" if q.passed is not None and q.n else ""
    others = [report.comparison.baseline]
    if s.approach != "prompt" and report.prompt_ref:
        others.append(report.prompt_ref)
    sig = [t for o in others if o != s.id and (t := _sig(report, s, o))]
    return "\n".join([text, *sig])


def _effort(s: System) -> str:
    calls, tokens = count(s.setup.model_calls or 0), count(s.setup.train_tokens or 0)
    return s.shown_texts.effort.format(calls=calls, tokens=tokens)


def _compute(report: Report, s: System) -> str:
    st = s.setup
    if not st.wall_s:
        return "none"
    parts = [f"{duration(st.wall_s)} of {st.device or report.comparison.device or '?'}"]
    if st.model_calls:
        parts.append(f"{count(st.model_calls)} model calls")
    if st.train_tokens:
        parts.append(f"{count(st.train_tokens)} training tokens")
    if st.flops:
        parts.append(f"{st.flops:.2g} FLOPs")
    cost = report.cost(s.id)
    setup = money(cost.setup, report.prices.currency) if cost else None
    return " · ".join(parts) + (f"\n≈ {setup} ({report.scenario})" if setup else "")


def _implement(s: System) -> str:
    wall = s.setup.wall_s
    if wall is None:
        return DASH
    extra = " (incl. training)" if s.approach == "both" else ""
    return (duration(wall) if wall else "immediate") + extra


def _tokens(s: System) -> str:
    p = s.per_request
    if p.prompt_tokens is None or p.completion_tokens is None:
        return DASH
    return f"{count(p.prompt_tokens)} in + {count(p.completion_tokens)} out"


def _latency(s: System) -> str:
    p = s.per_request
    if p.latency_p50_s is None:
        return DASH
    rps = f"\n{p.throughput_rps:.2f} req/s batched" if p.throughput_rps else ""
    return latency(p.latency_p50_s, p.latency_p95_s, p.latency_n) + rps


def _cost_1000(report: Report, s: System) -> str:
    lines = []
    by_scenario = report.costs[s.id]
    order = [report.scenario, *(sc for sc in by_scenario if sc != report.scenario)]
    for scenario in order:
        cost = by_scenario[scenario]
        if scenario == SELF_HOSTED and report.comparison.api_model:
            continue  # served by an API: no machine of the user's to price
        label = report.prices.api_model if scenario == "api" else scenario
        if scenario == "api-cached":
            label = f"{report.prices.api_model}, cached prefix"
        value = money(cost.per_1000, report.prices.currency) if cost.per_1000 is not None else DASH
        lines.append(f"{value} {label}")
    return "\n".join(lines)


def _break_even(report: Report, s: System) -> str:
    if s.id == report.prompt_ref:
        return "reference (best prompt)"
    table = report.break_evens.get(s.id)
    if not table:
        return DASH
    lines = []
    for scenario, be in table.items():
        value = f"{count(be.volume)} requests" if be.volume is not None else "never"
        lines.append(f"{value} ({scenario})")
    return "\n".join(lines)


def _maintenance(s: System) -> str:
    a, c = s.artifacts, s.change
    parts = []
    if a.prompt_bytes is not None:
        tokens = f", {count(a.prompt_tokens)} tokens" if a.prompt_tokens is not None else ""
        parts.append(f"prompt {size(a.prompt_bytes)}{tokens}")
    if a.adapter_bytes:
        parts.append(f"adapter {size(a.adapter_bytes)}")
    change = f"change: {c.action}" if c.action else ""
    if c.action and c.wall_s is not None:
        change += f" ({duration(c.wall_s) if c.wall_s else 'minutes of your time'})"
    return " + ".join(parts) + (f"\n{change}" if change else "")


def _reuse(s: System) -> str:
    shared, total = s.artifacts.prompt_tokens, s.per_request.prompt_tokens
    if shared is None:
        return DASH
    # The program's own count can exceed the measured mean by template tokens: cap the share.
    share = f" ({pct(min(shared / total, 1.0))} of input)" if total else ""
    return (
        f"re-sends {count(shared)} prompt tokens per request{share}; reuses {s.shown_texts.keeps}"
    )


def _row(
    report: Report,
    name: str,
    fmt: Callable[[System], str],
    key: Callable[[System], float | None] | None = None,
    pick: Callable[[dict[str, float | None]], frozenset[str]] = _lowest,
    missing: Callable[[System], str] = lambda s: DASH,
) -> Criterion:
    ok = report.ok_systems
    cells = {s.id: fmt(s) if s.ok else missing(s) for s in report.comparison.systems}
    winners = pick({s.id: key(s) for s in ok}) if key else frozenset()
    return Criterion(name, cells, winners, measured=key is not None)


def _why_missing(s: System) -> str:
    word = status_words(s.status)
    return f"{word}: {s.reason or 'no result'}"


def _quality_row(report: Report) -> Criterion:
    return _row(
        report,
        "Quality (95% CI, significance)",
        lambda s: _quality(report, s),
        lambda s: s.quality.score,
        _highest,
        _why_missing,
    )


def _setup_cost_key(report: Report) -> Callable[[System], float | None]:
    def key(s: System) -> float | None:
        cost = report.cost(s.id)
        return cost.setup if cost else None

    return key


def _cost_key(report: Report) -> Callable[[System], float | None]:
    def key(s: System) -> float | None:
        cost = report.cost(s.id)
        return cost.per_request if cost else None

    return key


def criteria_rows(report: Report) -> list[Criterion]:
    r = report
    rows = [
        _quality_row(r),
        _row(r, "Model access needed", lambda s: s.shown_texts.access),
        _row(r, "Technical effort", _effort),
        _row(r, "Setup time & compute", lambda s: _compute(r, s), _setup_cost_key(r)),
        _row(r, "Time to implement", _implement, lambda s: s.setup.wall_s),
        _row(r, "Tokens per request", _tokens, _total_tokens),
        _row(r, "Latency per request", _latency, lambda s: s.per_request.latency_p50_s),
        _row(r, "Cost per 1,000 requests", lambda s: _cost_1000(r, s), _cost_key(r)),
        _row(r, "Break-even volume", lambda s: _break_even(r, s)),
        _row(r, "Personalization", lambda s: s.shown_texts.personalization),
        _row(r, "Fitting use case", lambda s: s.shown_texts.use_case),
        _row(r, "Maintenance: artifacts & change cost", _maintenance, lambda s: s.change.wall_s),
        _row(r, "Reuse for repetitive work", _reuse, lambda s: s.artifacts.prompt_tokens),
    ]
    return rows


def _total_tokens(s: System) -> float | None:
    p = s.per_request
    if p.prompt_tokens is None or p.completion_tokens is None:
        return None
    return p.prompt_tokens + p.completion_tokens
