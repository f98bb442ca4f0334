"""What every compared system's module builds with: the Context a comparison passes, the
SystemRun a build returns, and the shared steps (evaluate a program, search one, train), each
built from the existing Python APIs (run_eval, optimize_prompt, run_finetune), so every step is
an ordinary stored run that an identical later step reuses instead of recomputing.

A build that cannot run raises `NotPossible` (e.g. an API-only model cannot be fine-tuned); the
runner turns it, or any other failure, into a row with a one-line reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tailorlm.backends import ModelSpec
from tailorlm.backends.base import Backend
from tailorlm.compare.presets import Preset
from tailorlm.compare.registry import SystemSpec
from tailorlm.errors import TailorError
from tailorlm.experiments import EvalOutcome, resolve_program, run_eval
from tailorlm.optimize import OptimizeOutcome, OptimizeSettings, optimize_prompt
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore
from tailorlm.system import System
from tailorlm.tasks import Task
from tailorlm.types import EventFn, GenerationOptions


class NotPossible(TailorError):
    """This system cannot be built for this task and model (not a failure of the code)."""


@dataclass(frozen=True)
class TeacherTokens:
    """Tokens a teacher was asked for while building a system (labelling): the report prices
    them at the teacher's API prices, so the break-even includes the labelling."""

    api_model: str | None  # None: a local teacher (its time is in the setup's wall time)
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Setup:
    """The one-off cost of building a system, and what a change of requirements costs."""

    wall_s: float | None = 0.0  # None: not measured here (a system made elsewhere)
    device: str | None = None
    model_calls: int = 0
    train_tokens: int = 0
    flops: float | None = 0.0
    change_action: str = "edit the prompt"
    change_wall_s: float = 0.0
    teacher: TeacherTokens | None = None

    def plus(self, other: Setup, action: str) -> Setup:
        flops = None if self.flops is None or other.flops is None else self.flops + other.flops
        wall = None if self.wall_s is None or other.wall_s is None else self.wall_s + other.wall_s
        return Setup(
            wall_s=wall,
            device=self.device or other.device,
            model_calls=self.model_calls + other.model_calls,
            train_tokens=self.train_tokens + other.train_tokens,
            flops=flops,
            change_action=action,
            change_wall_s=self.change_wall_s + other.change_wall_s,
        )


@dataclass(frozen=True)
class SystemRun:
    """A built and evaluated system: everything the comparison reports about it."""

    eval: EvalOutcome
    system: System
    setup: Setup
    description: str
    runs: Mapping[str, str | None] = field(default_factory=dict)  # setup / finetune run ids


@dataclass
class Context:
    """What every step needs, plus the systems built so far (later steps build on earlier)."""

    task: Task
    preset: Preset
    store: RunStore
    model: str | None  # the base model spec; None when a ready backend was passed in
    base: Backend
    options: GenerationOptions
    device: str
    emit: EventFn
    built: dict[str, SystemRun] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # id -> why it did not run
    # The systems this comparison measures, in table order: the registered ones, then those
    # the task or the command brings (systems/brought.py).
    specs: tuple[SystemSpec, ...] = ()


# ---------------------------------------------------------------------------- prompt systems


def prompt_system(
    ctx: Context,
    sid: str,
    backend: Backend,
    *,
    strategy: str = "zero-shot",
    program: PromptProgram | None = None,
    setup: Setup | None = None,
    adapter_dir: Path | None = None,
) -> SystemRun:
    """`backend` with `program` (else the built-in `strategy`) evaluated on the test subset."""
    program = program or resolve_program(ctx.task, strategy, None)
    outcome = run_eval(
        ctx.task,
        model=backend,
        program=program,
        limit=ctx.preset.test_limit,
        options=ctx.options,
        store=ctx.store,
        progress=lambda done, total: ctx.emit(step_event(sid, "test", done, total)),
    )
    setup = setup or Setup(device=ctx.device)
    system = System(backend, program, adapter_dir)
    return SystemRun(outcome, system, setup, program.name, {"setup": None})


def search(
    ctx: Context,
    sid: str,
    backend: Backend,
    settings: OptimizeSettings,
    student: PromptProgram | None,
) -> OptimizeOutcome:
    missing = [s for s in ("train", "dev") if s not in ctx.task.available_splits()]
    if missing:
        raise NotPossible(f"the task has no {' or '.join(missing)} split to search prompts on")
    return optimize_prompt(
        ctx.task,
        settings=settings,
        model=backend,
        student=student,
        options=ctx.options,
        store=ctx.store,
        test=False,  # the winner is evaluated below on the same frozen subset as the others
        progress=lambda done, total: ctx.emit(step_event(sid, "search", done, total)),
    )


def searched_system(
    ctx: Context, sid: str, search: OptimizeOutcome, same_as: SystemRun | None, setup: Setup
) -> SystemRun:
    """The optimizer's winner on test. When it is exactly the program of `same_as` on the same
    model, that system's evaluation is the winner's too (no second, identical evaluation)."""
    backend = same_as.system.backend if same_as else ctx.base
    runs = {"setup": search.run_id, **_finetune_run(same_as)}
    name = search.summary.get("strategy", search.program.name)
    if same_as is not None and _same_program(search.program, same_as.system.program):
        text = f"optimizer's winner: {name}, the same program as {same_as.system.program.name}"
        return replace(same_as, setup=setup, description=text, runs=runs)
    adapter_dir = same_as.system.adapter_dir if same_as else None
    run = prompt_system(
        ctx, sid, backend, program=search.program, setup=setup, adapter_dir=adapter_dir
    )
    return replace(run, description=f"optimizer's winner: {name}", runs=runs)


