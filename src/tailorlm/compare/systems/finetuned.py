"""A LoRA (or full) fine-tune of the base model on the train split, served with the short
prompt it was trained with."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.backends import LazyBackend
from tailorlm.compare.registry import SystemSpec, register_system
from tailorlm.compare.systems.base import (
    Context,
    SystemRun,
    check_trainable,
    train_event,
    trained_system,
)


def build(ctx: Context) -> SystemRun:
    from tailorlm.training import run_finetune

    check_trainable(ctx)
    if isinstance(ctx.base, LazyBackend):  # the prompt systems are done with it
        ctx.base.unload()
    outcome = run_finetune(
        ctx.task,
        model=ctx.model,
        config=ctx.preset.finetune,
        store=ctx.store,
        progress=lambda event: ctx.emit(train_event(SPEC.id, event)),
    )
    run = trained_system(ctx, SPEC.id, outcome.run_id, "")
    text = f"{ctx.preset.finetune.method} fine-tune, short prompt ({run.system.program.name})"
    return replace(run, description=text)


SPEC = register_system(
    SystemSpec(
        "finetuned",
        "Fine-tuned (LoRA)",
        "finetune",
        "adapter with a short prompt",
        build,
        order=40,
        pairs_with=("best-prompt",),  # the key question: prompt vs weights
        preset_section="finetune",
    )
)
