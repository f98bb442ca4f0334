"""Orchestration (L4) of a learning curve: fine-tune on growing, nested subsets of train
(`--train-sizes 50,100,all`) and record the dev loss and task metric per size. A
`learning-curve` run holds the curve (curve.json); each size is an ordinary `finetune` run
linked to it by parent id, so an identical size is reused from the store rather than trained
again."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tailorlm.config import run_config
from tailorlm.errors import ConfigError
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore, RunWriter
from tailorlm.store.steps import Step, artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.training import run_finetune
from tailorlm.types import EventFn

KIND = "learning-curve"
CURVE_FILE = artifact(KIND, "curve")
POINTS_FILE = artifact(KIND, "points")


@dataclass(frozen=True)
class CurvePoint:
    size: int
    run_id: str
    best_dev_loss: float | None
    dev_metric: float | None
    wall_s: float
    reused: bool


@dataclass(frozen=True)
class CurveOutcome:
    run_id: str
    points: list[CurvePoint]


def parse_sizes(text: str) -> list[int | None]:
    """'50,100,200,all' -> [50, 100, 200, None] (None: the whole train split)."""
    sizes: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            sizes.append(None)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise ConfigError(
                f"--train-sizes: '{part}' is not a positive number or 'all'",
                hint="e.g. --train-sizes 50,100,200,all",
            )
    numbers = [s for s in sizes if s is not None]
    if not sizes or numbers != sorted(set(numbers)) or sizes.count(None) > 1:
        raise ConfigError(
            f"--train-sizes '{text}' must be increasing sizes, optionally ending with 'all'",
            hint="e.g. --train-sizes 50,100,200,all",
        )
    if None in sizes and sizes[-1] is not None:
        raise ConfigError("--train-sizes: 'all' must come last", hint="e.g. 50,100,all")
    return sizes


def run_learning_curve(
    task: str | Path | Task,
    sizes: list[int | None],
    *,
    model: str | None = None,
    config: FinetuneConfig | None = None,
    prompt_file: str | Path | None = None,
    name: str | None = None,
    store: RunStore | None = None,
    progress: EventFn | None = None,
) -> CurveOutcome:
    from tailorlm.finetune.train import distributed_state

    task = task if isinstance(task, Task) else load_task(task)
    config, store = (config or FinetuneConfig()).resolved(), store or RunStore()
    program = PromptProgram.load(Path(prompt_file)).to_dict() if prompt_file else None
    record = run_config(
        KIND,
        task.ref,
        model,
        config.seed,
        sizes=sizes,
        train=config.model_dump(),
        program=program,
    )
    main = distributed_state().is_main_process
    with contextlib.ExitStack() as held:
        step = held.enter_context(_open(store, record, task, name, model)) if main else None
        if step is not None and step.record is not None:
            stored = step.record.read_json(CURVE_FILE)
            return CurveOutcome(step.record.id, [CurvePoint(**p) for p in stored])
        writer = step.out if step is not None else None
        points = [
            _train_size(task, size, config, model, prompt_file, name, store, progress, writer)
            for size in sizes
        ]
        if writer:
            writer.write_json(CURVE_FILE, [asdict(p) for p in points])
            writer.set_summary(
                {"sizes": [p.size for p in points], "dev_metric": [p.dev_metric for p in points]}
            )
    return CurveOutcome(writer.id if writer else "", points)


def _open(
    store: RunStore, record: dict[str, Any], task: Task, name: str | None, model: str | None
) -> contextlib.AbstractContextManager[Step]:
    # A failed size marks the curve run failed; the sizes trained so far are finetune runs of
    # their own, reused by the next identical curve.
    return open_step(
        store,
        KIND,
        record,
        task.data_hash(),
        name=name,
        task=task.name,
        model=model,
        resume=False,
    )


def _train_size(
    task: Task,
    size: int | None,
    config: FinetuneConfig,
    model: str | None,
    prompt_file: str | Path | None,
    name: str | None,
    store: RunStore,
    progress: EventFn | None,
    writer: RunWriter | None,
) -> CurvePoint:
    label = size if size is not None else "all"
    if progress and writer:
        progress({"event": "curve", "size": label})
    outcome = run_finetune(
        task,
        model=model,
        config=config.model_copy(update={"train_size": size}),
        prompt_file=prompt_file,
        name=f"{name or 'curve'}-n{label}",
        store=store,
        progress=progress,
        parent_id=writer.id if writer else None,
        unique_name=False,
    )
    point = _point(outcome)
    if writer:
        writer.append_jsonl(POINTS_FILE, asdict(point))
    return point


def _point(outcome: Any) -> CurvePoint:
    s = outcome.summary
    return CurvePoint(
        size=s.get("train_rows", 0),
        run_id=outcome.run_id,
        best_dev_loss=s.get("best_dev_loss"),
        dev_metric=s.get("dev_metric"),
        wall_s=s.get("wall_s", 0.0),
        reused=outcome.reused,
    )
