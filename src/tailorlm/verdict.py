"""The part of the advice that comes before any method (L5, pure): does anything work, does
anything reach the user's bar, what would close the gap, and how sure the comparison is.

* With a target: a system *meets* it when its 95% CI lower bound is at or above it, and
  *reaches* it on the point estimate alone otherwise; when none reaches it the verdict says so
  first and names what would most likely close the gap, from the evidence (the learning curve
  extrapolated, a bigger model, a better prompt).
* Without one: when the best system is near zero, or no system is significantly better than
  the baseline, no method is recommended.
* Power of the key pair: the minimal detectable difference at the current n, and the rows that
  would resolve the observed gap (metrics/power.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tailorlm.metrics.power import Power

ALPHA = 0.05
NEAR_ZERO = 0.05  # a best score below this is "nothing works", whatever the tests say


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(r: object) -> str:
    ci = getattr(r, "ci", None)
    return f" [{pct(ci[0])}–{pct(ci[1])}]" if ci else ""


def bar_lines(results: Sequence, target: float) -> tuple[list, list, list[str]]:
    """(systems that meet the bar with confidence, on the point estimate only, the lines)."""
    meets = [r for r in results if r.ci and r.ci[0] >= target]
    point = [r for r in results if r.quality >= target and r not in meets]
    lines = []
    if meets:
        names = ", ".join(f"{r.label} {pct(r.quality)}{_ci(r)}" for r in meets)
        lines.append(f"your bar {pct(target)}: met with confidence (CI lower bound) by {names}")
    if point:
        names = ", ".join(f"{r.label} {pct(r.quality)}{_ci(r)}" for r in point)
        lines.append(
            f"your bar {pct(target)}: reached on the point estimate only (its CI reaches "
            f"below) by {names}"
        )
    return meets, point, lines


def nothing_works(results: Sequence, baseline: str | None) -> str | None:
    """Why no method can be recommended without a target, or None when one works."""
    if not results:
        return None
    best = max(results, key=lambda r: r.quality)
    if best.quality < NEAR_ZERO:
        return (
            f"No approach works on this model and task: the best system, {best.label}, "
            f"scores {pct(best.quality)}{_ci(best)}"
        )
    base = next((r for r in results if r.system == baseline), None)
    better = [
        r
        for r in results
        if r.system != baseline
        and r.p_vs_baseline is not None
        and r.p_vs_baseline < ALPHA
        and (base is None or r.quality > base.quality)
    ]
    if base is not None and not better:
        return (
            f"No approach measurably improves on {base.label} ({pct(base.quality)}): none of "
            f"the systems is significantly better (paired test, p < {ALPHA:g})"
        )
    return None


def curve_estimate(curve: Sequence, target: float) -> tuple[int, int | None, int | None] | None:
    """Labelled rows at which the fine-tune's learning curve, fitted as score = a + b ln(n),
    reaches `target`: (estimate, low, high), the range from fits through the CI bounds; None
    when the curve has fewer than two sizes or does not rise."""
    points = [p for p in curve if p.n_train > 0]
    if len({p.n_train for p in points}) < 2:
        return None
    mid = _reach(points, [p.score for p in points], target)
    if mid is None:
        return None
    high_scores = [p.ci[1] if p.ci else p.score for p in points]
    low_scores = [p.ci[0] if p.ci else p.score for p in points]
    # The optimistic curve (upper bounds) gets there soonest; the pessimistic one may never.
    return mid, _reach(points, high_scores, target), _reach(points, low_scores, target)


def _reach(points: Sequence, scores: Sequence[float], target: float) -> int | None:
    xs = [math.log(p.n_train) for p in points]
    mx, my = sum(xs) / len(xs), sum(scores) / len(scores)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, scores)) / sxx if sxx else 0.0
    if slope <= 0:
        return None
    log_n = mx + (target - my) / slope
    return math.ceil(math.exp(min(log_n, 50.0)))


def gap_closers(evidence: object, target: float, best: object) -> list[str]:
    """What would most likely close the gap to `target`, most promising first."""
    curve = getattr(evidence, "curve", ())
    model = getattr(evidence, "model", None) or "this model"
    lines = []
    estimate = curve_estimate(curve, target)
    biggest = max((p.n_train for p in curve), default=0)
    if estimate is not None:
        mid, low, high = estimate
        span = f"{low:,}" if low else "?"
        span += f"–{high:,}" if high else " to more than any extrapolation shows"
        lines.append(
            f"more labelled data: the learning curve ({len(curve)} sizes up to {biggest:,} "
            f"rows) reaches {pct(target)} at about {mid:,} rows (range {span}), if it keeps "
            "its shape"
        )
    elif curve:
        lines.append(
            "more labelled data is unlikely to be enough: the learning curve does not rise"
        )
    else:
        lines.append(
            "more labelled data: run `tailor compare TASK --preset standard` for a learning "
            "curve that estimates how many rows the fine-tune would need"
        )
    lines.append(
        f"a bigger model: {model} is what was measured; a larger one (`--model`) often moves "
        "every system at once"
    )
    lines.append(
        "a better prompt: a longer search (`--budget`), hand-written demos or the schema "
        "details the model gets wrong"
    )
    if getattr(best, "approach", "prompt") == "prompt" and estimate is None:
        lines = [lines[2], lines[1], lines[0]]  # a prompt is what came closest
    return lines


def without_a_method(evidence: object) -> list[str]:
    """What to try when nothing works, and how to ask the sharper question."""
    model = getattr(evidence, "model", None) or "this model"
    return [
        f"a bigger model: {model} is what was measured; a larger one (`--model`) often moves "
        "every system at once",
        "more test rows, when the systems differ but not significantly: "
        + more_rows(getattr(evidence, "test_rows", None), getattr(evidence, "split_rows", None)),
        "set the quality you need with `--target` to see which systems reach it",
    ]


def more_rows(n: int | None, split_rows: int | None, needed: int | None = None) -> str:
    """Where more test rows come from: the rest of the test split, or new labels once the
    split is used up (or smaller than `needed`)."""
    if split_rows is None or n is None:
        return "`--until-decided` or a larger `--limit`"
    if n >= split_rows:
        return f"the whole test split ({split_rows:,} rows) was measured: label more test rows"
    if needed is not None and needed > split_rows:
        return f"more than the test split's {split_rows:,} rows: label more test rows"
    return f"`--until-decided` measures more of the test split's {split_rows:,} rows"


def power_lines(
    power: Power | None,
    prompt_label: str,
    tuned_label: str,
    significant: bool = False,
    split_rows: int | None = None,
) -> list[str]:
    if power is None:
        return []
    pair = f"{tuned_label} vs {prompt_label}"
    lines = [
        f"how sure: with {power.n} test rows the paired comparison {pair} detects a true "
        f"difference of {100 * power.mde:.1f} points or more (80% power, alpha {power.alpha:g})"
    ]
    if power.rows_needed is None:
        lines.append("the two gave identical scores on every row: no gap to resolve")
    elif significant:
        lines.append(f"the observed gap of {100 * power.gap:+.1f} points is significant at this n")
    elif power.rows_needed <= power.n:
        lines.append(f"the observed gap of {100 * power.gap:+.1f} points is within what n resolves")
    else:
        lines.append(
            f"the observed gap of {100 * power.gap:+.1f} points needs about "
            f"{power.rows_needed:,} test rows to resolve "
            f"({more_rows(power.n, split_rows, power.rows_needed)})"
        )
    return lines
