"""The stored-step service: reuse / resume / new, the one config header, artifact names, and
identical steps that run at the same time (threads and processes) ending in one complete run."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.config import run_config
from tailorlm.errors import StoreError
from tailorlm.experiments import run_eval
from tailorlm.store import RunStore
from tailorlm.store.steps import artifact, open_step, record_lock
from tests.threads import at_once


def _open(store, config, **kw):
    return open_step(store, "eval", config, "d" * 64, name="n", task="t", model="m", **kw)


def test_new_then_reused_then_resumed_after_a_crash(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = run_config("eval", "t", "m", 0, split="test")
    with _open(store, config) as step:
        assert step.status == "new"
        step.out.write_json("x.json", {"a": 1})
    with _open(store, config) as step:
        assert step.reused and step.record.read_json("x.json") == {"a": 1}
        with pytest.raises(StoreError):
            step.out  # noqa: B018 - a reused step has no writer
    other = run_config("eval", "t", "m", 1, split="test")
    with pytest.raises(RuntimeError), _open(store, other) as step:
        step.out.append_jsonl("rows.jsonl", {"i": 0})
        raise RuntimeError("boom")
    with _open(store, other) as step:
        assert step.resumed and step.out.read_jsonl("rows.jsonl") == [{"i": 0}]
    assert [r.status for r in store.list()] == ["complete", "complete"]


def test_run_config_is_the_fields_every_kind_keys_on():
    config = run_config("eval", "sql-sales", "smollm2-135m", 3, split="dev")
    assert {"kind", "task", "model", "seed", "tailorlm", "split"} == set(config)
    assert artifact("eval", "rows") == "examples.jsonl"
    with pytest.raises(StoreError, match="no artifact"):
        artifact("eval", "nope")


def test_before_start_runs_only_for_a_new_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = run_config("eval", "t", "m", 0)

    def refuse():
        raise StoreError("bad input")

    with pytest.raises(StoreError, match="bad input"), _open(store, config, before_start=refuse):
        pass
    assert store.list() == []  # a user error leaves no record


class SlowFake(FakeBackend):
    def generate(self, batch, options=None):
        time.sleep(0.3)
        return super().generate(batch, options)


def test_two_threads_running_the_same_eval_share_one_complete_run():
    outcomes, errors = at_once(
        lambda: run_eval("sql-sales", model=SlowFake(default="SELECT 1"), limit=3)
    )
    assert errors == []
    assert len({o.run_id for o in outcomes}) == 1
    assert sorted(o.reused for o in outcomes) == [False, True]
    runs = RunStore().list()
    assert [(r.kind, r.status) for r in runs] == [("eval", "complete")]
    assert not any(p.name.startswith(".tmp-") for p in RunStore().root.iterdir())


def _eval_in_process(home: str, queue) -> None:
    import os

    os.environ["TAILOR_HOME"] = home
    outcome = run_eval("sql-sales", model=SlowFake(default="SELECT 1"), limit=3)
    queue.put((outcome.run_id, outcome.reused, outcome.resumed))


def test_two_processes_running_the_same_eval_share_one_complete_run(_tailor_home):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_eval_in_process, args=(str(_tailor_home), queue)) for _ in "ab"]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len({run_id for run_id, _, _ in results}) == 1
    assert sorted(reused for _, reused, _ in results) == [False, True]
    assert not any(resumed for _, _, resumed in results)  # nobody took over a live run
    assert [r.status for r in RunStore().list()] == ["complete"]


def test_record_lock_refuses_a_run_that_is_still_busy(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = run_config("eval", "t", "m", 0)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with _open(store, config):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)
    record = store.list()[0]
    with pytest.raises(StoreError, match="still running"), record_lock(store, record, wait=False):
        pass
    release.set()
    holder.join(10)
    with record_lock(store, store.get(record.id), wait=False):
        pass
