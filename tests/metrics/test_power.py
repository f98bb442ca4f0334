from __future__ import annotations

import math

import pytest

from tailorlm.metrics.power import paired_power, rows_for, z_sum


def test_rows_for_matches_the_textbook_sample_size():
    """Chow, Shao & Wang 3.1: n = (z_{a/2} + z_b)^2 sd^2 / delta^2; sd 1, delta 0.5, alpha 0.05,
    power 0.8 gives 31.4, so 32 pairs."""
    assert z_sum() == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    assert rows_for(0.5, 1.0) == 32
    assert rows_for(0.25, 1.0) == 126  # half the gap, four times the rows
    assert rows_for(0.0, 1.0) is None


def test_paired_power_of_pass_fail_rows():
    # 40 rows: a passes 14, b passes 8; they disagree on 10 rows (8 for a, 2 for b).
    a = [1] * 14 + [0] * 26
    b = [1] * 6 + [0] * 8 + [1] * 2 + [0] * 24
    p = paired_power(a, b)
    assert p.n == 40 and p.gap == pytest.approx(0.15)
    diffs = [x - y for x, y in zip(a, b)]
    sd = math.sqrt(sum((d - 0.15) ** 2 for d in diffs) / 39)
    assert p.sd_diff == pytest.approx(sd)
    assert p.mde == pytest.approx(2.801585 * sd / math.sqrt(40), rel=1e-5)
    assert p.rows_needed == math.ceil((2.801585 * sd / 0.15) ** 2)


def test_systems_that_never_disagree_are_not_taken_as_certain():
    p = paired_power([1, 0, 1, 0], [1, 0, 1, 0])
    assert p.gap == 0 and p.rows_needed is None and p.mde > 0
