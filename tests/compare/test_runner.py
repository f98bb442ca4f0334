"""run_compare with a fake model: every system in order, reuse, failures kept as rows, and an
interrupted comparison that never looks complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.compare import SPECS, run_compare
from tailorlm.compare import systems as systems_module
from tailorlm.store import INTERRUPTED, RunStore
from tailorlm.tasks import load_task

from .helpers import TINY, schema_and_demos_fake

IDS = [s.id for s in SPECS]
SCHEMA_DOC = Path(__file__).parents[2] / "docs" / "comparison-schema.md"


@pytest.fixture(scope="module")
def sql_task():
    return load_task("sql-sales")


def _compare(task, fake, **kwargs):
    return run_compare(task, preset=TINY, model=fake, **kwargs)


def _by_id(comparison):
    return {s["id"]: s for s in comparison["systems"]}


def test_every_system_in_order_and_the_schema_fields(sql_task):
    outcome = _compare(sql_task, schema_and_demos_fake(sql_task))
    c = outcome.comparison
    assert [s["id"] for s in c["systems"]] == IDS
    statuses = [s["status"] for s in c["systems"]]
    assert statuses == ["ok", "ok", "ok"] + ["not_possible"] * 4  # the fake has no weights
    assert c["n_examples"] == 6 and c["example_ids"] == [e.id for e in sql_task.split("test")[:6]]
    assert c["split_rows"] == len(sql_task.split("test"))
    assert c["baseline"] == "zero-shot" and c["task_kind"] == "sql" and c["split"] == "test"
    systems = _by_id(c)
    assert systems["zero-shot"]["quality"]["score"] == 0.0
    best = systems["best-prompt"]
    assert best["quality"] == {"score": 1.0, "ci": [1.0, 1.0], "n": 6, "passed": 6}
    assert best["artifacts"]["prompt_tokens"] > 50 and best["artifacts"]["adapter_bytes"] is None
    assert best["per_request"]["latency_p50_s"] is not None
    assert systems["optimized-prompt"]["setup"]["model_calls"] > 0
    assert systems["optimized-prompt"]["change"]["action"] == "re-run the optimizer"
    tuned = systems["finetuned"]
    assert "no local weights" in tuned["reason"] and not tuned["reused"]
    assert set(tuned["quality"].values()) == set(tuned["per_request"].values()) == {None}
    for part in ("quality", "setup", "per_request", "artifacts", "change"):
        assert set(tuned[part]) == set(best[part])  # same keys, all null
    pairs = {(p["a"], p["b"]): p for p in c["comparisons"]}
    assert pairs[("best-prompt", "zero-shot")]["diff"] == 1.0
    assert pairs[("best-prompt", "zero-shot")]["mcnemar_p"] < 0.05
    assert len(c["items"]) == 6 and set(c["items"][0]["outputs"]) == set(IDS[:3])
    assert c["learning_curve"] == [] and c["loss_curve"] is None
    record = RunStore().get(outcome.run_id)
    assert record.kind == "compare" and record.is_complete
    assert record.read_json("comparison.json") == c


def test_top_level_and_system_keys_match_the_schema_doc(sql_task):
    c = _compare(sql_task, schema_and_demos_fake(sql_task)).comparison
    doc = SCHEMA_DOC.read_text()
    documented = set(re.findall(r'^  "(\w+)":', doc, flags=re.M))
    assert set(c) == documented
    system_keys = set(re.findall(r'^      "(\w+)":', doc, flags=re.M))
    for entry in c["systems"]:
        assert set(entry) == system_keys


def test_a_second_compare_is_reused_without_calling_the_model(sql_task):
    first = _compare(sql_task, schema_and_demos_fake(sql_task))
    again = schema_and_demos_fake(sql_task)
    second = _compare(sql_task, again)
    assert second.reused and second.run_id == first.run_id and again.calls == []
    assert second.comparison == first.comparison


def test_a_compare_on_other_hardware_is_not_reused(sql_task):
    """Greedy outputs and latencies depend on the device and precision: a run measured on one
    is not handed back for another, nor are its optimizer steps."""
    first_backend = schema_and_demos_fake(sql_task)
    first_backend.device, first_backend.dtype = "cpu", "bfloat16"
    first = _compare(sql_task, first_backend)
    again = schema_and_demos_fake(sql_task)
    again.device, again.dtype = "cuda:0", "bfloat16"
    second = _compare(sql_task, again)
    assert not second.reused and second.run_id != first.run_id and again.calls
    assert not _by_id(second.comparison)["optimized-prompt"]["reused"]


def test_engine_names_device_and_precision(monkeypatch):
    from tailorlm.backends import FakeBackend, LazyBackend, engine_of

    monkeypatch.setenv("TAILOR_CPU_BF16", "0")
    assert engine_of(LazyBackend("smollm2-135m", device="cpu")) == "cpu/float32"
    assert engine_of(LazyBackend("llamacpp:smollm2-135m")) == "llama.cpp"
    assert engine_of(LazyBackend("openai:gpt-4o-mini")) is None
    assert engine_of(FakeBackend()) is None
    loaded = FakeBackend()
    loaded.engine = "llama.cpp"  # as a loaded LlamaCppBackend names itself: the same key
    assert engine_of(loaded) == engine_of(LazyBackend("llamacpp:smollm2-135m"))


def test_steps_are_reused_by_a_different_comparison(sql_task):
    _compare(sql_task, schema_and_demos_fake(sql_task))
    other = TINY.with_overrides(budget=10)  # only the optimizer's config changes
    outcome = run_compare(sql_task, preset=other, model=schema_and_demos_fake(sql_task))
    systems = _by_id(outcome.comparison)
    assert systems["zero-shot"]["reused"] and systems["best-prompt"]["reused"]
    assert not outcome.reused


def test_api_only_model_cannot_be_finetuned(sql_task):
    fake = schema_and_demos_fake(sql_task)
    fake.spec = "openai:gpt-4o-mini"  # prompt systems on the fake, standing in for an API model
    outcome = _compare(sql_task, fake)
    systems = _by_id(outcome.comparison)
    assert systems["finetuned"]["status"] == "not_possible"
    assert "API-only" in systems["finetuned"]["reason"]
    assert "needs the fine-tuned (lora) system" in systems["finetuned-optimized"]["reason"]
    assert outcome.comparison["model"] == "openai:gpt-4o-mini"


def test_a_crashing_system_keeps_its_row(sql_task, monkeypatch):
    def boom(ctx):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(systems_module.STEPS, "optimized-prompt", boom)
    outcome = _compare(sql_task, schema_and_demos_fake(sql_task))
    row = _by_id(outcome.comparison)["optimized-prompt"]
    assert row["status"] == "failed" and row["reason"] == "RuntimeError: boom"
    assert row["quality"]["score"] is None and row["per_request"]["latency_p50_s"] is None
    assert [s["id"] for s in outcome.comparison["systems"]] == IDS


def test_an_interrupted_compare_never_looks_complete_and_resumes(sql_task):
    fake = schema_and_demos_fake(sql_task)
    calls = {"n": 0}

    def interrupting(messages):
        calls["n"] += 1
        if calls["n"] > 8:  # zero-shot (6 + 2 latency) done, then Ctrl-C
            raise KeyboardInterrupt
        return fake.responder(messages)

    with pytest.raises(KeyboardInterrupt):
        _compare(sql_task, FakeBackend(responder=interrupting))
    store = RunStore()
    (run,) = store.list(kind="compare")
    assert run.status == INTERRUPTED and run.dir.name.startswith(".tmp-")
    assert not (run.dir / "comparison.json").exists()
    assert not (store.root / run.id).exists()
    outcome = _compare(sql_task, schema_and_demos_fake(sql_task))
    assert outcome.resumed and outcome.run_id == run.id
    assert _by_id(outcome.comparison)["zero-shot"]["reused"]
    assert store.get(run.id).is_complete


def test_the_report_layer_reads_what_compare_writes(sql_task):
    schema = pytest.importorskip("tailorlm.report.schema")
    fake = schema_and_demos_fake(sql_task)
    fake.spec = "openai:gpt-4o-mini"
    c = _compare(sql_task, fake).comparison
    parsed = schema.parse_comparison(c)
    assert [s.id for s in parsed.systems] == IDS
    assert parsed.system("finetuned").status == "not_possible"


def test_cpu_threads_are_chosen_once_from_the_load_before_the_run(monkeypatch):
    import os

    import torch

    from tailorlm import hardware
    from tailorlm.hardware import cpu_threads, cpu_threads_fixed

    if torch.cuda.is_available():
        pytest.skip("GPU: threads are left alone")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(hardware, "busy_cores", lambda: 0.1)
    before = torch.get_num_threads()
    with cpu_threads_fixed():
        assert torch.get_num_threads() == 2
        # later, this process's own work keeps the cores busy; fine-tuning keeps the choice
        monkeypatch.setattr(hardware, "busy_cores", lambda: 2.0)
        assert cpu_threads() == 2
    assert torch.get_num_threads() == before and "OMP_NUM_THREADS" not in os.environ


def test_busy_cores_reads_the_cpu_now():
    import os

    from tailorlm.hardware import busy_cores

    assert 0.0 <= busy_cores(window_s=0.05) <= (os.cpu_count() or 1) + 1e-9


def test_systems_choose_what_runs_and_the_rest_keep_a_skipped_row(sql_task):
    c = _compare(sql_task, schema_and_demos_fake(sql_task), systems="best-prompt").comparison
    statuses = {s["id"]: s["status"] for s in c["systems"]}
    assert statuses.pop("zero-shot") == statuses.pop("best-prompt") == "ok"
    assert set(statuses.values()) == {"skipped"}
    assert "--systems all" in _by_id(c)["optimized-prompt"]["reason"]
