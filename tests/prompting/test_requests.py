from __future__ import annotations

import sqlite3

from tailorlm.backends import FakeBackend
from tailorlm.prompting.context import sqlite_schema
from tailorlm.prompting.program import Demo, PromptProgram
from tailorlm.prompting.requests import build_messages, overhead_tokens
from tailorlm.types import Example


def test_overhead_is_what_the_program_adds_to_the_bare_question():
    fake = FakeBackend()  # counts words
    examples = [Example("1", {"question": "how many orders"}, "x")]
    bare = PromptProgram(name="bare")
    assert overhead_tokens(bare, fake, examples, {}) == 0
    program = PromptProgram(
        name="p", system="You are an analyst.", demos=(Demo({"question": "one two"}, "three"),)
    )
    # system 4 words + demo question 2 + demo answer 1
    assert overhead_tokens(program, fake, examples, {}) == 7


def test_sample_rows_and_foreign_keys(tmp_path):
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE r(id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE c(id INTEGER PRIMARY KEY, r_id INTEGER REFERENCES r(id));"
        "INSERT INTO r VALUES (1, 'North'), (2, 'South'), (3, 'East');"
    )
    conn.commit()
    conn.close()
    text = sqlite_schema(str(db), "compact", 2, True)
    assert "-- 2 sample row(s) of r:\n  1, 'North'\n  2, 'South'" in text
    assert "-- c is empty" in text and "r_id integer -> r.id" in text
    assert "->" not in sqlite_schema(str(db), "compact", 0, False)


def test_schema_comes_from_the_examples_own_database(tmp_path):
    db = tmp_path / "own.db"
    sqlite3.connect(db).executescript("CREATE TABLE mine(a INTEGER);")
    example = Example("1", {"question": "q"}, "x", meta={"db": str(db)})
    program = PromptProgram(name="p", schema="compact")
    assert "mine(a integer)" in build_messages(program, example, {})[0]["content"]
