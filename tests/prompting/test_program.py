from __future__ import annotations

import sqlite3

import pytest

from tailorlm.config import TaskConfig
from tailorlm.errors import ConfigError, TailorError
from tailorlm.prompting import Demo, PromptProgram, get_strategy
from tailorlm.prompting.context import sqlite_schema
from tailorlm.prompting.extract import extract_sql

SQL_TASK = TaskConfig(
    name="t",
    metric="sql_execution",
    output_type="sql",
    role="You are a SQL analyst.",
    resources={"db": "x.db"},
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT a FROM t;", "SELECT a FROM t"),
        ("Here you go:\n```sql\nSELECT a\nFROM t;\n```\nThis counts.", "SELECT a\nFROM t"),
        ("```\nWITH x AS (SELECT 1) SELECT * FROM x\n```", "WITH x AS (SELECT 1) SELECT * FROM x"),
        ("You can use SELECT COUNT(*) FROM orders; to count.", "SELECT COUNT(*) FROM orders"),
        ("I don't know", "I don't know"),
        ("```sql\nSELECT 2", "SELECT 2"),
    ],
)
def test_extract_sql(text, expected):
    assert extract_sql(text) == expected


def test_render_order_system_demos_user():
    program = PromptProgram(
        name="p",
        system="Role.",
        instruction="Do it.",
        context=("Ctx.",),
        schema="compact",
        output_format="One line.",
        demos=(Demo({"question": "q1"}, "a1"),),
        user_template="Q: {{ question }}",
    )
    messages = program.render({"question": "q2"}, schema_text="t(a int)")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert (
        messages[0]["content"]
        == "Role.\n\nDo it.\n\nCtx.\n\nDatabase schema:\nt(a int)\n\nOne line."
    )
    assert messages[1]["content"] == "Q: q1" and messages[3]["content"] == "Q: q2"


def test_zero_shot_is_the_bare_question():
    program = get_strategy("zero-shot")(SQL_TASK)
    assert program.render({"question": "How many?"}) == ({"role": "user", "content": "How many?"},)
    assert program.parser == "sql"


def test_schema_role_includes_role_schema_and_format():
    program = get_strategy("schema-role")(SQL_TASK)
    system = program.render({"question": "q"}, schema_text="orders(id integer PK)")[0]["content"]
    assert "SQL analyst" in system and "orders(id integer PK)" in system and "SELECT" in system


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_load_round_trip(tmp_path, suffix):
    program = PromptProgram(name="p", system="s", context=("a", "b"), demos=(Demo({"q": 1}, "x"),))
    path = tmp_path / f"p{suffix}"
    program.save(path)
    assert PromptProgram.load(path) == program


def test_load_rejects_unknown_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nsytem: typo\n")
    with pytest.raises(ConfigError, match="sytem"):
        PromptProgram.load(path)


def test_template_with_unknown_field_is_a_clear_error():
    with pytest.raises(ConfigError, match="input fields"):
        PromptProgram(name="p", user_template="{{ nope }}").render({"question": "q"})


def test_unknown_strategy_lists_choices():
    with pytest.raises(TailorError) as info:
        get_strategy("magic")
    assert "zero-shot" in info.value.hint


def test_compact_and_create_schema(tmp_path):
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE r(region_id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE c(id INTEGER PRIMARY KEY, region_id INTEGER REFERENCES r(region_id));"
    )
    conn.close()
    compact = sqlite_schema(str(db), "compact")
    assert compact.splitlines() == [
        "r(region_id integer PK, name text)",
        "c(id integer PK, region_id integer -> r.region_id)",
    ]
    assert "CREATE TABLE r" in sqlite_schema(str(db), "create")
