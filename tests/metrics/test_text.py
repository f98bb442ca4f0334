from __future__ import annotations

import pytest

from tailorlm.metrics import get_metric
from tailorlm.metrics.text import exact_match, normalize_sql, normalize_text, sql_exact_match
from tailorlm.types import Example


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello   World!  ", "hello world"),
        ('"Yes."', "yes"),
        ("'billing'", "billing"),
        ("“Paris”", "paris"),
        ("-5", "-5"),  # a leading minus or dot belongs to the number
        (".5", ".5"),
        ("C++", "c++"),
        ("line\nbreak\ttab", "line break tab"),
        ("ＡＢＣ", "abc"),  # NFKC folds full-width letters
        ("", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "value"),
    [
        ("Paris.", "paris", 1.0),
        (" PARIS ", "Paris", 1.0),
        ("Lyon", "Paris", 0.0),
        ("", "Paris", 0.0),
    ],
)
def test_exact_match(pred, gold, value):
    score = exact_match(pred, gold)
    assert score.value == value
    assert score.reason == ("" if value else "mismatch")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("select A as x from T where name = 'Alice';", "SELECT a x FROM t WHERE name='Alice'"),
        ("SELECT  count(*)\nFROM t", "select COUNT(*) from T"),
        ("not sql at all ;", "NOT   sql at ALL"),  # unparsable: whitespace/case folding only
    ],
)
def test_normalize_sql_equivalent(a, b):
    assert normalize_sql(a) == normalize_sql(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT name FROM t WHERE name = 'Alice'", "SELECT name FROM t WHERE name = 'alice'"),
        ("SELECT a, b FROM t", "SELECT b, a FROM t"),
    ],
)
def test_normalize_sql_keeps_meaningful_differences(a, b):
    assert normalize_sql(a) != normalize_sql(b)


def test_sql_exact_match():
    assert sql_exact_match("select a from t;", "SELECT a FROM t").passed
    assert sql_exact_match("select b from t", "SELECT a FROM t").reason == "mismatch"


@pytest.mark.parametrize("name", ["exact_match", "sql_exact_match"])
def test_registry_text_metrics(name):
    example = Example(id="1", inputs={"question": "q"}, output="SELECT a FROM t")
    assert get_metric(name)("select a from t", example, {}).passed


def test_score_says_whether_the_answer_had_the_tasks_form():
    """The optimizer breaks ties on `well_formed` (it used to read `reason == "mismatch"`, a
    convention no metric author was told)."""
    from tailorlm.types import Score

    wrong = exact_match("b", "a")
    assert wrong.reason == "mismatch" and wrong.well_formed and wrong.has_form
    assert exact_match("a", "a").has_form  # a passed answer has the form
    assert not Score(0.0, reason="mismatch").has_form  # said only in the reason: not counted
    assert Score(0.0, reason="my own words", well_formed=True).has_form
