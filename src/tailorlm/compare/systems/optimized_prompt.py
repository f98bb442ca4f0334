"""The prompt optimizer's winner for the base model, searched on dev (never on test)."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.compare.registry import APPROACH_TEXTS, SystemSpec, register_system
from tailorlm.compare.systems.base import (
    Context,
    SystemRun,
    search,
    search_setup,
    searched_system,
)


def build(ctx: Context) -> SystemRun:
    found = search(ctx, SPEC.id, ctx.base, ctx.preset.optimize, student=None)
    setup = search_setup(ctx, found, "re-run the optimizer")
    # When the winner is the hand-built prompt, that system's evaluation is the winner's too.
    return searched_system(ctx, SPEC.id, found, ctx.built.get("best-prompt"), setup)


SPEC = register_system(
    SystemSpec(
        "optimized-prompt",
        "Optimized prompt",
        "prompt",
        "the optimizer's winner, chosen on dev",
        build,
        order=30,
        preset_section="optimize",
        texts=replace(APPROACH_TEXTS["prompt"], effort="prompt search: {calls} model calls"),
    )
)
