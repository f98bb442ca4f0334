"""Weights -> prompt: the fine-tuned model with a prompt optimized for it on dev (the training
prompt stays unless a candidate beats it significantly)."""

from __future__ import annotations

from tailorlm.compare.registry import SystemSpec, register_system
from tailorlm.compare.systems.base import Context, SystemRun, prompt_for


def build(ctx: Context) -> SystemRun:
    return prompt_for(ctx, SPEC.id, "finetuned")


SPEC = register_system(
    SystemSpec(
        "finetuned-optimized",
        "Fine-tuned + optimized prompt",
        "both",
        "adapter with a prompt optimized for it",
        build,
        order=50,
        builds_on=("finetuned",),
        preset_section="optimize_finetuned",
    )
)
