from __future__ import annotations

import json
import shutil

import pytest
import torch

from tailorlm.finetune import checkpoint as ckpt
from tailorlm.finetune.data import collate
from tailorlm.finetune.modeling import completion_loss_module, load_model
from tailorlm.finetune.train import (
    DEV_LOG,
    TRAIN_LOG,
    make_accelerator,
    make_optimizer,
    train,
    weights_digest,
)
from tests.finetune.helpers import GradRecorder, tiny_job, tiny_prepared


@pytest.fixture(scope="module")
def prep(tiny_model_dir):
    return tiny_prepared(tiny_model_dir)


def _batch(prep, n=4):
    return collate(prep.train_rows[:n], prep.tokenizer.pad_token_id)


def test_lora_steps_change_only_the_adapter_and_lower_the_loss(prep):
    torch.manual_seed(0)
    model = load_model(prep.model_path, prep.config, "fp32")
    net = completion_loss_module(model)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimizer = make_optimizer(net, prep.config)
    batch = _batch(prep)
    losses = []
    for _ in range(8):
        loss = net(**batch)
        (loss / (batch["labels"] != -100).sum()).backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert {n for n in changed if "lora_B" in n}  # B starts at zero: it must have moved
    assert losses[-1] < losses[0]


def test_completion_loss_equals_transformers_loss_on_answer_tokens(prep):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(prep.model_path, dtype="float32")
    batch = _batch(prep)
    with torch.no_grad():
        ours = completion_loss_module(model)(**batch)
        reference = model(**batch).loss  # mean over label tokens
    n_answer = (batch["labels"][:, 1:] != -100).sum()
    assert torch.allclose(ours / n_answer, reference, atol=1e-5)


