"""Orchestration (L4) for prompt optimization: search on the dev split, store the search as an
`optimize` run (every candidate, its dev scores and cost, and the winning program), then
evaluate the winner on the test split once, as an ordinary `eval` run.

Nothing is selected on test: the winner is fixed and stored before test is touched, and an
identical optimization is reused from the store rather than searched (and tested) again."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.backends import ModelLike, as_backend, engine_of
from tailorlm.backends.base import Backend
from tailorlm.config import run_config
from tailorlm.experiments import EvalOutcome, default_max_tokens, run_eval
from tailorlm.metrics import get_metric
from tailorlm.prompting.optimizer import OptimizationResult, PromptOptimizer
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.strategies import get_strategy
from tailorlm.store import RunRecord, RunStore
from tailorlm.store.steps import artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.types import GenerationOptions, ProgressFn

KIND = "optimize"
PROGRAM_FILE = artifact(KIND, "program")
TRIALS_FILE = artifact(KIND, "trials")
RESULT_FILE = artifact(KIND, "result")
DEFAULT_STUDENT = "schema-role"


@dataclass(frozen=True)
class OptimizeSettings:
    """Hyper-parameters of one optimization (all of them go into the stored config)."""

    budget: int = 150
    minibatch: int = 8
    eta: int = 2
    seed: int = 0
    bootstrap: int | None = None  # train examples to try for bootstrapped demos; None: auto
    proposals: int = 2
    similarity: str = "embedding"
    max_candidates: int = 48
    select_rows: int = 32  # dev rows the winner is chosen on (all of dev where it is smaller)
    incumbent: bool = False  # the student stays unless a candidate beats it significantly

    def bootstrap_size(self) -> int:
        return self.bootstrap if self.bootstrap is not None else min(16, self.budget // 10)


@dataclass(frozen=True)
class OptimizeOutcome:
    run_id: str
    summary: dict[str, Any]
    program: PromptProgram
    program_path: Path
    reused: bool
    test: EvalOutcome | None


def optimize_prompt(
    task: str | Path | Task,
    *,
    settings: OptimizeSettings | None = None,
    model: ModelLike = None,
    student: PromptProgram | None = None,
    proposer: Backend | None = None,
    options: GenerationOptions | None = None,
    store: RunStore | None = None,
    test: bool = True,
    test_limit: int | None = None,
    reuse: bool = True,
    progress: ProgressFn | None = None,
) -> OptimizeOutcome:
    """Optimize a prompt program for `task` within `settings.budget` model calls on dev, store
    the search, then (if `test`) score the winner on the test split once."""
    task = task if isinstance(task, Task) else load_task(task)
    settings = settings or OptimizeSettings()
    backend = as_backend(model)
    student = student or get_strategy(DEFAULT_STUDENT)(task)
    options = options or GenerationOptions(
        max_new_tokens=default_max_tokens(task), seed=settings.seed
    )
    store = store or RunStore()
    engine = engine_of(backend)
    config = optimize_config(task, backend.name, student, settings, options, proposer, engine)
    record, reused = _search_and_store(
        task, backend, student, proposer, settings, options, store, config, reuse, progress
    )
    program_path = record.dir / PROGRAM_FILE
    winner = PromptProgram.load(program_path)
    tested = _test_once(task, backend, winner, options, store, test_limit) if test else None
    return OptimizeOutcome(record.id, dict(record.summary), winner, program_path, reused, tested)


def optimize_config(
    task: Task,
    model: str,
    student: PromptProgram,
    settings: OptimizeSettings,
    options: GenerationOptions,
    proposer: Backend | None,
    engine: str | None = None,
) -> dict[str, Any]:
    return run_config(
        KIND,
        task.ref,
        model,
        settings.seed,
        engine=engine,
        student=student.to_dict(),
        settings={**asdict(settings), "bootstrap": settings.bootstrap_size()},
        proposer=proposer.name if proposer is not None else None,
        generation=asdict(options),
    )


def _search_and_store(
    task: Task,
    backend: Backend,
    student: PromptProgram,
    proposer: Backend | None,
    settings: OptimizeSettings,
    options: GenerationOptions,
    store: RunStore,
    config: dict[str, Any],
    reuse: bool,
    progress: ProgressFn | None,
) -> tuple[RunRecord, bool]:
    """The stored search (reused when identical), and whether it was reused."""
    optimizer = _optimizer(task, backend, proposer, settings, options, progress)
    train, dev = task.split("train"), task.split("dev")
    opened = open_step(
        store,
        KIND,
        config,
        task.data_hash(),
        name=student.name,
        task=task.name,
        model=backend.name,
        reuse=reuse,
        resume=False,  # a search keeps no partial state to continue from
        before_start=lambda: optimizer.check_budget(len(train), len(dev)),  # a user error
    )
    with opened as step:
        if step.record is not None:
            return step.record, True
        writer = step.out
        started = time.perf_counter()
        resources, metric_fn = task.resources(), get_metric(task.config.metric)
        result = optimizer.run(
            student,
            trainset=train,
            valset=dev,
            metric=lambda prediction, ex: metric_fn(prediction, ex, resources),
        )
        meta = {**result.program.meta, "optimize_run": writer.id}  # the test eval links back
        replace(result.program, meta=meta).save(writer.path(PROGRAM_FILE))
        writer.write_jsonl(TRIALS_FILE, (t.to_dict() for t in result.trials))
        detail = {k: v for k, v in result.to_dict().items() if k != "trials"}
        writer.write_json(RESULT_FILE, {**detail, "wall_s": time.perf_counter() - started})
        writer.set_summary(_short_summary(result))
    return store.get(writer.id), False


def _optimizer(
    task: Task,
    backend: Backend,
    proposer: Backend | None,
    settings: OptimizeSettings,
    options: GenerationOptions,
    progress: ProgressFn | None,
) -> PromptOptimizer:
    return PromptOptimizer(
        backend,
        task=task,
        budget=settings.budget,
        resources=task.resources(),
        options=options,
        minibatch=settings.minibatch,
        eta=settings.eta,
        seed=settings.seed,
        max_candidates=settings.max_candidates,
        similarity=settings.similarity,
        bootstrap=settings.bootstrap_size(),
        proposer=proposer,
        proposals=settings.proposals,
        progress=progress,
        select_rows=settings.select_rows,
        incumbent=settings.incumbent,
    )


def _short_summary(result: OptimizationResult) -> dict[str, Any]:
    summary = result.summary()
    return {
        "strategy": summary["winner"],
        "winner_index": summary["winner_index"],
        "split": "dev",
        "quality": summary["dev_quality"],
        "n": summary["dev_n"],
        "calls": summary["calls"],
        "budget": summary["budget"],
        "candidates": summary["candidates"],
        "overhead_tokens": summary["overhead_tokens"],
    }


def _test_once(
    task: Task,
    backend: Backend,
    program: PromptProgram,
    options: GenerationOptions,
    store: RunStore,
    limit: int | None,
) -> EvalOutcome:
    # run_eval reuses an identical stored run: the winner's test score is computed only once.
    return run_eval(
        task,
        model=backend,
        program=program,
        split="test",
        limit=limit,
        options=options,
        store=store,
    )
