"""Prompt -> weights -> prompt: the prompted fine-tune with a prompt searched for it on dev, its
training prompt the incumbent (the order Soylu, Potts & Khattab 2024 found best most often)."""

from __future__ import annotations

from tailorlm.compare.registry import SystemSpec, register_system
from tailorlm.compare.systems.base import Context, SystemRun, prompt_for


def build(ctx: Context) -> SystemRun:
    return prompt_for(ctx, SPEC.id, "prompted-finetune")


SPEC = register_system(
    SystemSpec(
        "prompted-finetune-optimized",
        "Fine-tuned on the best prompt + optimized prompt",
        "both",
        "prompted adapter with a prompt optimized for it",
        build,
        order=70,
        builds_on=("prompted-finetune",),
        preset_section="optimize_finetuned",
    )
)
