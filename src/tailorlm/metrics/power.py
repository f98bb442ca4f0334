"""How sure a paired comparison can be (L1, pure): the minimal detectable difference at the
current number of test rows, and the rows needed to resolve an observed gap.

Normal approximation for a paired mean difference (two-sided test at `alpha`, power `power`):
    MDE = (z_{1-alpha/2} + z_{power}) * sd_d / sqrt(n),   n_needed = ((z_a + z_b) * sd_d / gap)^2
with sd_d the standard deviation of the per-row differences (e.g. Chow, Shao & Wang, "Sample
Size Calculations in Clinical Research", section 3.1). Rows scored 0/1 make the differences
-1/0/+1, so sd_d measures how often two systems disagree; when they never disagree on the rows
seen, one disagreement in n is assumed (sd_d = 1/sqrt(n)), not certainty."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Power:
    n: int
    sd_diff: float
    mde: float  # the smallest true gap this n detects with `power` (fraction, e.g. 0.12)
    rows_needed: int | None  # rows to resolve `gap` with `power`; None when the gap is 0
    gap: float
    alpha: float = ALPHA
    power: float = POWER


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def rows_for(gap: float, sd_diff: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Rows a paired test needs to detect a true `gap` with `power` (None: a gap of 0)."""
    if gap == 0:
        return None
    return math.ceil((z_sum(alpha, power) * sd_diff / abs(gap)) ** 2)


def paired_power(
    a: Sequence[float], b: Sequence[float], alpha: float = ALPHA, power: float = POWER
) -> Power:
    """The power of the paired comparison of per-row scores `a` and `b` (same rows, in order)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired_power needs two equally long, non-empty score lists")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    gap = sum(diffs) / n
    var = sum((d - gap) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    sd = math.sqrt(var) if var > 0 else 1 / math.sqrt(n)
    mde = z_sum(alpha, power) * sd / math.sqrt(n)
    return Power(n, sd, mde, rows_for(gap, sd, alpha, power), gap, alpha, power)
