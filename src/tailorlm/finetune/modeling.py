"""The model being trained: a causal LM (with a PEFT LoRA adapter, or fully trainable) behind a
module whose forward returns the summed loss over answer tokens only.

Computing logits only where the loss needs them skips the vocabulary projection for prompt and
padding tokens: with a 49k vocabulary that projection is about a fifth of a small model's
forward pass, and its float32 logits are most of the activation memory."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.data import IGNORE_INDEX
from tailorlm.hardware import cpu_bf16


def resolve_precision(precision: str) -> str:
    """`bf16` on a GPU that supports it and on a CPU with native bf16 instructions, else
    `fp32` (PyTorch emulates bf16 on other CPUs, which is slower than float32)."""
    import torch

    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16() else "fp32"


def load_model(path: str, cfg: FinetuneConfig, precision: str) -> Any:
    """The base model in the weight dtype training needs, with an adapter when method=lora."""
    from transformers import AutoModelForCausalLM

    from tailorlm.backends.models import quiet_transformers

    quiet_transformers()
    # In bf16, LoRA keeps the frozen base in bf16 (adapters stay float32); full fine-tuning
    # keeps float32 master weights and lets autocast run the matmuls in bf16.
    dtype = "bfloat16" if precision == "bf16" and cfg.method == "lora" else "float32"
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, attn_implementation=training_attention()
    )
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return add_adapter(model, cfg) if cfg.method == "lora" else model


def training_attention() -> str:
    """`eager` on a CPU: the rows trained here are short (a micro-batch holds at most
    `max_batch_tokens`), and PyTorch's CPU flash-attention backward is slow for them (a LoRA
    step on sql-sales rows ran ~13% faster with eager attention, same loss up to rounding).
    `sdpa` on a GPU. Generation uses SDPA (see `generation_attention`)."""
    import torch

    return "sdpa" if torch.cuda.is_available() else "eager"


@contextmanager
def generation_attention(model: Any) -> Iterator[None]:
    """Generate with the backends' SDPA attention (backends/attention.py) from a model trained
    with another implementation: with long prompts and a growing cache it is the faster one on
    a CPU (measured: 18 s vs 28 s for 16 few-shot prompts)."""
    from tailorlm.backends.attention import decode_attention

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    before = lm.config._attn_implementation
    wanted = decode_attention(str(next(lm.parameters()).device))
    if before != wanted:
        lm.set_attn_implementation(wanted)
    try:
        yield
    finally:
        if before != wanted:
            lm.set_attn_implementation(before)


def add_adapter(model: Any, cfg: FinetuneConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", category=FutureWarning)
        return get_peft_model(model, lora)


def completion_loss_module(model: Any) -> Any:
    """Wrap `model` in an nn.Module whose forward returns (summed answer-token loss)."""
    import torch

    from tailorlm.finetune.losses import summed_cross_entropy

    class _CompletionLoss(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.model = inner  # PeftModel or PreTrainedModel: its keys name the checkpoint

        @property
        def causal_lm(self) -> Any:
            inner = self.model
            return inner.get_base_model() if hasattr(inner, "get_base_model") else inner

        def forward(self, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
            targets = labels[:, 1:]
            keep = targets != IGNORE_INDEX
            picked = self._logits(input_ids, attention_mask, lambda h: h[:, :-1][keep])
            return summed_cross_entropy(picked, targets[keep])

        def padded_loss(self, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
            """The same summed loss computed at every position (ignored labels add nothing),
            so its shapes do not depend on the batch: what a CUDA graph replays (graphs.py).
            `attention_mask` is 4D, used by the model as it is."""
            logits = self._logits(input_ids, attention_mask, lambda h: h[:, :-1])
            return torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).float(),
                labels[:, 1:].flatten(),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )

        def _logits(self, input_ids: Any, attention_mask: Any, select: Any) -> Any:
            """Logits at the positions `select` takes from [batch, seq, ...]; the vocabulary
            projection runs on those only (a soft-capping model projects first)."""
            lm = self.causal_lm
            with adapter_casts_off(self.model, input_ids.device.type):
                if getattr(lm.config, "final_logit_softcapping", None):  # e.g. Gemma 2
                    return select(
                        self.model(
                            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                        ).logits
                    )
                out = lm.get_decoder()(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                )
                return lm.get_output_embeddings()(select(out.last_hidden_state))

    return _CompletionLoss(model)


def adapter_casts_off(model: Any, device_type: str) -> Any:
    """Under bf16 autocast, stop PEFT from casting each LoRA layer's input to the adapter's
    float32: autocast casts it straight back to bf16 for the matmul, so the round trip changes
    no value (bf16 -> float32 -> bf16 is exact) and only costs two copies of the activations per
    adapted layer (measured: ~13% of a CPU LoRA step). Outside autocast the casts are needed."""
    import torch

    if not hasattr(model, "peft_config") or not torch.is_autocast_enabled(device_type):
        return nullcontext()
    from peft.helpers import disable_input_dtype_casting

    return disable_input_dtype_casting(model)


def param_counts(model: Any) -> dict[str, int]:
    """Parameter counts the FLOP estimate needs (tied embeddings counted once)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    total = sum(p.numel() for p in model.parameters())
    embed = lm.get_input_embeddings().weight.numel()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "embedding": embed, "trainable": trainable}


def estimate_flops(counts: dict[str, int], tokens: int, answer_tokens: int, method: str) -> float:
    """2N per token forward; backward 4N when every weight trains, ~2N for LoRA (activation
    gradients only, plus the small adapter). The vocabulary projection runs on answer tokens."""
    adapter = counts["trainable"] if method == "lora" else 0
    body = counts["total"] - counts["embedding"] - adapter
    factor = 6 if method == "full" else 4
    return float(
        (factor * body + 6 * adapter) * tokens + factor * counts["embedding"] * answer_tokens
    )
