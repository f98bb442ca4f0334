from __future__ import annotations

import pytest

from tailorlm.prompting.extract import PARSERS, extract_bullets, extract_json, extract_sql


@pytest.mark.parametrize(
    "text, expected",
    [
        # fenced
        ("```sql\nSELECT a FROM t;\n```", "SELECT a FROM t"),
        ("```SQL\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("```\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("Result:\n```text\n| a |\n```\nQuery:\n```sql\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("```sql\nSELECT a FROM t", "SELECT a FROM t"),  # unterminated fence
        # prose-wrapped
        ("Sure! Here is the query: SELECT a FROM t; It returns a.", "SELECT a FROM t"),
        ("SELECT a FROM t\n\nThis query lists every a.", "SELECT a FROM t"),
        ("SELECT a\nFROM t\n\nWHERE b = 1", "SELECT a\nFROM t\n\nWHERE b = 1"),
        ("To answer, use\nselect count(*) from orders", "select count(*) from orders"),
        # multiple statements
        ("SELECT 1; SELECT 2;", "SELECT 1"),
        ("SELECT a FROM t;\nDROP TABLE t;", "SELECT a FROM t"),
        (
            "WITH x AS (SELECT 1 AS v) SELECT v FROM x; SELECT 3",
            "WITH x AS (SELECT 1 AS v) SELECT v FROM x",
        ),
        # quotes and comments protect semicolons
        ("SELECT 'a;b' FROM t; SELECT 2", "SELECT 'a;b' FROM t"),
        # nothing SQL-like: returned as is, so the metric reports it
        ("I don't know", "I don't know"),
        ("", ""),
    ],
)
def test_extract_sql(text, expected):
    assert extract_sql(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Reasoning: join orders and items.\nAnswer: SELECT 1;", "SELECT 1"),
        ("We select from t.\nFinal answer: ```sql\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("Answer: SELECT 1\nanswer: SELECT 2", "SELECT 2"),  # the last marker wins
        ("SELECT 3", "SELECT 3"),  # no marker: the whole text
    ],
)
def test_cot_sql_keeps_what_follows_the_answer_marker(text, expected):
    assert PARSERS["cot_sql"](text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Here:\n- one\n* two\n1. three\nThanks", "- one\n- two\n- three"),
        ("no bullets here", "no bullets here"),
    ],
)
def test_extract_bullets(text, expected):
    assert extract_bullets(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('Sure: {"b": 1, "a": [2]} done', '{"a": [2], "b": 1}'),
        ('{broken} then {"ok": true}', '{"ok": true}'),
        ("no json", "no json"),
    ],
)
def test_extract_json(text, expected):
    assert extract_json(text) == expected


def test_every_base_parser_has_a_cot_variant():
    bases = [name for name in PARSERS if not name.startswith("cot_")]
    assert all(f"cot_{name}" in PARSERS for name in bases)
    assert PARSERS["cot_first_line"]("thinking...\nAnswer: positive\nmore") == "positive"
