"""The verdict before any method: a quality bar, "nothing works", and how sure the key pair is
(issue: verdicts you can trust). Synthetic comparisons: the fixture, edited."""

from __future__ import annotations

import math

import pytest

from tailorlm.report import build_report
from tailorlm.verdict import curve_estimate
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
