"""The padded training step that replays as a CUDA graph on a GPU (finetune/graphs.py), run
eagerly here: same loss and gradients as the eager step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tailorlm.finetune.graphs import AUTO_MAX_PARAMS, StepGraphs, bucket_width, use_graphs
from tailorlm.finetune.modeling import completion_loss_module, load_model
from tailorlm.finetune.train import make_accelerator, train_step
from tests.finetune.helpers import GradRecorder, tiny_job, tiny_prepared


def test_bucket_widths_are_few_and_fit_the_longest_row():
    assert [bucket_width(n) for n in (1, 64, 65, 128, 129, 300)] == [64, 64, 128, 128, 256, 512]
    assert bucket_width(300, limit=400) == 304  # the power of two would pass the model's limit
    assert bucket_width(300, limit=512) == 512


def _accelerator(device="cuda", processes=1):
    return SimpleNamespace(device=torch.device(device), num_processes=processes)


def test_graphs_only_where_a_step_can_be_captured(tiny_config, monkeypatch):
    small, large = {"total": 135_000_000}, {"total": AUTO_MAX_PARAMS}
    assert use_graphs(None, _accelerator(), small, tiny_config)
    assert not use_graphs(None, _accelerator(), large, tiny_config)
    assert use_graphs(True, _accelerator(), large, tiny_config)
    assert not use_graphs(False, _accelerator(), small, tiny_config)
    assert not use_graphs(True, _accelerator("cpu"), small, tiny_config)
    assert not use_graphs(True, _accelerator(processes=2), small, tiny_config)
    for change in ({"gradient_checkpointing": True}, {"grad_accum": 2}):
        assert not use_graphs(True, _accelerator(), small, tiny_config.model_copy(update=change))
    monkeypatch.setenv("TAILOR_CUDA_GRAPHS", "0")  # turns the default off, as for decoding
    assert not use_graphs(None, _accelerator(), small, tiny_config)
    assert use_graphs(True, _accelerator(), small, tiny_config)


def _net(job, attention="sdpa", precision="fp32"):
    """The tiny model with an adapter whose B is moved off zero (so every adapter weight gets
    a gradient), in the attention implementation given."""
    from tailorlm.finetune import modeling

    torch.manual_seed(0)
    original = modeling.training_attention
    modeling.training_attention = lambda: attention
    try:
        net = completion_loss_module(load_model(job.model_path, job.config, precision))
    finally:
        modeling.training_attention = original
    assert net.causal_lm.config._attn_implementation == attention
    with torch.no_grad():
        for name, param in net.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    return net


def _check_same(got, grads, want, want_grads, rel=1e-5, atol=1e-6):
    assert got[1:] == want[1:]
    assert got[0] == pytest.approx(want[0], rel=rel)
    assert grads.keys() == want_grads.keys() and want_grads
    assert all(bool(g.abs().sum() > 0) for g in want_grads.values())
    for name, grad in want_grads.items():
        assert torch.allclose(grads[name], grad, atol=atol, rtol=1e-4), name


BATCH = [0, 5, 9]  # 3 rows of a step of 8, of different lengths


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_padded_step_has_the_eager_steps_loss_and_gradients(tiny_model_dir, tmp_path, attention):
    """Rows of different lengths, fewer than the step's rows (spare rows), padded to a bucket:
    the loss and the gradients match the eager step's."""
    prep = tiny_prepared(tiny_model_dir, batch_size=8)
    job = tiny_job(prep, tmp_path)
    accelerator = make_accelerator("fp32")
    assert len({len(prep.train_rows[i]) for i in BATCH}) > 1
    net = _net(job, attention).to(accelerator.device)
    recorder = GradRecorder(net)
    eager = train_step(net, recorder, accelerator, [BATCH], job)
    eager_grads = recorder.grads
    graphs = StepGraphs(net, job.pad_id, rows=8, bf16=False, graph=False)
    for _ in range(2):  # the second step reuses the shape's buffers
        padded = train_step(net, recorder, accelerator, [BATCH], job, graphs)
        assert list(graphs.shapes) == [bucket_width(max(len(prep.train_rows[i]) for i in BATCH))]
        _check_same(padded, recorder.grads, eager, eager_grads)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_replayed_steps_match_the_padded_eager_step(tiny_model_dir, tmp_path, precision):
    """Warm-up steps, the capture and replays (gradients put back after the optimizer dropped
    them) give the eager padded step's loss and gradients; a second shape gets its own graph."""
    prep = tiny_prepared(tiny_model_dir, batch_size=8)
    job = tiny_job(prep, tmp_path)
    accelerator = make_accelerator(precision)
    net = _net(job).to(accelerator.device)
    recorder = GradRecorder(net)
    bf16 = precision == "bf16"
    eager = StepGraphs(net, job.pad_id, rows=8, bf16=bf16, graph=False)
    want = train_step(net, recorder, accelerator, [BATCH], job, eager)
    want_grads = recorder.grads
    graphs = StepGraphs(net, job.pad_id, rows=8, bf16=bf16, graph=True)
    tol = {"rel": 2e-2, "atol": 1e-3} if bf16 else {}
    for _ in range(5):
        got = train_step(net, recorder, accelerator, [BATCH], job, graphs)
        _check_same(got, recorder.grads, want, want_grads, **tol)
    (shape,) = graphs.shapes.values()
    assert shape.graph is not None and not graphs.failed
    short_rows = sorted(range(len(prep.train_rows)), key=lambda i: len(prep.train_rows[i]))[:2]
    for _ in range(4):
        train_step(net, recorder, accelerator, [short_rows], job, graphs)
    assert len(graphs.shapes) == 2 and all(s.graph is not None for s in graphs.shapes.values())


def test_a_batch_larger_than_the_step_is_refused(tiny_model_dir, tmp_path):
    prep = tiny_prepared(tiny_model_dir)
    net = completion_loss_module(load_model(prep.model_path, prep.config, "fp32"))
    graphs = StepGraphs(net, prep.tokenizer.pad_token_id, rows=2, bf16=False, graph=False)
    with pytest.raises(ValueError, match="3 rows"):
        graphs.step(prep.train_rows[:3])
