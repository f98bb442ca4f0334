"""The fine-tuning configuration: every hyper-parameter with its help text (reused by `--help`
and the report's configuration table). Unknown keys are errors. `resolved()` fills the defaults
that depend on the method, so the stored config says exactly what ran."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Chosen for a 2-core CPU and the 135M default model; a GPU user raises batch_size.
DEFAULT_LR = {"lora": 1e-3, "full": 5e-5}
# Padded tokens per micro-batch on a CPU: ~1.3 GB of activations for the 135M model in bf16,
# so a comparison stays under 4 GiB. Measured here (LoRA, sql-sales rows, 2 threads): 768
# tokens ran as fast as 1024 within noise, 512 about 8% slower.
CPU_BATCH_TOKENS = 768


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["lora", "full"] = Field(
        default="lora",
        description="`lora` trains a small PEFT adapter; `full` updates every weight.",
    )
    epochs: int = Field(default=2, ge=1, description="Passes over the training split.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (caps `epochs`)."
    )
    learning_rate: float | None = Field(
        default=None,
        gt=0,
        description="Peak learning rate. Default: 1e-3 for LoRA, 5e-5 for full fine-tuning.",
    )
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field(
        default="cosine", description="Decay after warmup."
    )
    warmup_ratio: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of the steps spent warming the learning rate up.",
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    lora_rank: int = Field(default=16, ge=1, description="LoRA rank `r` (adapter size).")
    lora_alpha: int = Field(
        default=32, ge=1, description="LoRA scaling numerator (scale = alpha / r)."
    )
    lora_dropout: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Dropout on the LoRA input (0, PEFT's default: a step is ~20% faster "
        "without it; early stopping on dev guards against overfitting).",
    )
    target_modules: str | list[str] = Field(
        default="all-linear",
        description="Modules that get an adapter: `all-linear` or a list of module names "
        "such as [q_proj, v_proj].",
    )
    batch_size: int = Field(default=8, ge=1, description="Rows per micro-batch on each device.")
    grad_accum: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    max_batch_tokens: int | None = Field(
        default=None,
        ge=0,
        description="Split a micro-batch whose padded size (rows x longest row) exceeds this "
        "many tokens into smaller ones; the step's gradient stays the same. Bounds activation "
        f"memory (~1.8 MB per token for the 135M model in bf16). Default: {CPU_BATCH_TOKENS} "
        "on a CPU, no cap on a GPU; 0: no cap.",
    )
    group_by_length: bool = Field(
        default=True,
        description="Batch rows of similar length together (shuffled in groups), so little "
        "compute goes to padding.",
    )
    max_length: int = Field(
        default=1024,
        ge=8,
        description="Longest prompt + answer in tokens; longer rows are an error.",
    )
    train_size: int | None = Field(
        default=None, ge=1, description="Train on the first N rows of a seeded shuffle of train."
    )
    eval_every: int = Field(
        default=50, ge=0, description="Dev loss every N steps (0: only at the end of each epoch)."
    )
    save_every: int = Field(
        default=25, ge=1, description="Write a resumable checkpoint every N optimizer steps."
    )
    keep_checkpoints: int = Field(default=2, ge=1, description="Complete checkpoints kept on disk.")
    early_stopping_patience: int = Field(
        default=3, ge=0, description="Stop after N dev evaluations without improvement (0: never)."
    )
    dev_limit: int | None = Field(
        default=None, ge=1, description="Dev rows used for the dev loss (default: all)."
    )
    metric_limit: int = Field(
        default=40,
        ge=0,
        description="Dev rows generated and scored with the task metric at the end of each "
        "epoch (0: skip; generation is the slow part on a CPU).",
    )
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in backward: less memory, ~30% slower."
    )
    cuda_graphs: bool | None = Field(
        default=None,
        description="Replay each training step's forward and backward as a CUDA graph (one "
        "GPU, one process, one micro-batch a step; batches padded to a few widths): a small "
        "model's step is launch-bound on a GPU. Default: on for models under 1B parameters "
        "(TAILOR_CUDA_GRAPHS=0: off).",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="`auto`: bf16 on a GPU or CPU with native bf16 (AVX512-BF16/AMX), "
        "else float32.",
    )
    seed: int = Field(default=0, description="Seeds data order, adapter init and dropout.")

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LR[self.method]

    def resolved(self) -> FinetuneConfig:
        """The same config with method-dependent defaults written in."""
        return self.model_copy(update={"learning_rate": self.lr})

    def batch_tokens(self, device_type: str) -> int | None:
        """The micro-batch token cap in effect on a device of this type (None: no cap)."""
        if self.max_batch_tokens is not None:
            return self.max_batch_tokens or None
        return CPU_BATCH_TOKENS if device_type == "cpu" else None

    def describe(self) -> dict[str, Any]:
        """{field: (value, help)} for reports and `--help` tables."""
        return {
            name: (getattr(self, name), field.description)
            for name, field in type(self).model_fields.items()
        }
