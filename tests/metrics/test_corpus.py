from __future__ import annotations

import pytest

from tailorlm.metrics import corpus_metrics


def _rows(pairs, reason=""):
    return [{"prediction": p, "gold": g, "reason": reason} for p, g in pairs]


def test_macro_f1_weighs_rare_labels_like_common_ones():
    # always answering the majority label: accuracy 80%, but macro-F1 only (0.89 + 0) / 2
    rows = _rows([("bug", "bug")] * 4 + [("bug", "billing")])
    assert corpus_metrics("classification", rows)["macro_f1"] == pytest.approx(0.4444, abs=1e-3)


def test_label_fields_reports_each_field():
    rows = _rows(
        [
            ("category: bug; priority: high", "category: bug; priority: high"),
            ("category: bug; priority: low", "category: billing; priority: low"),
        ]
    )
    fields = corpus_metrics("label_fields", rows)["fields"]
    assert fields["priority"]["accuracy"] == 1.0
    assert fields["category"]["accuracy"] == 0.5
    assert fields["all"]["accuracy"] == 0.5


def test_score_parts_are_averaged_and_absent_metrics_give_nothing():
    rows = [
        {"prediction": "", "gold": "", "reason": "ok: faithfulness=1.00 coverage=0.50"},
        {"prediction": "", "gold": "", "reason": "x: faithfulness=0.50 coverage=0.00"},
    ]
    assert corpus_metrics("explanation", rows)["parts"] == {
        "faithfulness": pytest.approx(0.75),
        "coverage": pytest.approx(0.25),
    }
    assert corpus_metrics("sql_execution", _rows([("a", "b")])) == {}
    assert corpus_metrics("classification", []) == {}
