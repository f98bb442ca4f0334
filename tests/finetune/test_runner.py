from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from tailorlm.backends import LazyBackend
from tailorlm.backends.local import LocalBackend
from tailorlm.errors import DataError, ModelError, StoreError, TailorError
from tailorlm.finetune import FinetuneConfig, default_program
from tailorlm.finetune import checkpoint as ckpt
from tailorlm.finetune.modeling import resolve_precision
from tailorlm.learning_curve import parse_sizes, run_learning_curve
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import COMPLETE, INTERRUPTED, RunStore
from tailorlm.tasks import load_task
from tailorlm.training import (
    adapter_path_for_run,
    program_path_for_run,
    resume_finetune,
    run_finetune,
)
from tailorlm.types import GenerationOptions
from tests.finetune.helpers import TINY


def _run(model_dir, **overrides):
    return run_finetune(
        "sql-sales", model=str(model_dir), config=FinetuneConfig(**{**TINY, **overrides})
    )


def test_a_finished_run_stores_config_program_adapter_history_and_compute(tiny_model_dir):
    outcome = _run(tiny_model_dir, metric_limit=2)
    record = RunStore().get(outcome.run_id)
    assert record.status == COMPLETE and record.kind == "finetune"
    files = {p.name for p in record.dir.iterdir()}
    assert {
        "config.json",
        "env.json",
        "program.json",
        "adapter",
        "train_log.jsonl",
        "dev_log.jsonl",
        "loss_curve.svg",
        "metrics.json",
        "summary.json",
    } <= files
    assert "checkpoints" not in files and "owner.json" not in files
    config = record.load_config()
    assert config["train"]["learning_rate"] == 1e-3
    assert config["precision"] == resolve_precision("auto") in ("fp32", "bf16")
    assert record.read_json("env.json")["seed"] == 0
    assert "peft" in record.read_json("env.json")["packages"]
    program = PromptProgram.from_dict(record.read_json("program.json"))
    assert program == default_program(load_task("sql-sales").config)
    metrics = record.read_json("metrics.json")
    assert metrics["steps"] == 4 and metrics["best_dev_loss"] > 0
    assert 0.0 <= metrics["dev_metric_best"] <= 1.0 and metrics["dev_metric_n"] == 2
    compute = metrics["compute"]
    assert compute["tokens"] > 0 and compute["flops_estimate"] > 0 and compute["wall_s"] > 0
    assert compute["device"].startswith("cuda" if torch.cuda.is_available() else "cpu")
    assert (record.dir / "adapter" / "tokenizer_config.json").is_file()
    assert ckpt.is_complete(record.dir / "adapter")  # its manifest covers every file
    assert "<svg" in (record.dir / "loss_curve.svg").read_text()


def test_an_identical_run_is_reused(tiny_model_dir):
    first = _run(tiny_model_dir)
    again = _run(tiny_model_dir)
    assert again.reused and again.run_id == first.run_id


