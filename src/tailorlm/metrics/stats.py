"""Uncertainty for small evaluation sets: bootstrap intervals and paired significance tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tailorlm.errors import MetricError

_CELLS_PER_CHUNK = 2_000_000  # bounds memory: resamples x items indices held at once


def _as_array(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise MetricError("Need a non-empty list of numbers", hint="evaluate at least one example")
    if not np.all(np.isfinite(arr)):
        raise MetricError("Scores contain NaN or infinity")
    return arr


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1 or not 0.0 < confidence < 1.0:
        raise MetricError(
            f"Bad bootstrap settings: n_resamples={n_resamples}, confidence={confidence}",
            hint="use n_resamples >= 1 and 0 < confidence < 1",
        )


def _resampled_means(arr: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of `n_resamples` resamples with replacement; the same seed gives the same draws."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CELLS_PER_CHUNK // arr.size)
    chunks = []
    for start in range(0, n_resamples, per_chunk):
        size = min(per_chunk, n_resamples - start)
        chunks.append(arr[rng.integers(0, arr.size, size=(size, arr.size))].mean(axis=1))
    return np.concatenate(chunks)


def _interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float], *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap confidence interval."""
    _check(n_resamples, confidence)
    arr = _as_array(values)
    if np.ptp(arr) == 0:  # exact, rather than a mean that drifts by float rounding
        return float(arr[0]), float(arr[0]), float(arr[0])
    low, high = _interval(_resampled_means(arr, n_resamples, seed), confidence)
    return float(arr.mean()), low, high


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap of mean(a - b) over the same examples.

    Returns diff (observed mean of a - b), low/high (its interval) and a two-sided p-value:
    twice the share of resampled differences on the far side of zero, with the +1 correction
    so a finite number of resamples never claims p = 0.
    """
    _check(n_resamples, confidence)
    arr_a, arr_b = _as_array(a), _as_array(b)
    if arr_a.shape != arr_b.shape:
        raise MetricError(f"Paired scores differ in length: {arr_a.size} vs {arr_b.size}")
    diff = arr_a - arr_b
    means = _resampled_means(diff, n_resamples, seed)
    low, high = _interval(means, confidence)
    tail = min(int(np.sum(means <= 0)), int(np.sum(means >= 0)))
    p_value = min(1.0, 2 * (tail + 1) / (n_resamples + 1))
    return {"diff": float(diff.mean()), "low": low, "high": high, "p_value": p_value}


def _binomial_tail(n: int, k_max: int) -> int:
    """C(n, 0) + ... + C(n, k_max) in exact integers; int / 2**n never underflows like 0.5**n."""
    term = total = 1
    for k in range(k_max):
        term = term * (n - k) // (k + 1)  # C(n, k+1) from C(n, k), exact
        total += term
    return total


def mcnemar(a_pass: Sequence[bool], b_pass: Sequence[bool]) -> dict[str, float]:
    """Exact McNemar test on paired pass/fail outcomes of two systems.

    Only discordant items carry information: under "no difference" each is equally likely to
    favour a or b, so the two-sided p-value is a Binomial(n, 1/2) tail. Computed with exact
    integers, so it stays valid for large counts too (no chi-squared approximation needed).
    """
    if len(a_pass) != len(b_pass):
        raise MetricError(f"Paired outcomes differ in length: {len(a_pass)} vs {len(b_pass)}")
    pairs = [(bool(x), bool(y)) for x, y in zip(a_pass, b_pass, strict=False)]
    a_only = sum(x and not y for x, y in pairs)
    b_only = sum(y and not x for x, y in pairs)
    n = a_only + b_only
    p_value = min(1.0, 2 * _binomial_tail(n, min(a_only, b_only)) / 2**n)
    return {
        "a_only": a_only,
        "b_only": b_only,
        "both": sum(x and y for x, y in pairs),
        "neither": sum(not (x or y) for x, y in pairs),
        "p_value": p_value,
    }
