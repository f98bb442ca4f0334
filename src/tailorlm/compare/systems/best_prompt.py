"""The best hand-built prompt: role + schema/context + output format + k-NN few-shot demos
(the preset's `best_prompt` strategy)."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.compare.registry import SystemSpec, register_system
from tailorlm.compare.systems.base import Context, SystemRun, prompt_system


def build(ctx: Context) -> SystemRun:
    strategy = ctx.preset.best_prompt
    run = prompt_system(ctx, SPEC.id, ctx.base, strategy=strategy)
    return replace(run, description=f"hand-built strategy {strategy}")


SPEC = register_system(
    SystemSpec(
        "best-prompt",
        "Best hand-built prompt",
        "prompt",
        "role + schema + format + few-shot",
        build,
        order=20,
        preset_section="best_prompt",
    )
)
