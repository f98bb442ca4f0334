"""Systems a comparison is given rather than builds: the entries of the task folder's
`systems.yaml` (an API model with its prompt, an OpenAI fine-tune that `tailor import
openai-job` recorded...) and `--teacher` (a strong prompted model). Each is evaluated like any
prompt system, on the same frozen test subset; nothing is set up here, so their setup cost is
unknown (null), not zero. They run under every preset: the user asked for them.

Unlike the modules beside it this one registers nothing at import: its systems depend on the
task and the command, so the runner asks `brought_specs` for them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tailorlm.backends import api_model_of, as_backend
from tailorlm.backends.spec import ModelSpec
from tailorlm.compare.registry import APPROACH_TEXTS, SystemSpec, Texts
from tailorlm.compare.systems.base import (
    Context,
    NotPossible,
    Setup,
    SystemRun,
    TeacherTokens,
    check_trainable,
    prompt_system,
    step_event,
    train_event,
    trained_system,
)
from tailorlm.config import BroughtSystem
from tailorlm.errors import ConfigError
from tailorlm.experiments import resolve_program
from tailorlm.tasks import Task

TEACHER = "teacher"
ORDER = 300  # after the built-in systems, in systems.yaml order

_KEPT_WHERE_MADE = "rebuild it where it was made"


def _texts(entry: BroughtSystem, api: bool) -> Texts:
    base = APPROACH_TEXTS[entry.approach]
    access = "an API (the provider hosts it)" if api else base.access
    return replace(base, access=access, effort="made elsewhere (not measured here)")


def teacher_entry(teacher: str, prompt: str | Path | None) -> BroughtSystem:
    """`--teacher SPEC [--teacher-prompt FILE]` as a brought prompt system."""
    if prompt is not None and not Path(prompt).is_file():
        raise ConfigError(
            f"--teacher-prompt {prompt}: file not found",
            hint="a saved prompt program (tailor prompt optimize saves one), or leave it out",
        )
    shown = ModelSpec.parse(teacher).short_name()
    return BroughtSystem(
        id=TEACHER,
        label=f"Teacher ({shown}, prompted)",
        model=teacher,
        prompt=str(Path(prompt).resolve()) if prompt is not None else None,
        approach="prompt",
        description=f"the teacher {teacher}",
    )


def brought_entries(task: Task, teacher: BroughtSystem | None = None) -> list[BroughtSystem]:
    """The task folder's systems.yaml entries (read and checked once), then the teacher."""
    return [*task.brought_systems(), *([teacher] if teacher is not None else [])]


def brought_specs(
    entries: list[BroughtSystem], teacher: BroughtSystem | None = None
) -> list[SystemSpec]:
    """The entries as systems, and the student of `teacher` when there is one."""
    specs = [_spec(entry, ORDER + i) for i, entry in enumerate(entries)]
    return specs + ([_distilled_spec(teacher)] if teacher is not None else [])


def brought_keys(task: Task, entries: list[BroughtSystem]) -> list[dict[str, Any]]:
    """What the compare run's config keys on: each entry, with its prompt file's hash (not its
    path, so an edited prompt re-runs the comparison and a moved folder does not)."""
    keys = []
    for entry in entries:
        key = entry.model_dump()
        if entry.prompt:
            data = (task.root / entry.prompt).read_bytes()
            key["prompt"] = hashlib.sha256(data).hexdigest()
        keys.append(key)
    return keys


def _spec(entry: BroughtSystem, order: int) -> SystemSpec:
    spec = ModelSpec.parse(entry.model)

    def build(ctx: Context) -> SystemRun:
        return brought_run(ctx, entry)

    return SystemSpec(
        entry.id,
        entry.label or entry.id,
        entry.approach,
        entry.description or f"brought: {entry.model}",
        build,
        order=order,
        texts=_texts(entry, spec.engine.api),
        brought=True,
    )


def brought_run(ctx: Context, entry: BroughtSystem) -> SystemRun:
    prompt = ctx.task.root / entry.prompt if entry.prompt else None
    program = resolve_program(ctx.task, "zero-shot", prompt)
    setup = Setup(wall_s=None, device=None, flops=None, change_action=_KEPT_WHERE_MADE)
    run = prompt_system(ctx, entry.id, as_backend(entry.model), program=program, setup=setup)
    return replace(run, description=entry.description or f"{entry.model} with {program.name}")


# ---------------------------------------------------------------------------- the student

DISTILLED = "distilled"
# Fewer kept labels than this and the student is not trained: say so rather than fit noise.
MIN_LABELS = 16


def _distilled_spec(teacher: BroughtSystem) -> SystemSpec:
    def build(ctx: Context) -> SystemRun:
        return distilled_run(ctx, teacher)

    return SystemSpec(
        DISTILLED,
        "Distilled (fine-tuned on the teacher's labels)",
        "finetune",
        "the base model fine-tuned on the teacher's answers to the train inputs",
        build,
        order=ORDER + 90,
        builds_on=(TEACHER,),
        pairs_with=(TEACHER,),  # can the student replace the teacher?
        texts=replace(
            APPROACH_TEXTS["finetune"],
            effort="inputs without labels: the teacher labels them, then LoRA training "
            "({tokens} training tokens)",
            use_case="leaving an API model: its answers taught to a small self-hosted model",
        ),
        brought=True,
    )


def distilled_run(ctx: Context, teacher: BroughtSystem) -> SystemRun:
    """Label the train inputs with the teacher (its program; the train split's gold answers are
    never read), keep what the task can check without gold, write those rows as a task (dev
    from them too; test is the task's own), fine-tune the base on it and evaluate the student
    on the task's frozen test subset like every other system."""
    from tailorlm.labelling import label_split, write_labelled_task
    from tailorlm.tasks import load_task
    from tailorlm.training import run_finetune

    check_trainable(ctx)
    program = ctx.built[TEACHER].system.program
    labels = label_split(
        ctx.task,
        teacher=ctx.built[TEACHER].system.backend,
        program=program,
        store=ctx.store,
        progress=lambda done, total: ctx.emit(step_event(DISTILLED, "label", done, total)),
    )
    if labels.kept < MIN_LABELS:
        raise NotPossible(
            f"the teacher's answers to {labels.total} train inputs left {labels.kept} usable "
            f"labels (at least {MIN_LABELS} needed): {_dropped(labels.dropped)}"
        )
    folder = ctx.store.root / ".derived" / labels.run_id
    if not (folder / "task.yaml").is_file():
        write_labelled_task(labels, folder, source_task=ctx.task, min_kept=MIN_LABELS)
    student_task = load_task(folder)
    outcome = run_finetune(
        student_task,
        model=ctx.model,
        config=ctx.preset.finetune,
        store=ctx.store,
        progress=lambda event: ctx.emit(train_event(DISTILLED, event)),
    )
    run = trained_system(ctx, DISTILLED, outcome.run_id, "")
    teacher_backend = ctx.built[TEACHER].system.backend
    spent = TeacherTokens(
        api_model_of(teacher_backend), labels.prompt_tokens, labels.completion_tokens
    )
    setup = replace(
        run.setup,
        teacher=spent,  # the teacher's calls, priced at its prices (not as the student's)
        change_action="relabel the new inputs with the teacher, then retrain",
    )
    words = f"{labels.kept}/{labels.total} train inputs labelled by the teacher"
    return replace(
        run,
        setup=setup,
        description=f"{ctx.preset.finetune.method} fine-tune on {words}",
        runs={**run.runs, "label": labels.run_id},
    )


def _dropped(dropped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(dropped.items(), key=lambda kv: -kv[1]))
