"""Zero-shot: the bare question, nothing added (the baseline every system is tested against)."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.compare.registry import APPROACH_TEXTS, SystemSpec, register_system
from tailorlm.compare.systems.base import Context, SystemRun, prompt_system


def build(ctx: Context) -> SystemRun:
    return prompt_system(ctx, SPEC.id, ctx.base, strategy="zero-shot")


SPEC = register_system(
    SystemSpec(
        "zero-shot",
        "Zero-shot",
        "prompt",
        "the bare question, nothing added",
        build,
        order=10,
        texts=replace(APPROACH_TEXTS["prompt"], effort="none: the bare question"),
    )
)
