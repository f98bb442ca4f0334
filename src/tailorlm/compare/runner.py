"""`run_compare`: build and measure the registered systems on one frozen test subset and store the
result as a `compare` run holding `comparison.json` (docs/comparison-schema.md).

Every step underneath is an ordinary stored run (eval, optimize, finetune, latency), reused when
its config and data hash match, so a rerun after an interruption redoes only what was missing.
The compare run itself is reused the same way; an interrupted one is marked so by the run store
and never looks complete (its folder keeps the `.tmp-` name until `comparison.json` is in)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tailorlm.backends import ModelLike, as_backend, engine_of, spec_of
from tailorlm.backends.base import Backend
from tailorlm.compare import measure
from tailorlm.compare.curve import learning_curve
from tailorlm.compare.latency import LatencyProbe, measure_latency
from tailorlm.compare.presets import Preset, get_preset
from tailorlm.compare.registry import registered, status_words
from tailorlm.compare.systems import (
    BASELINE,
    STEPS,
    Context,
    NotPossible,
    SystemRun,
    SystemSpec,
)
from tailorlm.compare.systems.brought import (
    brought_entries,
    brought_keys,
    brought_specs,
    teacher_entry,
)
from tailorlm.config import run_config
from tailorlm.errors import TailorError, exception_line
from tailorlm.experiments import default_max_tokens
from tailorlm.hardware import cpu_threads_fixed, machine, release_memory
from tailorlm.store import RunRecord, RunStore
from tailorlm.store.steps import artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.types import EventFn, Example, GenerationOptions

KIND = "compare"
FILE = artifact(KIND, "comparison")
SCHEMA_VERSION = 1
log = logging.getLogger("tailorlm")


@dataclass(frozen=True)
class CompareOutcome:
    run_id: str
    comparison: dict[str, Any]
    reused: bool
    resumed: bool
    path: Path  # comparison.json inside the finished run folder

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def to_pandas(self) -> Any:
        """One row per system: id, label, approach, status, quality, CI, n, latency, reason
        (the report's `to_pandas()` adds the cost per 1,000 requests)."""
        from tailorlm.compare.notebook import systems_frame

        return systems_frame(self.comparison)

    def _repr_html_(self) -> str:
        from tailorlm.compare.notebook import comparison_html

        return comparison_html(self.comparison)


def run_compare(
    task: str | Path | Task,
    *,
    model: ModelLike = None,
    preset: str | Preset = "quick",
    budget: int | None = None,
    limit: int | None = None,
    systems: str | list[str] | tuple[str, ...] | None = None,
    teacher: str | None = None,
    teacher_prompt: str | Path | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    progress: EventFn | None = None,
) -> CompareOutcome:
    """Compare the registered systems (compare/systems/: prompts, fine-tunes and their
    combinations; the preset's, or `systems`) on `task`'s frozen test split.

    `model` is the base model: a spec (default smollm2-135m), a ModelSpec, or a ready Backend
    (e.g. a FakeBackend in tests: fine-tuning then needs the weights its `spec` names).
    `budget` overrides the optimizer budgets, `limit` the test subset size of the preset,
    `systems` the systems it runs (ids or "all"; the systems they build on are added).
    `teacher` (a model spec, with `teacher_prompt`, a saved program) adds the prompted teacher
    and a student fine-tuned on its labels; the task folder's systems.yaml adds its systems."""
    started = time.perf_counter()
    task = task if isinstance(task, Task) else load_task(task)
    chosen = get_preset(preset).with_overrides(budget=budget, limit=limit, systems=systems)
    store = store or RunStore()
    base = as_backend(model)
    spec = spec_of(base)
    shown = spec.text if spec is not None else base.name
    teacher_row = teacher_entry(teacher, teacher_prompt) if teacher else None
    entries = brought_entries(task, teacher_row)
    specs = (*registered(), *brought_specs(entries, teacher_row))
    config = compare_config(
        task, shown, chosen, engine_of(base), specs, brought_keys(task, entries)
    )
    opened = open_step(
        store,
        KIND,
        config,
        task.data_hash(),
        name=task.name,
        task=task.name,
        model=shown,
        reuse=reuse,
        can_reuse=_holds_everything,
    )
    trainable = spec.text if spec is not None else None
    with opened as step, cpu_threads_fixed():
        if step.record is not None:
            done = step.record
            # The bar is not part of the measurement: a reused comparison takes today's.
            comparison = {**done.read_json(FILE), "target": task.config.target}
            return CompareOutcome(done.id, comparison, True, False, done.dir / FILE)
        writer = step.out
        ctx = _context(task, chosen, store, trainable, base, progress, specs)
        comparison = _compare(ctx, writer.id, shown, started)
        writer.write_json(FILE, comparison)
        writer.set_summary(_short_summary(comparison))
        record = writer.complete()
    return CompareOutcome(record.id, comparison, False, step.resumed, record.dir / FILE)


def _holds_everything(record: RunRecord) -> bool:
    """A comparison whose learning curve failed is measured again (its systems' steps are
    reused, so only the curve runs): a rerun is how a user retries it. Read from the run's
    summary in the index: no file is opened to decide."""
    return not record.summary.get("learning_curve_error")


def compare_config(
    task: Task,
    model: str,
    preset: Preset,
    engine: str | None = None,
    specs: tuple[SystemSpec, ...] | None = None,
    brought: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    specs = registered() if specs is None else specs
    return run_config(
        KIND,
        task.ref,
        model,
        preset.optimize.seed,
        engine=engine,
        preset=preset.to_dict(),
        systems=[s.id for s in specs],
        schema=SCHEMA_VERSION,
        **({"brought": brought} if brought else {}),  # without: the config (hash) of before
    )


def _context(
    task: Task,
    preset: Preset,
    store: RunStore,
    model: str | None,
    base: Backend,
    progress: EventFn | None,
    specs: tuple[SystemSpec, ...],
) -> Context:
    options = GenerationOptions(
        max_new_tokens=preset.max_new_tokens or default_max_tokens(task),
        batch_size=preset.batch_size,
        seed=preset.optimize.seed,
    )
    emit = progress or (lambda _event: None)
    return Context(
        task, preset, store, model, base, options, machine()["device"], emit, specs=specs
    )


def _compare(ctx: Context, run_id: str, model: str, started: float) -> dict[str, Any]:
    examples = _subset(ctx.task, ctx.preset.test_limit)
    entries, rows, timings = _run_systems(ctx, examples)
    tuned = ctx.built.get("finetuned")
    curve_started = time.perf_counter()
    curve, curve_error = learning_curve(ctx) if tuned else ([], None)
    timings["learning_curve"] = time.perf_counter() - curve_started
    comparison = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "task": ctx.task.name,
        "task_kind": ctx.task.config.output_type,
        "metric": ctx.task.config.metric,
        "target": ctx.task.config.target,
        "model": model,
        "preset": ctx.preset.name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_s": None,  # set last, below
        "hardware": machine(),
        "split": "test",
        "n_examples": len(examples),
        "split_rows": len(ctx.task.split("test")),
        "example_ids": [ex.id for ex in examples],
        "baseline": BASELINE,
        "systems": entries,
        "comparisons": measure.comparisons(rows, [ex.id for ex in examples], ctx.specs),
        "learning_curve": curve,
        "learning_curve_error": curve_error,
        "loss_curve": measure.loss_curve(ctx.store, tuned.runs.get("finetune") if tuned else None),
        "items": measure.items(examples, rows),
        "timings": timings,
    }
    comparison["wall_s"] = time.perf_counter() - started
    return comparison


def _run_systems(
    ctx: Context, examples: list[Example]
) -> tuple[list[dict[str, Any]], dict[str, measure.Rows], dict[str, float]]:
    """Build, evaluate and probe each system in order: (entries, eval rows, seconds spent)."""
    entries, rows, timings = [], {}, {}
    for spec in ctx.specs:
        started = time.perf_counter()
        run, status, reason = _build(ctx, spec)
        probe = _probe(ctx, spec, run, examples[: ctx.preset.latency_sample]) if run else None
        got = measure.eval_rows(ctx.store, run) if run else None
        if got is not None:
            rows[spec.id] = got
        entry = measure.system_entry(spec, run, status=status, reason=reason, rows=got, probe=probe)
        entries.append(entry)
        timings[spec.id] = time.perf_counter() - started
        release_memory()
        ctx.emit({"event": "system", "system": spec.id, "entry": entry, "wall_s": timings[spec.id]})
    return entries, rows, timings


def _build(ctx: Context, spec: SystemSpec) -> tuple[SystemRun | None, str, str | None]:
    """Run one system's step; a system that cannot run keeps its row with the reason."""
    ctx.emit({"event": "system-start", "system": spec.id, "label": spec.label})
    if not spec.brought and not ctx.preset.runs(spec.id):
        why = (
            f"not chosen for this {ctx.preset.name} comparison "
            "(`--systems all` or `--preset standard` runs every system)"
        )
        return _skip(ctx, spec, "skipped", why)
    missing = [sid for sid in spec.builds_on if sid not in ctx.built]
    if missing:
        label = next((s.label for s in ctx.specs if s.id == missing[0]), missing[0]).lower()
        reason = ctx.reasons.get(missing[0], "not built")
        return _skip(ctx, spec, "not_possible", f"needs the {label} system, which is {reason}")
    try:
        run = STEPS.get(spec.id, spec.build)(ctx)
    except NotPossible as exc:
        return _skip(ctx, spec, "not_possible", exc.message)
    except TailorError as exc:
        return _skip(ctx, spec, "failed", exc.message)
    except Exception as exc:  # one system's crash must not lose the other four
        log.debug("system %s failed", spec.id, exc_info=True)
        return _skip(ctx, spec, "failed", exception_line(exc))
    ctx.built[spec.id] = run
    return run, "ok", None


def _skip(ctx: Context, spec: SystemSpec, status: str, reason: str) -> tuple[None, str, str]:
    words = status_words(status)
    ctx.reasons[spec.id] = f"{words}: {reason}"
    log.debug("%s: %s: %s", spec.id, words, reason)  # the comparison (and CLI) show it
    return None, status, reason


def _probe(
    ctx: Context, spec: SystemSpec, run: SystemRun, sample: list[Example]
) -> LatencyProbe | None:
    """Latency one request at a time; a failure here leaves latency null, not the system."""
    if not sample:
        return None
    ctx.emit({"event": "step", "system": spec.id, "stage": "latency", "done": 0, "total": 1})
    try:
        return measure_latency(ctx.task, run.system, sample, ctx.options, ctx.store)
    except Exception as exc:  # noqa: BLE001 - a measurement, not the system, went wrong
        log.warning("%s: latency not measured: %s", spec.id, exc)
        return None


def _subset(task: Task, limit: int | None) -> list[Example]:
    examples = task.split("test")
    return examples[:limit] if limit else examples


def _short_summary(comparison: dict[str, Any]) -> dict[str, Any]:
    scored = [s for s in comparison["systems"] if s["quality"]["score"] is not None]
    best = max(scored, key=lambda s: s["quality"]["score"], default=None)
    return {
        "preset": comparison["preset"],
        "n": comparison["n_examples"],
        "systems": {s["id"]: s["status"] for s in comparison["systems"]},
        "quality": best["quality"]["score"] if best else None,
        "best": best["id"] if best else None,
        "wall_s": comparison["wall_s"],
        "learning_curve_error": comparison["learning_curve_error"],  # a rerun retries it
    }