def _finetune_run(system: SystemRun | None) -> dict[str, str | None]:
    if system is None or "finetune" not in system.runs:
        return {}
    return {"finetune": system.runs["finetune"]}


def _same_program(a: PromptProgram, b: PromptProgram) -> bool:
    def key(program: PromptProgram) -> str:
        data = {k: v for k, v in program.to_dict().items() if k not in ("name", "meta")}
        return json.dumps(data, sort_keys=True, default=str)

    return key(a) == key(b)


def search_setup(ctx: Context, search: OptimizeOutcome, action: str) -> Setup:
    record = ctx.store.get(search.run_id)
    result = record.read_json("result.json")
    tokens = sum(
        o["prompt_tokens"] + o["completion_tokens"]
        for trial in record.read_jsonl("trials.jsonl")
        for o in trial["outcomes"]
    )
    params = model_params(ctx.model)  # an adapter merged into the base adds no parameters
    wall = float(result["wall_s"])
    return Setup(
        wall_s=wall,
        device=ctx.device,
        model_calls=int(result["calls"]),
        flops=2.0 * params * tokens if params else None,  # forward passes only
        change_action=action,
        change_wall_s=wall,
    )


# ---------------------------------------------------------------------------- fine-tuned systems


def trained_system(ctx: Context, sid: str, run_id: str, description: str) -> SystemRun:
    """A finished fine-tuning run as a system: its model (on the base's engine, so latency and
    cost compare) evaluated with the program it was trained with."""
    from tailorlm.training import adapter_path_for_run, program_path_for_run, tuned_backend

    _, adapter = adapter_path_for_run(run_id, ctx.store)
    backend = tuned_backend(run_id, ctx.model, ctx.store)
    program = PromptProgram.load(program_path_for_run(run_id, ctx.store))
    setup = train_setup(ctx.store, run_id)
    adapter_dir = Path(adapter) if adapter else None
    run = prompt_system(ctx, sid, backend, program=program, setup=setup, adapter_dir=adapter_dir)
    runs = {"setup": run_id, "finetune": run_id}
    return replace(run, description=description, runs=runs)


def prompt_for(ctx: Context, sid: str, tuned_id: str) -> SystemRun:
    """Weights -> prompt: a prompt searched on dev for the fine-tuned system `tuned_id`, its
    training prompt the incumbent (the preset's `optimize_finetuned` search)."""
    tuned = ctx.built[tuned_id]  # the runner builds `builds_on` first
    settings = ctx.preset.optimize_finetuned
    found = search(ctx, sid, tuned.system.backend, settings, student=tuned.system.program)
    action = "retrain the adapter, then re-run the optimizer"
    setup = tuned.setup.plus(search_setup(ctx, found, action), action)
    return searched_system(ctx, sid, found, tuned, setup)


def check_trainable(ctx: Context) -> None:
    if ctx.model is None:
        raise NotPossible(f"backend '{ctx.base.name}' has no local weights to fine-tune")
    if not ModelSpec.parse(ctx.model).engine.trainable:
        raise NotPossible(f"{ctx.model} is an API-only model: its weights cannot be retrained")
    if "train" not in ctx.task.available_splits():
        raise NotPossible("the task has no train split to fine-tune on")


def train_setup(store: RunStore, run_id: str) -> Setup:
    compute = store.get(run_id).read_json("metrics.json")["compute"]
    wall = float(compute["wall_s"])
    return Setup(
        wall_s=wall,
        device=compute["device"],
        train_tokens=int(compute["tokens"]),
        flops=float(compute["flops_estimate"]),
        change_action="retrain the adapter",
        change_wall_s=wall,
    )


# ---------------------------------------------------------------------------- helpers


def model_params(spec: str | None) -> int | None:
    """Parameter count of a local model, from its safetensors headers (no weights loaded);
    None for API models, hub ids and anything unreadable."""
    if spec is None or ModelSpec.parse(spec).engine.api:
        return None
    try:
        from safetensors import safe_open

        from tailorlm.backends.models import resolve_model

        resolved = resolve_model(spec)
        if resolved.hub:
            return None
        total = 0
        for path in Path(resolved.path).glob("*.safetensors"):
            with safe_open(str(path), framework="np") as f:
                total += sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 - not a dict
        return total or None
    except (TailorError, OSError, ValueError, ImportError):
        return None


def _numel(shape: list[int]) -> int:
    out = 1
    for dim in shape:
        out *= dim
    return out


def step_event(sid: str, stage: str, done: float, total: int) -> dict[str, Any]:
    return {"event": "step", "system": sid, "stage": stage, "done": done, "total": total}


def train_event(sid: str, event: Mapping[str, Any]) -> dict[str, Any]:
    if event.get("event") == "step":
        return step_event(sid, "train", int(event["step"]), int(event["total"]))
    return {**event, "system": sid, "event": f"train-{event.get('event')}"}
