"""Merging a LoRA adapter into bf16 weights where rounding keeps its update (local backend)."""

from __future__ import annotations

import pytest
import torch

from tailorlm.backends.local import MERGE_TOLERANCE, LocalBackend, merge_error

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")


def _adapter(model_dir, out, scale):
    """A saved LoRA adapter for the tiny model whose B weights are random x `scale`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, scale)
    peft.save_pretrained(out)
    return out


@pytest.fixture
def bf16(monkeypatch):
    monkeypatch.setenv("TAILOR_CPU_BF16", "1")


def test_a_large_update_is_merged_in_bf16_and_a_small_one_kept_apart(
    tiny_model_dir, tmp_path, bf16
):
    large = _adapter(tiny_model_dir, tmp_path / "large", 0.05)
    small = _adapter(tiny_model_dir, tmp_path / "small", 1e-5)
    kept = {}
    for name, adapter in (("large", large), ("small", small)):
        unmerged = LocalBackend(
            str(tiny_model_dir), device="cpu", adapter=adapter, merge_adapter=False
        )
        assert unmerged.dtype == "bfloat16" and not unmerged.adapter_merged
        kept[name] = merge_error(unmerged.model)
        auto = LocalBackend(str(tiny_model_dir), device="cpu", adapter=adapter)
        assert auto.adapter_merged == (kept[name] <= MERGE_TOLERANCE)
        assert hasattr(auto.model, "peft_config") != auto.adapter_merged  # merged: unloaded
    assert kept["large"] < MERGE_TOLERANCE < kept["small"]
    assert kept["small"] > 0.9  # bf16 rounding drops nearly all of a 1e-5 update


def test_float32_merges_and_the_error_is_rounding_only(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_CPU_BF16", "0")
    adapter = _adapter(tiny_model_dir, tmp_path / "a", 1e-5)
    unmerged = LocalBackend(str(tiny_model_dir), device="cpu", adapter=adapter, merge_adapter=False)
    assert unmerged.dtype == "float32"
    assert merge_error(unmerged.model) < 0.05
    assert LocalBackend(str(tiny_model_dir), device="cpu", adapter=adapter).adapter_merged
    assert not unmerged.adapter_merged


def test_a_base_model_has_nothing_to_merge(tiny_model_dir):
    assert merge_error(LocalBackend(str(tiny_model_dir), device="cpu").model) == 0.0
