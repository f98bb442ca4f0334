from __future__ import annotations

import re

import pytest

from tailorlm.config import TaskConfig
from tailorlm.errors import TailorError
from tailorlm.prompting import PromptProgram, get_strategy
from tailorlm.prompting.requests import build_messages
from tailorlm.prompting.strategies import STRATEGIES, describe_strategies
from tailorlm.tasks import load_task


@pytest.fixture(scope="module")
def sql_task():
    return load_task("sql-sales")


def render(spec, task, index=0):
    example = task.split("dev")[index]
    program = get_strategy(spec)(task)
    return program, build_messages(program, example, task.resources())


def test_zero_shot_is_the_bare_question(sql_task):
    program, messages = render("zero-shot", sql_task)
    assert messages == ({"role": "user", "content": sql_task.split("dev")[0].inputs["question"]},)
    assert program.parser == "sql" and program.name == "zero-shot"


def test_role_uses_task_role_or_a_flag(sql_task):
    _, messages = render("role", sql_task)
    assert messages[0] == {"role": "system", "content": sql_task.config.role}
    _, messages = render("role:persona=You write SQLite", sql_task)
    assert messages[0]["content"] == "You write SQLite"


@pytest.mark.parametrize(
    "spec, present, absent",
    [
        ("context", ["Database schema:", "orders(", "-> customers.customer_id"], ["CREATE TABLE"]),
        ("context:schema=create", ["CREATE TABLE orders"], []),
        ("context:rows=2", ["sample row(s) of regions", "'North'"], []),
        ("context:fks=false", ["orders("], ["-> customers.customer_id"]),
    ],
)
def test_context_options(sql_task, spec, present, absent):
    _, messages = render(spec, sql_task)
    system = messages[0]["content"]
    assert all(p in system for p in present) and not any(a in system for a in absent)


def test_format_adds_rule_parser_stop_and_user_lead(sql_task):
    program, messages = render("format", sql_task)
    assert "exactly one SQLite SELECT" in messages[0]["content"]
    assert messages[-1]["content"].startswith("Write one SQLite query that answers: ")
    assert program.parser == "sql" and program.stop == (";",)


def test_cot_thinks_then_answers_without_the_semicolon_stop(sql_task):
    program, messages = render("cot", sql_task)
    assert "Answer:" in messages[0]["content"] and program.parser == "cot_sql"
    assert program.stop == ()


def test_few_shot_knn_puts_similar_train_questions_before_the_question(sql_task):
    program, messages = render("few-shot:k=2,similarity=lexical", sql_task)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2 + ["user"]
    assert program.demo_selector.task == "sql-sales" and program.demos == ()
    assert "revenue" in messages[-3]["content"]  # dev-0001 asks for a category's revenue
    train = {ex.output for ex in sql_task.split("train")}
    assert messages[1]["content"] in train and messages[3]["content"] in train


def test_combination_applies_every_part(sql_task):
    spec = "role+instruct+context+format+few-shot:k=1,method=random"
    program, messages = render(spec, sql_task)
    system = messages[0]["content"]
    assert system.startswith(sql_task.config.role) and "Revenue means" in system
    assert "Database schema:" in system and "exactly one SQLite SELECT" in system
    assert len(messages) == 4 and program.name == spec


def test_schema_role_is_unchanged_for_stored_runs(sql_task):
    program = get_strategy("schema-role")(sql_task)
    assert program.to_dict() == {
        "name": "schema-role",
        "system": sql_task.config.system_prompt,
        "instruction": "",
        "context": [],
        "schema": "compact",
        "output_format": "Answer with exactly one SQLite SELECT statement and nothing else: "
        "no explanation, no markdown fences.",
        "demos": [],
        "user_template": "Write one SQLite query that answers: {{ question }}",
        "parser": "sql",
        "stop": [";"],
        "meta": {},
    }


def test_strategies_accept_a_bare_task_config_for_builtin_tasks(sql_task):
    program = get_strategy("context+few-shot")(sql_task.config)
    assert program.demo_selector.task == "sql-sales" and program.schema == "compact"


def test_label_task_format_lists_labels_and_balanced_groups_by_label():
    task = TaskConfig(name="t", metric="classification", output_type="label", labels=["a", "b"])
    program = get_strategy("format+few-shot:method=balanced")(task)
    assert "a, b" in program.output_format and program.parser == "first_line"
    assert program.demo_selector.balance_key == ""


def test_text_task_bullets_and_json_formats():
    task = TaskConfig(name="t", metric="exact_match", output_type="text", description="Summaries.")
    bullets = get_strategy("format:style=bullets,n=4")(task)
    assert "exactly 4 bullet points" in bullets.output_format and bullets.parser == "bullets"
    as_json = get_strategy("format:style=json,keys=title|score")(task)
    assert "title, score" in as_json.output_format and as_json.parser == "json"
    assert get_strategy("context")(task).context == ("Summaries.",)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("magic", "Unknown strategy 'magic'"),
        ("role+magic", "Unknown strategy 'magic' in 'role+magic'"),
        ("few-shot:x=1", "has no option 'x'"),
        ("few-shot:k", "Bad option 'k'"),
        ("few-shot:method=nearest", "method"),
        ("format:style=haiku", "Unknown format style"),
        ("context:schema=big", "Unknown schema style"),
    ],
)
def test_bad_specs_are_clear_errors(sql_task, spec, message):
    with pytest.raises(TailorError, match=re.escape(message)):
        get_strategy(spec)(sql_task)


def test_every_strategy_is_documented_and_builds(sql_task):
    described = {d["name"]: d for d in describe_strategies()}
    assert set(described) == set(STRATEGIES)
    for name in STRATEGIES:
        assert described[name]["doc"]
        assert isinstance(get_strategy(name)(sql_task), PromptProgram)
