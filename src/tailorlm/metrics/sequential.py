"""Deciding with as few test rows as needed (L1, pure): a group-sequential paired comparison.

Test rows are evaluated in chunks ("looks"). Looking at the p-value after every chunk and
stopping at the first p < 0.05 would find a difference far more often than 5% of the time when
there is none, so each look spends part of the error budget: the Lan-DeMets spending function
of O'Brien-Fleming type, alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) at information fraction
t = n / n_max (Lan & DeMets 1983, "Discrete sequential boundaries for clinical trials",
Biometrika 70:659-663). Look k tests at the increment alpha(t_k) - alpha(t_{k-1}), a
conservative (Bonferroni) use of the spent alpha, so the overall error stays within `alpha`.

A look stops when the paired difference is significant at its level, or when the
(1 - 2 alpha_k) interval of the difference lies within +-`margin` (two one-sided tests: no
practically relevant difference), or when the rows run out. Normal approximation, the same
per-row standard deviation floor as metrics/power.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05
MARGIN = 0.05  # a difference under 5 points is not worth acting on

_NORMAL = NormalDist()


def spent(t: float, alpha: float = ALPHA) -> float:
    """Alpha spent by information fraction `t` (O'Brien-Fleming-type spending)."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    return 2 - 2 * _NORMAL.cdf(_NORMAL.inv_cdf(1 - alpha / 2) / math.sqrt(t))


@dataclass(frozen=True)
class Look:
    n: int
    diff: float  # mean of a - b
    ci: tuple[float, float]  # the (1 - 2 alpha_k) interval of the difference
    alpha_k: float  # this look's share of alpha
    spent: float  # alpha spent up to and including this look
    decision: str  # "different" | "equivalent" | "exhausted" | "continue"

    @property
    def stop(self) -> bool:
        return self.decision != "continue"


def look(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_max: int,
    spent_before: float,
    alpha: float = ALPHA,
    margin: float = MARGIN,
) -> Look:
    """One interim look at paired per-row scores `a` and `b` (the rows so far, in order)."""
    if len(a) != len(b) or not a:
        raise ValueError("a look needs two equally long, non-empty score lists")
    n = len(a)
    diffs = [x - y for x, y in zip(a, b)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    se = (math.sqrt(var) if var > 0 else 1 / math.sqrt(n)) / math.sqrt(n)
    total = spent(n / n_max, alpha)
    alpha_k = max(total - spent_before, 1e-12)
    half = _NORMAL.inv_cdf(1 - alpha_k) * se  # one-sided at alpha_k on each side
    ci = (mean - half, mean + half)
    if abs(mean) / se > _NORMAL.inv_cdf(1 - alpha_k / 2):
        decision = "different"
    elif -margin < ci[0] and ci[1] < margin:
        decision = "equivalent"
    elif n >= n_max:
        decision = "exhausted"
    else:
        decision = "continue"
    return Look(n, mean, ci, alpha_k, total, decision)
