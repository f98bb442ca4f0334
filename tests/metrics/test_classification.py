from __future__ import annotations

import pytest

from tailorlm.errors import MetricError
from tailorlm.metrics import METRIC_NAMES, get_metric
from tailorlm.metrics.classification import (
    accuracy,
    extract_label,
    label_match,
    macro_f1,
    per_label_report,
)
from tailorlm.types import Example

LABELS = ["billing", "bug", "feature request"]


@pytest.mark.parametrize(
    ("prediction", "labels", "expected"),
    [
        ("Category: billing.", LABELS, "billing"),
        ("BUG", LABELS, "bug"),
        ("This is a Feature Request", LABELS, "feature request"),
        ("billing or bug?", LABELS, None),  # ambiguous
        ("debugging", LABELS, None),  # whole words only
        ("nothing relevant", LABELS, None),
        ("not spam", ["spam", "not spam"], "not spam"),  # the longer label wins
        ("spam", ["spam", "not spam"], "spam"),
    ],
)
def test_extract_label(prediction, labels, expected):
    assert extract_label(prediction, labels) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "labels", "value", "reason"),
    [
        ("Billing", "billing", None, 1.0, ""),
        ("Category: billing.", "billing", None, 0.0, "mismatch"),
        ("Category: billing.", "billing", LABELS, 1.0, ""),
        ("Category: bug", "billing", LABELS, 0.0, "mismatch"),
        ("no idea", "billing", LABELS, 0.0, "no single label found"),
    ],
)
def test_label_match(prediction, gold, labels, value, reason):
    score = label_match(prediction, gold, labels)
    assert (score.value, score.reason) == (value, reason)


def test_accuracy():
    assert accuracy(["a", "B ", "c", "x"], ["a", "b", "c", "d"]) == 0.75


@pytest.mark.parametrize(("preds", "golds"), [([], []), (["a"], ["a", "b"])])
def test_corpus_metrics_reject_bad_input(preds, golds):
    with pytest.raises(MetricError):
        accuracy(preds, golds)


# By hand: a: tp=2 fp=1 fn=0 -> p=2/3 r=1 f1=0.8;  b: tp=1 fp=1 fn=1 -> p=r=f1=0.5;
#          c: tp=0 fp=0 fn=1 -> f1=0.  Macro = (0.8 + 0.5 + 0) / 3.
PREDS = ["a", "a", "b", "a", "b"]
GOLDS = ["a", "a", "b", "b", "c"]


def test_per_label_report_by_hand():
    report = per_label_report(PREDS, GOLDS)
    assert list(report) == ["a", "b", "c"]
    assert report["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert report["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_macro_f1_by_hand():
    assert macro_f1(PREDS, GOLDS) == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert macro_f1(PREDS, GOLDS, labels=["a", "b"]) == pytest.approx((0.8 + 0.5) / 2)
    assert macro_f1(["x", "y"], ["x", "y"]) == 1.0


def test_registry_classification_uses_meta_labels():
    metric = get_metric("classification")
    example = Example(id="1", inputs={"question": "q"}, output="bug", meta={"labels": LABELS})
    assert metric("Label: Bug!", example, {}).passed
    assert not metric("Label: Bug!", Example(id="2", inputs={}, output="bug"), {}).passed


def test_unknown_metric_lists_choices():
    with pytest.raises(MetricError, match="Unknown metric 'bleu'") as info:
        get_metric("bleu")
    assert info.value.hint is not None
    assert all(name in info.value.hint for name in METRIC_NAMES)
