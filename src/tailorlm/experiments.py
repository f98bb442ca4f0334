"""Orchestration (L4): config -> system -> evaluation -> run store.

An evaluation is keyed by the hash of its resolved config and the task data: an identical step is
reused from the store instead of recomputed, and an interrupted one resumes where it stopped."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tailorlm.backends import LazyBackend, ModelLike, as_backend, engine_of
from tailorlm.backends.base import Backend, watch_decoding
from tailorlm.config import run_config
from tailorlm.evaluation import EvalSummary, iter_results, summarize
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.strategies import get_strategy
from tailorlm.store import RunRecord, RunStore, RunWriter, canonical_json
from tailorlm.store.steps import artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.types import Example, GenerationOptions, ProgressFn

KIND = "eval"
ROWS_FILE = artifact(KIND, "rows")
STATE_FILE = artifact(KIND, "state")
METRICS_FILE = artifact(KIND, "metrics")
PROGRAM_FILE = artifact(KIND, "program")


@dataclass(frozen=True)
class EvalOutcome:
    run_id: str
    summary: EvalSummary
    reused: bool
    resumed: bool
    config: dict[str, Any]
    run_dir: Path | None = None  # the finished run's folder (None: look the id up in RunStore())

    def record(self) -> RunRecord:
        """The stored run: its summary, config and examples."""
        store = RunStore(self.run_dir.parent) if self.run_dir is not None else RunStore()
        return store.get(self.run_id)

    def to_pandas(self) -> Any:
        """The evaluated examples (examples.jsonl) as a DataFrame, one row per example."""
        return self.record().to_pandas()

    def _repr_html_(self) -> str:
        return self.record()._repr_html_()


def resolve_program(task: Task, strategy: str, prompt_file: str | Path | None) -> PromptProgram:
    if prompt_file is not None:
        return PromptProgram.load(Path(prompt_file))
    return get_strategy(strategy)(task)


def run_eval(
    task: str | Path | Task,
    *,
    model: ModelLike = None,
    program: PromptProgram | None = None,
    strategy: str = "zero-shot",
    prompt_file: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    options: GenerationOptions | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    progress: ProgressFn | None = None,
) -> EvalOutcome:
    """Evaluate one system on one split and store it as a run (or return the stored one).
    `model` is a spec (default smollm2-135m), a ModelSpec or a ready Backend; the prompt is
    `program` if given, else the program file `prompt_file`, else the built-in `strategy`."""
    task = task if isinstance(task, Task) else load_task(task)
    program = program or resolve_program(task, strategy, prompt_file)
    options = options or GenerationOptions(max_new_tokens=default_max_tokens(task))
    examples = task.split(split)[:limit] if limit else task.split(split)
    backend = as_backend(model)
    config = eval_config(task, backend.name, program, split, limit, options, engine_of(backend))
    store = store or RunStore()
    data_hash = task.data_hash(split)
    opened = open_step(
        store,
        KIND,
        config,
        data_hash,
        name=program.name,
        task=task.name,
        model=backend.name,
        reuse=reuse,
        before_start=lambda: load_now(backend),
    )
    with opened as step:
        if step.record is not None:
            summary = EvalSummary(**step.record.read_json(METRICS_FILE))
            record = step.record
            return EvalOutcome(
                record.id, summary, reused=True, resumed=False, config=config, run_dir=record.dir
            )
        writer = step.out
        if step.status == "new" and limit is not None:
            _seed_from_prefix(store, config, task.name, data_hash, writer)
        rows = _evaluate_into(writer, task, examples, program, backend, options, progress)
        wall_s = writer.read_json(STATE_FILE)["wall_s"]
        summary = summarize(rows, wall_s, seed=options.seed, metric=task.config.metric)
        writer.write_json(METRICS_FILE, summary.to_dict())
        writer.write_json(PROGRAM_FILE, program.to_dict())
        writer.set_summary(_short_summary(summary, split, program.name))
    return EvalOutcome(
        writer.id, summary, reused=False, resumed=step.resumed, config=config, run_dir=writer.dir
    )


def _seed_from_prefix(
    store: RunStore, config: dict[str, Any], task: str, data_hash: str, writer: RunWriter
) -> None:
    """Start from the rows of the largest stored evaluation of the same system on a shorter
    prefix of the same split (a comparison that takes more test rows, `--until-decided`):
    no row is generated twice. Greedy rows are the same whatever else is in their batch, up to
    bf16 rounding."""

    def without_limit(c: dict[str, Any]) -> str:
        return canonical_json({k: v for k, v in c.items() if k != "limit"})  # tuples as lists

    same = without_limit(config)
    stored = [
        (r, r.load_config())  # read each config once
        for r in store.list(kind=KIND, task=task, status="complete")
        if r.data_hash == data_hash
    ]
    shorter = [
        (r, c)
        for r, c in stored
        if c.get("limit") is not None and c["limit"] < config["limit"] and without_limit(c) == same
    ]
    if not shorter:
        return
    best, _ = max(shorter, key=lambda pair: pair[1]["limit"])
    for row in best.read_jsonl(ROWS_FILE):
        writer.append_jsonl(ROWS_FILE, row)
    wall = best.read_json(STATE_FILE)["wall_s"] if (best.dir / STATE_FILE).is_file() else 0.0
    writer.write_json(STATE_FILE, {"wall_s": wall})
    writer.set_summary({"seeded_from": best.id})


def load_now(backend: Backend) -> None:
    """Load a lazy model before a new run folder exists: a bad model then fails with its own
    error and leaves no failed run behind, while a reused run still never loads it."""
    if isinstance(backend, LazyBackend):
        _ = backend.loaded


def _evaluate_into(
    writer: RunWriter,
    task: Task,
    examples: list[Example],
    program: PromptProgram,
    backend: Backend,
    options: GenerationOptions,
    progress: ProgressFn | None,
) -> list[dict[str, Any]]:
    """Generate and score the examples not yet in the run folder, appending rows as each chunk
    finishes: an interrupted run resumes from its last complete chunk."""
    rows = writer.read_jsonl(ROWS_FILE)
    done = {r["id"] for r in rows}
    wall = writer.read_json(STATE_FILE, default={"wall_s": 0.0})["wall_s"]
    todo = [ex for ex in examples if ex.id not in done]
    started = time.perf_counter()
    chunks = (
        iter_results(
            todo,
            program,
            backend,
            metric_name=task.config.metric,
            resources=task.resources(),
            options=options,
        )
        if todo
        else iter(())
    )
    batches: dict[int, float] = {}  # rows of the current chunk's batches, done or in part

    def on_step(key: int, ended: int, n_rows: int, step: int) -> None:
        # A row counts as done when it ended; one still decoding, by the share of its
        # token budget spent (an upper bound on what is left).
        batches[key] = max(ended, n_rows * min(1.0, step / max(1, options.max_new_tokens)))
        if progress:  # always, where this is installed; the check is for the type checker
            progress(min(len(rows) + sum(batches.values()), len(examples)), len(examples))

    if progress:
        progress(len(rows), len(examples))  # the total from the start, not "0/?"
    with watch_decoding(on_step) if progress else contextlib.nullcontext():
        for chunk in chunks:
            for item in chunk:
                writer.append_jsonl(ROWS_FILE, item.to_dict())
                rows.append(item.to_dict())
            batches.clear()
            writer.write_json(STATE_FILE, {"wall_s": wall + time.perf_counter() - started})
            if progress:
                progress(len(rows), len(examples))
    writer.write_json(STATE_FILE, {"wall_s": wall + time.perf_counter() - started})
    return rows


def default_max_tokens(task: Task) -> int:
    """Room for 1.5x the 95th-percentile answer of the train split (at ~3 characters a token,
    a safe side for code and SQL), so a rambling answer is cut early instead of running to a
    fixed 256 tokens; the output type's fixed default when there is no train split."""
    answers = sorted(len(ex.output) for ex in _train_or_empty(task))
    if not answers:
        return {"sql": 160, "label": 16, "code": 256}.get(task.config.output_type, 256)
    p95 = answers[min(len(answers) - 1, int(0.95 * len(answers)))]
    return max(16, min(1024, -(-p95 * 3 // 6)))  # ceil(p95 * 1.5 / 3)


def _train_or_empty(task: Task) -> list[Example]:
    return task.split("train") if "train" in task.available_splits() else []


def eval_config(
    task: Task,
    model: str,
    program: PromptProgram,
    split: str,
    limit: int | None,
    options: GenerationOptions,
    engine: str | None = None,
) -> dict[str, Any]:
    return run_config(
        KIND,
        task.ref,
        model,
        options.seed,
        engine=engine,
        program=program.to_dict(),
        split=split,
        limit=limit,
        generation=asdict(options),
    )


def _short_summary(summary: EvalSummary, split: str, strategy: str) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "split": split,
        "n": summary.n,
        "quality": summary.quality,
        "ci": [summary.ci_low, summary.ci_high],
        "prompt_tokens_mean": summary.prompt_tokens_mean,
        "latency_p50_s": summary.latency_p50_s,
    }
