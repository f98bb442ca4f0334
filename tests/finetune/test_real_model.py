"""Fine-tuning the real packaged SmolLM2-135M (slow: about 90 s on one core of the 2-core CPU,
in bf16 where the CPU has native bf16)."""

from __future__ import annotations

import pytest
import torch

from tailorlm.finetune import FinetuneConfig
from tailorlm.finetune.modeling import completion_loss_module
from tailorlm.finetune.runner import prepare
from tailorlm.finetune.train import dev_loss, make_accelerator
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tailorlm.training import adapter_path_for_run, export_run, run_finetune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning"),
]

CONFIG = {
    "max_steps": 24,
    "batch_size": 4,
    "dev_limit": 16,
    "eval_every": 12,
    "save_every": 12,
    "metric_limit": 0,
}


def _base_dev_loss(prep) -> float:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(prep.model_path, dtype="float32")
    accelerator = make_accelerator("fp32")
    net = accelerator.prepare(completion_loss_module(model))

    class _Job:
        dev_rows, pad_id = prep.dev_rows, prep.tokenizer.pad_token_id
        config = prep.config

    return dev_loss(net, accelerator, _Job)


def test_a_few_dozen_lora_steps_lower_the_dev_loss():
    prep = prepare(load_task("sql-sales"), None, FinetuneConfig(**CONFIG), None)
    before = _base_dev_loss(prep)
    outcome = run_finetune("sql-sales", config=FinetuneConfig(**CONFIG))
    metrics = RunStore().get(outcome.run_id).read_json("metrics.json")
    assert metrics["steps"] == 24
    assert metrics["best_dev_loss"] < 0.8 * before, (before, metrics["best_dev_loss"])
    assert metrics["compute"]["tokens_per_s"] > 0


def test_gguf_export_of_a_merged_adapter_loads_back_with_the_same_logits(tmp_path):
    from transformers import AutoModelForCausalLM

    config = FinetuneConfig(**{**CONFIG, "max_steps": 2, "learning_rate": 0.01, "eval_every": 0})
    outcome = run_finetune("sql-sales", config=config)
    assert adapter_path_for_run(outcome.run_id)[0] == "smollm2-135m"
    result = export_run(outcome.run_id, tmp_path / "out", merge=True, gguf=True, gguf_dtype="f32")
    merged = AutoModelForCausalLM.from_pretrained(result.path, dtype="float32").eval()
    from_gguf = AutoModelForCausalLM.from_pretrained(
        result.path, gguf_file=result.gguf.name, dtype="float32"
    ).eval()
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345, 30, 2]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, from_gguf(ids).logits, atol=1e-4)
