from __future__ import annotations

import json

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.evaluation import chunk_rows
from tailorlm.experiments import run_eval
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tailorlm.types import GenerationOptions


@pytest.fixture(scope="module")
def sql_task():
    return load_task("sql-sales")


def gold_answers(task, split="test", n=10, wrong_every=3):
    """A fake model that answers gold SQL (fenced, as a chatty model would) except every k-th."""
    answers = {}
    for i, ex in enumerate(task.split(split)[:n]):
        sql = ex.output if i % wrong_every else "SELECT 1"
        answers[ex.inputs["question"]] = f"Sure:\n```sql\n{sql};\n```"
    return answers


def test_eval_scores_stores_and_summarizes(sql_task):
    fake = FakeBackend(gold_answers(sql_task), default="no idea")
    outcome = run_eval(sql_task, model=fake, strategy="schema-role", limit=10)
    assert outcome.summary.n == 10
    assert outcome.summary.quality == pytest.approx(0.6)  # items 0, 3, 6, 9 are wrong
    assert outcome.summary.ci_low < 0.6 < outcome.summary.ci_high
    assert outcome.summary.failure_reasons == {"mismatch": 4}
    record = RunStore().get(outcome.run_id)
    assert record.is_complete and record.kind == "eval"
    rows = record.read_jsonl("examples.jsonl")
    assert [r["score"] for r in rows] == [0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    assert rows[1]["prediction"] == sql_task.split("test")[1].output  # parser stripped the fence
    config = record.load_config()
    assert config["program"]["name"] == "schema-role" and config["split"] == "test"
    assert json.loads((record.dir / "env.json").read_text())["python"]


def test_schema_role_prompt_carries_schema_and_role(sql_task):
    fake = FakeBackend(default="SELECT 1")
    run_eval(sql_task, model=fake, strategy="schema-role", limit=2)
    system = fake.calls[0][0]
    assert system["role"] == "system"
    assert "order_items(" in system["content"] and "senior data analyst" in system["content"]
    zero = FakeBackend(default="SELECT 1")
    run_eval(sql_task, model=zero, strategy="zero-shot", limit=2)
    assert [m["role"] for m in zero.calls[0]] == ["user"]


def test_identical_run_is_reused_without_calling_the_model(sql_task):
    first = run_eval(sql_task, model=FakeBackend(default="SELECT 1"), limit=4)
    again = FakeBackend(default="SELECT 1")
    second = run_eval(sql_task, model=again, limit=4)
    assert second.reused and second.run_id == first.run_id and again.calls == []
    third = run_eval(sql_task, model=again, limit=4, reuse=False)
    assert not third.reused and third.run_id != first.run_id


def test_different_generation_options_are_a_different_run(sql_task):
    a = run_eval(sql_task, model=FakeBackend(default="SELECT 1"), limit=3)
    b = run_eval(
        sql_task,
        model=FakeBackend(default="SELECT 1"),
        limit=3,
        options=GenerationOptions(max_new_tokens=7),
    )
    assert a.run_id != b.run_id


class _Interrupting(FakeBackend):
    def __init__(self, fail_on_call: int, **kw):
        super().__init__(**kw)
        self.fail_on_call, self.n = fail_on_call, 0

    def generate(self, batch, options=None):
        self.n += 1
        if self.n == self.fail_on_call:
            raise KeyboardInterrupt
        return super().generate(batch, options)


def test_interrupted_eval_resumes_from_last_chunk(sql_task, monkeypatch):
    monkeypatch.setattr("tailorlm.evaluation.CHUNK_SIZE", 4)
    flaky = _Interrupting(fail_on_call=2, default="SELECT 1")
    options = GenerationOptions(max_new_tokens=32, batch_size=2)  # chunks of 4 = 2 batches
    with pytest.raises(KeyboardInterrupt):
        run_eval(sql_task, model=flaky, limit=10, options=options)
    (stuck,) = RunStore().list(kind="eval")
    assert stuck.status == "interrupted" and not stuck.is_complete
    resumed_backend = FakeBackend(default="SELECT 1")
    outcome = run_eval(sql_task, model=resumed_backend, limit=10, options=options)
    assert outcome.resumed and outcome.run_id == stuck.id and outcome.summary.n == 10
    assert len(resumed_backend.calls) == 6  # the first chunk of 4 was kept
    ids = [r["id"] for r in RunStore().get(outcome.run_id).read_jsonl("examples.jsonl")]
    assert len(ids) == len(set(ids)) == 10


@pytest.mark.parametrize(("batch", "rows"), [(1, 16), (8, 16), (12, 24), (20, 20), (40, 40)])
def test_chunks_hold_whole_batches(batch, rows):
    assert chunk_rows(batch) == rows


class _Recording(FakeBackend):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sizes = []

    def generate(self, batch, options=None):
        self.sizes.append(len(batch))
        return super().generate(batch, options)


def test_eval_generates_each_batch_in_one_call(sql_task):
    backend = _Recording(default="SELECT 1")
    run_eval(sql_task, model=backend, limit=40, options=GenerationOptions(32, batch_size=20))
    assert backend.sizes == [20, 20]