def test_training_writes_logs_best_adapter_and_sealed_checkpoints(prep, tmp_path):
    job = tiny_job(prep, tmp_path / "run")
    events = []
    result = train(job, make_accelerator("fp32"), events.append)
    assert result.state.step == 4 and result.total_steps == 4
    logged = [json.loads(x) for x in (job.run_dir / TRAIN_LOG).read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    assert [json.loads(x)["step"] for x in (job.run_dir / DEV_LOG).read_text().splitlines()] == [
        2,
        4,
    ]
    assert (job.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    kept = ckpt.checkpoint_steps(job.run_dir)
    assert [s for s, _ in kept] == [4, 2] and all(ckpt.is_complete(p) for _, p in kept)
    # A LoRA checkpoint holds the adapter, not the frozen base model.
    state_files = {p.name for p in (kept[0][1] / "state").iterdir()}
    assert {"model.safetensors", "optimizer.bin", "custom_checkpoint_0.pkl"} <= state_files
    assert (kept[0][1] / "state" / "model.safetensors").stat().st_size < 200_000
    assert {e["event"] for e in events} >= {"start", "step", "eval", "end"}
    assert all("tokens_per_s" in e and "eta_s" in e for e in events if e["event"] == "step")


class _Interrupt(Exception):
    pass


def _optimizer_state(folder):
    return torch.load(folder / "state" / "optimizer.bin", weights_only=False)["state"]


def test_resume_continues_at_the_right_step_with_the_same_state(prep, tmp_path):
    straight = tiny_job(prep, tmp_path / "straight")
    expected = train(straight, make_accelerator("fp32"))

    job = tiny_job(prep, tmp_path / "interrupted")

    def stop_at_step_3(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(job, make_accelerator("fp32"), stop_at_step_3)
    assert ckpt.latest_complete(job.run_dir).name == "ckpt-0000002"
    events = []
    resumed = train(job, make_accelerator("fp32"), events.append)
    assert resumed.resumed_from == 2 and events[0] == {
        "event": "start",
        "step": 2,
        "total": 4,
        "resumed": True,
    }
    assert resumed.state.step == 4
    assert resumed.digest == expected.digest  # same weights, bit for bit
    a, b = (
        _optimizer_state(ckpt.latest_complete(straight.run_dir)),
        _optimizer_state(ckpt.latest_complete(job.run_dir)),
    )
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key]["exp_avg"], b[key]["exp_avg"])
        assert torch.equal(a[key]["exp_avg_sq"], b[key]["exp_avg_sq"])
    steps = [json.loads(x)["step"] for x in (job.run_dir / TRAIN_LOG).read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the row of the lost step 3 was dropped, then redone


def test_partial_or_corrupt_checkpoints_are_never_taken_for_complete(prep, tmp_path):
    job = tiny_job(prep, tmp_path / "run")
    train(job, make_accelerator("fp32"))
    newest = ckpt.latest_complete(job.run_dir)
    # A checkpoint killed while being written, and one whose file was damaged afterwards.
    shutil.copytree(newest, job.run_dir / ckpt.CHECKPOINTS / "ckpt-0000009.tmp")
    torn = job.run_dir / ckpt.CHECKPOINTS / "ckpt-0000008"
    shutil.copytree(newest, torn)
    (torn / ckpt.MANIFEST).unlink()
    damaged = job.run_dir / ckpt.CHECKPOINTS / "ckpt-0000007"
    shutil.copytree(newest, damaged)
    with open(damaged / "state" / "model.safetensors", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    assert ckpt.latest_complete(job.run_dir) == newest


def test_early_stopping_keeps_the_best_model(prep, tmp_path, monkeypatch):
    import tailorlm.finetune.train as train_mod

    losses = iter([2.0, 1.0, 1.5, 1.7, 1.9, 2.0])
    monkeypatch.setattr(train_mod, "dev_loss", lambda *a, **k: next(losses))
    prep = tiny_prepared(prep.model_path, max_steps=12, eval_every=1, early_stopping_patience=2)
    job = tiny_job(prep, tmp_path / "run")
    result = train(job, make_accelerator("fp32"))
    assert result.state.stopped_early and result.state.step == 4
    assert result.state.best_step == 2 and result.state.best_dev_loss == 1.0
    best = json.loads((job.run_dir / "adapter" / "best.json").read_text())
    assert best == {"step": 2, "dev_loss": 1.0}


def test_weights_digest_tracks_trainable_weights(prep):
    model = load_model(prep.model_path, prep.config, "fp32")
    digest = weights_digest(model)
    next(p for n, p in model.named_parameters() if "lora_B" in n).data += 1
    assert weights_digest(model) != digest


def test_token_cap_splits_micro_batches_without_changing_the_gradient(prep, tmp_path):
    """A capped step runs more, smaller forwards; its loss and gradient are the same."""
    from tailorlm.finetune.train import epoch_steps, train_step

    got = {}
    for cap in (0, 64):
        job = tiny_job(tiny_prepared(prep.model_path, max_batch_tokens=cap), tmp_path / str(cap))
        accelerator = make_accelerator("fp32")
        steps = epoch_steps(job, 0, accelerator)
        assert (len(steps[0]) > 1) == (cap > 0)
        torch.manual_seed(0)
        net = completion_loss_module(load_model(job.model_path, job.config, "fp32"))
        net.to(accelerator.device)  # where train_step puts the batch (a GPU, where there is one)
        recorder = GradRecorder(net)
        loss, answer, _ = train_step(net, recorder, accelerator, steps[0], job)
        got[cap] = (loss / answer, recorder.grads)
    (loss0, g0), (loss1, g1) = got[0], got[64]
    assert loss0 == pytest.approx(loss1, rel=1e-5)
    assert g0.keys() == g1.keys() and g0
    assert any(bool(g.abs().sum() > 0) for g in g0.values())
    for name in g0:
        assert torch.allclose(g0[name], g1[name], atol=1e-6, rtol=1e-4), name


def test_adapter_casts_off_under_bf16_autocast_changes_no_value(prep, monkeypatch):
    """Skipping PEFT's float32 input cast under autocast gives the same loss and gradients."""
    from contextlib import nullcontext

    from tailorlm.finetune import modeling

    torch.manual_seed(0)
    net = completion_loss_module(load_model(prep.model_path, prep.config, "bf16"))
    batch = _batch(prep)
    assert isinstance(modeling.adapter_casts_off(net.model, "cpu"), nullcontext)  # no autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not isinstance(modeling.adapter_casts_off(net.model, "cpu"), nullcontext)
    results = []
    for casts_off in (True, False):
        if not casts_off:
            monkeypatch.setattr(modeling, "adapter_casts_off", lambda *_: nullcontext())
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = net(**batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        results.append((loss.detach(), grads))
    (l0, g0), (l1, g1) = results
    assert torch.equal(l0, l1)
    assert g0.keys() == g1.keys() and g0
    assert all(torch.equal(g0[n], g1[n]) for n in g0)


def test_checkpoints_record_the_mean_train_loss_since_the_previous_one(prep, tmp_path):
    job = tiny_job(prep, tmp_path / "run")  # save_every=2, max_steps=4: checkpoints at 2 and 4
    events = []
    train(job, make_accelerator("fp32"), events.append)
    losses = [json.loads(x)["loss"] for x in (job.run_dir / TRAIN_LOG).read_text().splitlines()]
    expected = {2: sum(losses[:2]) / 2, 4: sum(losses[2:]) / 2}
    for step, folder in ckpt.checkpoint_steps(job.run_dir):
        metrics = json.loads((folder / ckpt.METRICS).read_text())
        assert isinstance(metrics["train_loss"], float)
        assert metrics["step"] == step and metrics["train_loss"] == pytest.approx(expected[step])
    saved = {e["step"]: e["train_loss"] for e in events if e["event"] == "checkpoint"}
    assert saved == pytest.approx(expected)
