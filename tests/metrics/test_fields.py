import pytest

from tailorlm.errors import MetricError
from tailorlm.metrics.fields import corpus_report, fields_match

GOLD = "category: billing; priority: high"


@pytest.mark.parametrize(
    ("prediction", "value", "reason"),
    [
        ("category: billing; priority: high", 1.0, ""),
        ("Category: Billing\nPriority: HIGH", 1.0, ""),  # wrong casing is still right
        ("Priority: high. Category: billing.", 1.0, ""),  # any order and punctuation
        ("**Category:** billing, **Priority:** high", 1.0, ""),
        ("Billing, High", 1.0, ""),  # no keys: read by position
        ("category: billing; priority: low", 0.5, "wrong priority"),
        ("category: billing", 0.5, "no priority"),
        ("category: bug; priority: low", 0.0, "wrong category, priority"),
        ("categories: billing", 0.0, "wrong category, priority"),  # unknown key: read by position
        ("", 0.0, "no category, priority"),
    ],
)
def test_fields_match(prediction, value, reason):
    score = fields_match(prediction, GOLD)
    assert score.value == value
    assert score.reason.split(":")[0] == reason


def test_gold_without_fields_is_a_task_error():
    with pytest.raises(MetricError, match="no `key: value` fields"):
        fields_match("billing", "billing")


def test_corpus_report_accuracy_and_macro_f1_per_field():
    rows = [
        {"gold": "category: bug; priority: low", "prediction": "category: bug; priority: low"},
        {"gold": "category: bug; priority: high", "prediction": "Category: BUG; priority: low"},
        {"gold": "category: access; priority: high", "prediction": "category: bug"},
        {"gold": "category: access; priority: high", "prediction": "access, high"},
    ]
    report = corpus_report(rows)
    assert report["category"]["accuracy"] == 0.75
    # bug: P=2/3 R=1 F1=0.8; access: P=1 R=0.5 F1=2/3
    assert report["category"]["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert report["priority"]["accuracy"] == 0.5
    assert report["all"]["accuracy"] == 0.5
