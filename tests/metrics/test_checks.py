"""Gold-free checks: which answers a task can check on its own, and what votes compare."""

from __future__ import annotations

import pytest

from tailorlm.metrics.checks import answer_check
from tailorlm.tasks import load_task
from tailorlm.types import Example

ROW = Example("r1", {"question": "q"}, "")


@pytest.fixture(scope="module")
def sales():
    return load_task("sql-sales")


@pytest.mark.parametrize(
    ("sql", "usable", "reason"),
    [
        ("SELECT COUNT(*) FROM customers", True, "ran: 1 row"),
        ("SELECT name FROM regions", True, "ran: "),
        ("SELECT nope FROM nowhere", False, "syntax/runtime error"),
        ("SELECT * FROM customers WHERE 1 = 0", False, "empty result"),
        ("SELECT COUNT(*) FROM customers WHERE 1 = 0", False, "zero count"),
        ("SELECT NULL", False, "all NULL"),
        ("SELECT * FROM order_items", False, "too many rows"),
        ("DELETE FROM customers", False, "denied"),
        ("", False, "empty query"),
    ],
)
def test_sql_must_run_and_give_a_usable_result(sales, sql, usable, reason):
    check = answer_check("sql_execution", "sql", resources=sales.resources())
    checked = check(sql, ROW)
    assert checked.usable is usable
    assert checked.reason.startswith(reason)


def test_equivalent_sql_votes_under_one_key(sales):
    check = answer_check("sql_execution", "sql", resources=sales.resources())
    a = check("SELECT COUNT(*) FROM customers", ROW)
    b = check("select count(customer_id) as n from customers c", ROW)
    c = check("SELECT COUNT(*) FROM products", ROW)
    assert a.key == b.key != c.key
    assert b.answer == "select count(customer_id) as n from customers c"  # the text, as written


@pytest.mark.parametrize(
    ("metric", "output_type", "prediction", "usable", "answer"),
    [
        ("classification", "label", "Billing.", True, "Billing"),
        ("classification", "label", "bug or billing", False, ""),
        ("classification", "label", "no idea", False, ""),
        ("exact_match", "label", "BUG", True, "bug"),  # a label task checks labels, any metric
        ("label_fields", "label", "Priority: High. Category: Billing", True, None),
        ("label_fields", "label", "billing", False, ""),
        ("report_bullets", "text", "- one\n- two", True, "- one\n- two"),
        ("report_bullets", "text", "just prose", False, ""),
        ("exact_match", "json", '{"b": 1, "a": 2}', True, '{"a": 2, "b": 1}'),
        ("exact_match", "json", "[1, 2]", False, ""),
        ("exact_match", "text", "  a sentence ", True, "a sentence"),
        ("exact_match", "text", " ", False, ""),
        ("sql_exact_match", "sql", "SELECT a FROM t", True, "SELECT a FROM t"),
        ("sql_exact_match", "sql", "DELETE FROM t", False, ""),
    ],
)
def test_format_checks(metric, output_type, prediction, usable, answer):
    labels = ["Billing", "bug", "feature_request"]
    checked = answer_check(metric, output_type, resources={}, labels=labels)(prediction, ROW)
    assert checked.usable is usable, checked.reason
    if usable and answer is not None:
        assert checked.answer == answer
    if not usable:  # a reason counts under its kind, the part before ':'
        assert ":" in checked.reason or checked.reason == "empty answer"


def test_fields_vote_by_value_whatever_the_order():
    check = answer_check("label_fields", "label", resources={})
    a = check("category: billing; priority: high", ROW)
    b = check("Priority: HIGH, Category: Billing", ROW)
    assert a.key == b.key and a.answer == "category: billing; priority: high"


def test_pandas_code_must_run_and_set_result():
    task = load_task("pandas-code")
    row = task.split("train")[0]
    check = answer_check("pandas_execution", "code", resources=task.resources())
    ran = check("result = int(df['quantity'].sum())", row)
    assert ran.usable and ran.reason == "ran: set result"
    assert ran.meta["result"]["type"] == "scalar" and ran.meta["result"]["value"] > 0
    assert ran.key == check("result = df.quantity.sum()", row).key  # votes compare results
    assert not check("x = 1", row).usable  # no `result`
    assert check("result = df['nope'].sum()", row).reason.startswith("error")
