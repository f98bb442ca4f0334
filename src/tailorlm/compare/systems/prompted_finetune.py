"""Prompt -> weights: a fine-tune on train rows rendered with the best prompt program found
for the base model - its role, schema/context, output format and at most TRAIN_DEMOS demos
(never the row itself) - served with that same program (Soylu, Potts & Khattab 2024, "Fine-
Tuning and Prompt Optimization: Two Great Steps that Work Better Together"). Unlike the plain
fine-tune's one-line prompt, every training row carries its own database's schema, so this is
the system that can learn a task whose rows use several databases.

The program comes from the optimizer's winner when that system ran (chosen on dev), else the
hand-built best prompt: never from test scores."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.backends import LazyBackend
from tailorlm.compare.registry import APPROACH_TEXTS, SystemSpec, register_system
from tailorlm.compare.systems.base import (
    Context,
    SystemRun,
    check_trainable,
    train_event,
    trained_system,
)
from tailorlm.prompting.program import PromptProgram

# Demos make training rows long: on sql-sales the best prompt with its schema is ~600 tokens,
# each demo ~60 more; two keep a row within the preset's max_length and training time.
TRAIN_DEMOS = 2


def training_program(program: PromptProgram) -> PromptProgram:
    """`program` with at most TRAIN_DEMOS demos (fixed ones and selected ones)."""
    selector = program.demo_selector
    if selector is not None:
        selector = replace(selector, k=min(selector.k, TRAIN_DEMOS))
    demos = program.demos[:TRAIN_DEMOS]
    return replace(program, name=f"prompted({program.name})", demos=demos, demo_selector=selector)


def build(ctx: Context) -> SystemRun:
    from tailorlm.training import run_finetune

    check_trainable(ctx)
    source = ctx.built.get("optimized-prompt") or ctx.built["best-prompt"]
    program = training_program(source.system.program)
    if isinstance(ctx.base, LazyBackend):
        ctx.base.unload()
    outcome = run_finetune(
        ctx.task,
        model=ctx.model,
        config=ctx.preset.finetune,
        program=program,
        store=ctx.store,
        progress=lambda event: ctx.emit(train_event(SPEC.id, event)),
    )
    text = f"{ctx.preset.finetune.method} fine-tune on rows rendered with {program.name}"
    return trained_system(ctx, SPEC.id, outcome.run_id, text)


SPEC = register_system(
    SystemSpec(
        "prompted-finetune",
        "Fine-tuned on the best prompt",
        "both",
        "adapter trained and served with the best prompt for the base model",
        build,
        order=60,
        builds_on=("best-prompt",),
        pairs_with=("finetuned",),
        preset_section="finetune",
        texts=replace(
            APPROACH_TEXTS["both"],
            effort="labelled data, a prompt, then training on the prompted rows "
            "({tokens} training tokens)",
            personalization="the prompt's role, schema and format learned into the weights, "
            "and sent with every input",
            keeps="the adapter and the full prompt",
        ),
    )
)
