"""The sequential stop rule: alpha spending across looks, and each way a look stops."""

from __future__ import annotations

import random

import pytest

from tailorlm.metrics.sequential import look, spent


def test_obrien_fleming_spending_spends_little_early_and_alpha_at_the_end():
    assert spent(1.0) == pytest.approx(0.05)
    assert spent(0.0) == 0.0
    # Lan-DeMets O'Brien-Fleming-type values (Jennison & Turnbull 2000, table 7.6 shape):
    assert spent(0.25) == pytest.approx(2 - 2 * 0.9999955, abs=1e-4)  # ~1e-5
    assert spent(0.5) == pytest.approx(0.00557, abs=2e-4)
    assert spent(0.5) < spent(0.75) < spent(1.0)


def _pairs(n, p_a, p_b, seed):
    rng = random.Random(seed)
    return [float(rng.random() < p_a) for _ in range(n)], [
        float(rng.random() < p_b) for _ in range(n)
    ]


def test_a_large_gap_stops_as_different_at_a_fixed_seed():
    a, b = _pairs(200, 0.8, 0.2, seed=1)
    looks, before = [], 0.0
    for n in (40, 80, 120, 160, 200):
        current = look(a[:n], b[:n], n_max=200, spent_before=before)
        looks.append(current)
        before = current.spent
        if current.stop:
            break
    assert looks[-1].decision == "different" and looks[-1].diff > 0
    assert len(looks) <= 2  # a 60-point gap needs no more than two looks
    assert sum(lk.alpha_k for lk in looks) <= 0.05 + 1e-9


def test_identical_systems_stop_as_equivalent_and_noise_never_as_different():
    a = [float(i % 3 == 0) for i in range(400)]
    current = look(a, a, n_max=400, spent_before=spent(0.9))
    assert current.decision == "equivalent" and current.ci[0] > -0.05
    # Two independent coin flips at 40% each, 200 seeds, looks at 40/80/120: the rule must not
    # call "different" much more often than alpha (repeated peeking at p < 0.05 would).
    false = 0
    for seed in range(200):
        a, b = _pairs(120, 0.4, 0.4, seed)
        before = 0.0
        for n in (40, 80, 120):
            current = look(a[:n], b[:n], n_max=120, spent_before=before)
            before = current.spent
            if current.stop:
                false += current.decision == "different"
                break
    assert false <= 20  # 10%: alpha 5% plus the normal approximation's slack on 0/1 rows


def test_the_split_running_out_ends_undecided():
    a, b = _pairs(60, 0.5, 0.4, seed=3)
    assert look(a, b, n_max=60, spent_before=spent(0.5)).decision == "exhausted"