def test_the_adapter_serves_through_the_local_backend_with_its_program(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("TAILOR_CPU_BF16", "0")  # the merge is exact in float32 only
    outcome = _run(tiny_model_dir, learning_rate=0.05)
    base, adapter = adapter_path_for_run(outcome.run_id)
    assert base == str(tiny_model_dir) and adapter.endswith("adapter")
    program = PromptProgram.load(program_path_for_run(outcome.run_id))
    messages = [program.render({"question": q}) for q in ("How many orders?", "Total revenue?")]
    options = GenerationOptions(max_new_tokens=8, batch_size=2)
    merged = LocalBackend(base, adapter=adapter)
    unmerged = LocalBackend(base, adapter=adapter, merge_adapter=False)
    plain = LocalBackend(base)
    assert merged.name == f"{base}+adapter:{outcome.run_id}"
    assert LazyBackend(base, adapter=adapter).name == merged.name  # same eval cache key
    out = [c.text for c in merged.generate(messages, options)]
    assert out == [c.text for c in unmerged.generate(messages, options)]
    assert out != [c.text for c in plain.generate(messages, options)]


def test_adapter_errors_name_the_fix(tiny_model_dir, tmp_path):
    with pytest.raises(ModelError, match="not a PEFT adapter folder"):
        LocalBackend(str(tiny_model_dir), adapter=tmp_path)
    outcome = run_finetune("sql-sales", model=str(tiny_model_dir), config=FinetuneConfig(**TINY))
    eval_like = RunStore().start("eval", name="x", task="t", model="m", config={}, data_hash="d")
    eval_like.complete()
    with pytest.raises(StoreError, match="not a fine-tuning run"):
        adapter_path_for_run(eval_like.id)
    assert adapter_path_for_run(outcome.run_id)[1]


def test_interrupted_run_is_marked_and_resumes_to_completion(tiny_model_dir):
    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    config = FinetuneConfig(**TINY)
    with pytest.raises(KeyboardInterrupt):
        run_finetune("sql-sales", model=str(tiny_model_dir), config=config, progress=interrupt)
    (record,) = RunStore().list(kind="finetune")
    assert record.status == INTERRUPTED and record.dir.name.startswith(".tmp-")
    with pytest.raises(StoreError, match="not complete"):
        adapter_path_for_run(record.id)
    events = []
    outcome = resume_finetune(record.id[:20], progress=events.append)
    assert outcome.resumed and events[0]["step"] == 2
    done = RunStore().get(record.id)
    assert done.status == COMPLETE
    assert [r["step"] for r in done.read_jsonl("train_log.jsonl")] == [1, 2, 3, 4]
    with pytest.raises(StoreError, match="already complete"):
        resume_finetune(record.id)


def test_the_same_command_after_ctrl_c_continues_the_run(tiny_model_dir):
    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    config = FinetuneConfig(**TINY)
    with pytest.raises(KeyboardInterrupt):
        run_finetune("sql-sales", model=str(tiny_model_dir), config=config, progress=interrupt)
    again = run_finetune("sql-sales", model=str(tiny_model_dir), config=config)
    assert again.resumed and len(RunStore().list(kind="finetune")) == 1


def test_kill_9_mid_training_then_resume(tiny_model_dir, _tailor_home):
    """A real SIGKILL: whatever state the files are in, resume finds a complete checkpoint."""
    cmd = [
        sys.executable,
        "-m",
        "tailorlm.finetune",
        "sql-sales",
        "--model",
        str(tiny_model_dir),
        "--train-size",
        "24",
        "--dev-limit",
        "8",
        "--batch-size",
        "4",
        "--max-steps",
        "400",
        "--epochs",
        "100",
        "--save-every",
        "1",
        "--eval-every",
        "0",
        "--metric-limit",
        "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            runs = list((_tailor_home / "runs").glob(".tmp-*/checkpoints/ckpt-000000[3-9]"))
            if runs:
                break
            time.sleep(0.2)
        assert runs, "no checkpoint within 60 s"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (record,) = RunStore().list(kind="finetune")
    # killed: nothing in it could mark it, but no process holds its alive lock any more
    assert record.status == INTERRUPTED, record.status
    assert "ended without finishing" in record.summary["error"]
    latest = ckpt.latest_complete(record.dir)
    assert latest is not None
    saved = json.loads((latest / ckpt.TRAINER_STATE).read_text())["step"]
    events = []  # resume just long enough to see it continue from the checkpoint

    def stop_soon(event):
        events.append(event)
        if event["event"] == "step" and event["step"] >= saved + 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        resume_finetune(record.id, progress=stop_soon)
    assert events[0] == {"event": "start", "step": saved, "total": 400, "resumed": True}
    assert RunStore().get(record.id).status == INTERRUPTED


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"max_length": 16}, DataError, "longer than max_length=16"),
        ({"train_size": 5000}, DataError, "train_size=5000"),
    ],
)
def test_bad_input_fails_before_any_run_exists(tiny_model_dir, overrides, error, match):
    with pytest.raises(error, match=match):
        _run(tiny_model_dir, **overrides)
    assert RunStore().list() == []


def test_tiny_dataset_is_refused(tiny_model_dir, tmp_path):
    task = tmp_path / "tiny-task"
    shutil.copytree(load_task("sql-sales").root, task)
    rows = (task / "train.jsonl").read_text().splitlines()[:4]
    (task / "train.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="needs at least 10"):
        run_finetune(
            task, model=str(tiny_model_dir), config=FinetuneConfig(**{**TINY, "train_size": None})
        )
    assert RunStore().list() == []


def test_model_without_chat_template_is_refused(tiny_model_dir, tmp_path):
    plain = tmp_path / "base-model"
    shutil.copytree(tiny_model_dir, plain)
    for name in ("chat_template.jinja", "tokenizer_config.json"):
        path = plain / name
        if name == "chat_template.jinja":
            path.unlink(missing_ok=True)
        else:
            data = json.loads(path.read_text())
            data.pop("chat_template", None)
            path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="no chat template"):
        _run(plain)
    assert RunStore().list() == []


