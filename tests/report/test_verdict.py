"""The verdict before any method: a quality bar, "nothing works", and how sure the key pair is
(issue: verdicts you can trust). Synthetic comparisons: the fixture, edited."""

from __future__ import annotations

import math

import pytest

from tailorlm.metrics.power import Power
from tailorlm.report import build_report
from tailorlm.verdict import curve_estimate, more_rows, power_lines
from tests.report.conftest import system


def _set_scores(comparison: dict, system_id: str, passed: list[int]) -> None:
    """Per-row 0/1 scores for one system (items in order), and its quality to match."""
    for item, score in zip(comparison["items"], passed):
        item["outputs"][system_id].update(score=float(score), **{"pass": bool(score)})
    s = system(comparison, system_id)
    s["quality"]["score"] = sum(passed) / len(passed)
    s["quality"]["ci"] = [0.0, min(1.0, 2 * sum(passed) / len(passed))]
    s["quality"]["passed"] = sum(passed)
    comparison["comparisons"] = []  # the report recomputes paired tests from the items


def test_nothing_works_when_every_system_is_near_zero(comparison):
    n = len(comparison["items"])
    for sid in ("zero-shot", "best-prompt", "optimized-prompt", "finetuned"):
        _set_scores(comparison, sid, [0] * n)
    comparison["learning_curve"] = []
    advice = build_report(comparison).advice
    assert advice.answer == "none"
    assert advice.headline.startswith("No approach works on this model and task")
    assert not advice.headline.startswith("Recommendation")
    assert any("bigger model" in r for r in advice.reasons)


def test_no_method_when_nothing_beats_the_baseline_significantly(comparison):
    n = len(comparison["items"])
    base = [1, 0] * (n // 2)
    for sid in ("zero-shot", "best-prompt", "optimized-prompt", "finetuned"):
        _set_scores(comparison, sid, base)
    advice = build_report(comparison).advice
    assert advice.answer == "none"
    assert "No approach measurably improves on Zero-shot" in advice.headline


def test_a_bar_nobody_reaches_is_said_first_with_what_would_close_the_gap(comparison):
    report = build_report(comparison, target=0.95)
    advice = report.advice
    assert advice.answer == "none"
    assert advice.headline.startswith("No system reaches your bar of 95.0%")
    assert advice.reasons[0] == "what would most likely close the gap:"
    assert "learning curve" in advice.reasons[1] and "rows" in advice.reasons[1]
    assert "bigger model" in " ".join(advice.reasons)


def test_the_bar_says_who_meets_it_with_confidence_and_who_on_the_point_estimate(comparison):
    # finetuned: 80% [60, 95]; optimized-prompt 45%.
    advice = build_report(comparison, target=0.6).advice
    assert advice.answer != "none"
    assert any("met with confidence" in r and "Fine-tuned" in r for r in advice.reasons)
    advice = build_report(comparison, target=0.7).advice
    assert any("point estimate only" in r and "Fine-tuned" in r for r in advice.reasons)


def test_the_stored_target_is_the_default_bar(comparison):
    comparison["target"] = 0.99
    assert build_report(comparison).advice.answer == "none"
    assert build_report(comparison, target=0.5).advice.answer != "none"


def test_power_of_the_key_pair_is_in_every_view(comparison):
    report = build_report(comparison)
    power = report.evidence.power
    assert power is not None and power.n == len(comparison["items"])
    assert 0 < power.mde < 1
    lines = [e for e in report.advice.evidence if e.startswith("how sure")]
    assert lines and f"{100 * power.mde:.1f} points" in lines[0]
    assert report.to_dict()["evidence"]["power"]["mde"] == pytest.approx(power.mde)
    assert "how sure" in report.markdown() and "how sure" in report.html()


def test_learning_curve_extrapolation():
    from tailorlm.advisor import CurvePoint

    # score = 0.1 + 0.1 ln(n / 10): reaches 0.5 at n = 10 e^4 ~ 546.
    curve = [CurvePoint(n, 0.1 + 0.1 * math.log(n / 10), None) for n in (10, 50, 200)]
    mid, low, high = curve_estimate(curve, 0.5)
    assert mid == math.ceil(10 * math.exp(4)) or abs(mid - 10 * math.exp(4)) < 2
    assert curve_estimate(curve[:1], 0.5) is None
    flat = [CurvePoint(n, 0.2, None) for n in (10, 50)]
    assert curve_estimate(flat, 0.5) is None


def test_more_test_rows_come_from_the_rest_of_the_split_or_from_new_labels():
    # A subset of the split: the rest of it; the whole split (or too few rows in it): label more.
    assert "--until-decided" in more_rows(40, 203) and "203" in more_rows(40, 203)
    assert more_rows(203, 203).startswith("the whole test split (203 rows) was measured")
    assert "label more test rows" in more_rows(40, 203, needed=900)
    assert "--until-decided" in more_rows(40, 203, needed=150)
    assert "--until-decided" in more_rows(None, None)  # older comparison.json: not recorded


def test_the_power_line_never_asks_for_rows_the_split_does_not_have():
    power = Power(n=203, sd_diff=0.5, mde=0.098, rows_needed=900, gap=0.05)
    line = power_lines(power, "Best prompt", "Fine-tuned", split_rows=203)[-1]
    assert "needs about 900 test rows" in line and "label more test rows" in line
    assert "--limit" not in line and "--until-decided" not in line
    quick = Power(n=40, sd_diff=0.5, mde=0.22, rows_needed=120, gap=0.1)
    assert "--until-decided" in power_lines(quick, "a", "b", split_rows=203)[-1]


def test_the_comparison_records_the_split_size_and_the_advice_reads_it(comparison):
    n = len(comparison["items"])
    _set_scores(comparison, "optimized-prompt", [1] * (n // 2) + [0] * (n - n // 2))
    _set_scores(comparison, "finetuned", [1] * (n // 2 + 1) + [0] * (n - n // 2 - 1))
    comparison["split_rows"] = n  # the whole split was measured: a gap of one row is unresolved
    lines = [e for e in build_report(comparison).advice.evidence if "test rows to resolve" in e]
    assert len(lines) == 1 and f"the whole test split ({n} rows) was measured" in lines[0]
    comparison["split_rows"] = 10 * n  # a subset: the rest of the split
    lines = [e for e in build_report(comparison).advice.evidence if "test rows to resolve" in e]
    assert len(lines) == 1 and "--until-decided" in lines[0]
