"""The L4 orchestration: search on dev, store the search, score the winner on test once."""

from __future__ import annotations

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.optimize import OptimizeSettings, optimize_prompt
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore
from tailorlm.tasks import load_task

from .test_optimizer import gold_when_schema_and_demos

SETTINGS = OptimizeSettings(
    budget=40, minibatch=4, bootstrap=0, similarity="lexical", select_rows=8
)


@pytest.fixture(scope="module")
def sql_task():
    return load_task("sql-sales")


def test_search_is_stored_and_winner_tested_once(sql_task):
    fake = FakeBackend(responder=gold_when_schema_and_demos(sql_task))
    outcome = optimize_prompt(sql_task, settings=SETTINGS, model=fake, test_limit=5)
    record = RunStore().get(outcome.run_id)
    assert record.kind == "optimize" and record.is_complete
    trials = record.read_jsonl("trials.jsonl")
    assert len(trials) == record.summary["candidates"] >= 2
    assert all(t["outcomes"] and "program" in t for t in trials)
    assert sum(t["calls"] for t in trials) == record.summary["calls"] <= 40
    saved = PromptProgram.load(record.dir / "program.yaml")
    assert saved == outcome.program and saved.meta["optimize_run"] == record.id
    assert outcome.test is not None and outcome.test.summary.n == 5
    # the test split: only the winner, only once
    assert len(fake.calls) == record.summary["calls"] + 5
    test_record = RunStore().get(outcome.test.run_id)
    assert test_record.load_config()["split"] == "test"
    assert test_record.load_config()["program"]["meta"]["optimize_run"] == record.id


def test_identical_search_is_reused_without_calling_the_model(sql_task):
    first = optimize_prompt(
        sql_task, settings=SETTINGS, model=FakeBackend(default="SELECT 1"), test_limit=3
    )
    again = FakeBackend(default="SELECT 1")
    second = optimize_prompt(sql_task, settings=SETTINGS, model=again, test_limit=3)
    assert second.reused and second.run_id == first.run_id and again.calls == []
    assert second.test.reused and second.test.run_id == first.test.run_id


def test_without_test_the_test_split_is_not_touched(sql_task):
    fake = FakeBackend(default="SELECT 1")
    outcome = optimize_prompt(sql_task, settings=SETTINGS, model=fake, test=False)
    assert outcome.test is None
    test_questions = {ex.inputs["question"] for ex in sql_task.split("test")}
    assert not any(call[-1]["content"] in test_questions for call in fake.calls)