def test_full_disk_is_refused_without_a_run(tiny_model_dir, monkeypatch):
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda _p: usage._replace(free=1000))
    with pytest.raises(TailorError, match="Not enough disk space") as err:
        _run(tiny_model_dir)
    assert "TAILOR_HOME" in err.value.hint
    assert RunStore().list() == []


def test_a_taken_run_name_is_refused(tiny_model_dir):
    run_finetune("sql-sales", model=str(tiny_model_dir), config=FinetuneConfig(**TINY), name="mine")
    with pytest.raises(StoreError, match="named 'mine' already exists"):
        run_finetune(
            "sql-sales",
            model=str(tiny_model_dir),
            config=FinetuneConfig(**{**TINY, "seed": 1}),
            name="mine",
        )


def test_full_finetuning_stores_a_plain_model(tiny_model_dir):
    outcome = _run(tiny_model_dir, method="full", max_steps=2)
    base, adapter = adapter_path_for_run(outcome.run_id)
    assert adapter is None and base.endswith("model")
    backend = LocalBackend(base)
    assert backend.generate(
        [({"role": "user", "content": "hi"},)], GenerationOptions(max_new_tokens=2)
    )


def test_learning_curve_records_one_child_run_per_size(tiny_model_dir):
    config = FinetuneConfig(**{**TINY, "train_size": None, "max_steps": 2, "metric_limit": 1})
    outcome = run_learning_curve("sql-sales", [12, 20], model=str(tiny_model_dir), config=config)
    assert [p.size for p in outcome.points] == [12, 20]
    assert all(p.dev_metric is not None and p.best_dev_loss for p in outcome.points)
    parent = RunStore().get(outcome.run_id)
    assert parent.kind == "learning-curve" and parent.is_complete
    assert [p["size"] for p in parent.read_json("curve.json")] == [12, 20]
    children = [RunStore().get(p.run_id) for p in outcome.points]
    assert all(c.parent_id == parent.id for c in children)
    again = run_learning_curve("sql-sales", [12, 20], model=str(tiny_model_dir), config=config)
    assert again.run_id == outcome.run_id


@pytest.mark.parametrize(
    ("text", "sizes"), [("50,100,all", [50, 100, None]), ("all", [None]), ("7", [7])]
)
def test_parse_sizes(text, sizes):
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "100,50", "all,50", "ten", "0", "50,50"])
def test_parse_sizes_rejects(text):
    with pytest.raises(TailorError, match="--train-sizes"):
        parse_sizes(text)


def test_the_task_metric_is_measured_at_each_epoch_end(tiny_model_dir):
    outcome = _run(tiny_model_dir, train_size=12, max_steps=None, epochs=2, metric_limit=1)
    metrics = RunStore().get(outcome.run_id).read_json("metrics.json")
    assert list(metrics["dev_metric_at_epoch_end"]) == ["3", "6"]  # steps ending each epoch
    dev_log = RunStore().get(outcome.run_id).read_jsonl("dev_log.jsonl")
    # Dev loss every 2 steps and at each epoch end; the metric only at epoch ends.
    assert [(r["step"], "metric" in r) for r in dev_log] == [
        (2, False),
        (3, True),
        (4, False),
        (6, True),
    ]


def test_two_identical_finetunes_at_once_end_in_one_complete_run(tiny_model_dir):
    """The second waits on the step lock and reuses the first's run (it used to take over the
    live run's folder, or start a second training of the same step)."""

    from tests.threads import at_once

    outcomes, errors = at_once(lambda: _run(tiny_model_dir, seed=7), timeout_s=300)
    assert errors == []
    assert len({o.run_id for o in outcomes}) == 1
    assert sorted(o.reused for o in outcomes) == [False, True]
    runs = RunStore().list(kind="finetune")
    assert [r.status for r in runs] == [COMPLETE]
