from __future__ import annotations

import math

import numpy as np
import pytest

from tailorlm.errors import MetricError
from tailorlm.metrics.stats import bootstrap_ci, mcnemar, paired_bootstrap


def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    values = [0.9, 0.1, 0.75, 0.4, 0.3, 0.65, 0.2, 0.8]
    mean, low, high = bootstrap_ci(values, seed=3)
    assert mean == pytest.approx(0.5125)
    assert low < mean < high
    assert bootstrap_ci(values, seed=3) == (mean, low, high)
    assert bootstrap_ci(values, seed=4) != (mean, low, high)


def test_bootstrap_ci_width_matches_normal_approximation():
    # For a proportion p over n items the 95% interval is about p +- 1.96 * sqrt(p(1-p)/n).
    values = [1] * 60 + [0] * 40
    mean, low, high = bootstrap_ci(values, n_resamples=20_000)
    half_width = 1.96 * math.sqrt(0.6 * 0.4 / 100)
    assert mean == 0.6
    assert low == pytest.approx(mean - half_width, abs=0.02)
    assert high == pytest.approx(mean + half_width, abs=0.02)


@pytest.mark.parametrize("values", [[0.1] * 7, [1.0], [0, 0, 0]])
def test_bootstrap_ci_constant_values(values):
    v = values[0]
    assert bootstrap_ci(values) == (v, v, v)


def test_bootstrap_ci_large_input_is_chunked():
    values = np.random.default_rng(0).random(5_000)
    mean, low, high = bootstrap_ci(values, n_resamples=1_000)
    assert low < mean < high


@pytest.mark.parametrize(
    ("values", "kwargs"),
    [
        ([], {}),
        ([1.0, float("nan")], {}),
        ([1, 0], {"confidence": 1.0}),
        ([1, 0], {"n_resamples": 0}),
    ],
)
def test_bootstrap_ci_rejects_bad_input(values, kwargs):
    with pytest.raises(MetricError):
        bootstrap_ci(values, **kwargs)


def test_paired_bootstrap_identical_systems():
    result = paired_bootstrap([1, 0, 1], [1, 0, 1])
    assert result == {"diff": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}


def test_paired_bootstrap_always_better():
    # Every resampled difference is 0.5 > 0, so p = 2 * (0 + 1) / (2000 + 1).
    result = paired_bootstrap([1.0, 0.5, 1.0], [0.5, 0.0, 0.5])
    assert result["diff"] == 0.5 and result["low"] == result["high"] == 0.5
    assert result["p_value"] == pytest.approx(2 / 2001)


def test_paired_bootstrap_noise_is_not_significant():
    a = [1, 0] * 20
    b = [0, 1] * 20
    result = paired_bootstrap(a, b)
    assert result["diff"] == 0.0
    assert result["low"] < 0 < result["high"]
    assert result["p_value"] > 0.5


def test_paired_bootstrap_length_mismatch():
    with pytest.raises(MetricError, match="length"):
        paired_bootstrap([1, 0], [1])


@pytest.mark.parametrize(
    ("a", "b", "a_only", "b_only", "p_value"),
    [
        # Discordant 0 vs 0: nothing to test.
        ([1, 0], [1, 0], 0, 0, 1.0),
        # 5 vs 0: p = 2 * C(5,0) / 2**5 = 1/16.
        ([1] * 5, [0] * 5, 5, 0, 1 / 16),
        # 1 vs 9: p = 2 * (C(10,0) + C(10,1)) / 2**10 = 22/1024.
        ([1] + [0] * 9, [0] + [1] * 9, 1, 9, 22 / 1024),
        # 3 vs 3: symmetric, p capped at 1.
        ([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], 3, 3, 1.0),
    ],
)
def test_mcnemar_by_hand(a, b, a_only, b_only, p_value):
    result = mcnemar([bool(x) for x in a], [bool(x) for x in b])
    assert (result["a_only"], result["b_only"]) == (a_only, b_only)
    assert result["p_value"] == pytest.approx(p_value)


def test_mcnemar_counts_and_large_n_does_not_underflow():
    result = mcnemar([True, True, False, False], [True, False, True, False])
    assert (result["both"], result["neither"]) == (1, 1)
    big = mcnemar([True] * 1500 + [False] * 1300, [False] * 1500 + [True] * 1300)
    assert 0.0 < big["p_value"] < 0.01


def test_mcnemar_length_mismatch():
    with pytest.raises(MetricError):
        mcnemar([True], [])
