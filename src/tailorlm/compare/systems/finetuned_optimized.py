"""Weights -> prompt: the fine-tuned model with a prompt optimized for it on dev."""

from __future__ import annotations

from tailorlm.compare.registry import SystemSpec, register_system
from tailorlm.compare.systems.base import (
    Context,
    SystemRun,
    search,
    search_setup,
    searched_system,
)


def build(ctx: Context) -> SystemRun:
    tuned = ctx.built["finetuned"]  # the runner builds `builds_on` first
    settings = ctx.preset.optimize_finetuned
    found = search(ctx, SPEC.id, tuned.system.backend, settings, student=tuned.system.program)
    action = "retrain the adapter, then re-run the optimizer"
    setup = tuned.setup.plus(search_setup(ctx, found, action), action)
    return searched_system(ctx, SPEC.id, found, tuned, setup)


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
