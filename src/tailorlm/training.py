"""Orchestration (L4) for fine-tuning: task + model + config -> a stored `finetune` run.

The training itself is `tailorlm.finetune` (pure of the store); this module makes it a stored
step: reused when identical, continued from the newest checkpoint when an identical run was
interrupted, and never run twice at once (the step lock). The run's work folder
(`<runs>/.tmp-<id>/`) holds checkpoints while it trains. A finished run keeps: config.json
(resolved), env.json (versions, seed), program.json (the prompt it was trained with -
evaluation must use the same), adapter/ (LoRA) or model/ (full) with the tokenizer,
train_log.jsonl, dev_log.jsonl, loss_curve.svg and metrics.json (losses, dev metric, compute).

Under `accelerate launch` every process runs this code; only the main one touches the store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.backends import LazyBackend, ModelSpec
from tailorlm.errors import ConfigError, DataError, StoreError, TailorError
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.curve import loss_curve_svg
from tailorlm.finetune.runner import (
    KIND,
    Prepared,
    best_metric,
    check_disk,
    drop_checkpoints,
    final_metrics,
    prepare,
    seal_artifact,
    train_in,
)
from tailorlm.finetune.train import ARTIFACT, DEV_LOG, TRAIN_LOG
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore, RunWriter
from tailorlm.store.steps import artifact, open_step, record_lock
from tailorlm.tasks import Task, load_task
from tailorlm.types import EventFn

PROGRAM_FILE = artifact(KIND, "program")
METRICS_FILE = artifact(KIND, "metrics")
LOSS_CURVE_FILE = artifact(KIND, "loss_curve")


@dataclass(frozen=True)
class FinetuneOutcome:
    run_id: str
    summary: dict[str, Any]
    reused: bool
    resumed: bool
    digest: str = ""  # sha256 of the trained weights on this process ("" when reused)


def run_finetune(
    task: str | Path | Task,
    *,
    model: str | None = None,
    config: FinetuneConfig | None = None,
    prompt_file: str | Path | None = None,
    program: PromptProgram | None = None,
    name: str | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    parent_id: str | None = None,
    progress: EventFn | None = None,
    unique_name: bool = True,
) -> FinetuneOutcome:
    """Fine-tune `model` on the task's train split; reuse an identical finished run, continue
    an identical unfinished one, or start a new run. With `unique_name`, a new run may not take
    the `name` of an existing fine-tuning run."""
    task = task if isinstance(task, Task) else load_task(task)
    if program is None and prompt_file:
        program = PromptProgram.load(Path(prompt_file))
    prep = prepare(task, model, config or FinetuneConfig(), program)
    store = store or RunStore()
    with contextlib.ExitStack() as held:
        writers: list[RunWriter] = []

        def open_on_main() -> dict[str, Any]:
            step = held.enter_context(_open(store, prep, name, reuse, parent_id, unique_name))
            if step.record is not None:
                return {"id": step.record.id, "status": step.status, "summary": step.record.summary}
            writers.append(step.out)
            return {"id": step.run_id, "status": step.status, "summary": {}}

        decision = _on_main(open_on_main)
        if decision["status"] == "reused":
            return FinetuneOutcome(decision["id"], decision["summary"], reused=True, resumed=False)
        resumed = decision["status"] == "resumed"
        return _execute(prep, store, decision["id"], writers, resumed, progress)


def resume_finetune(
    run_ref: str, *, store: RunStore | None = None, progress: EventFn | None = None
) -> FinetuneOutcome:
    """Continue an interrupted run from its newest complete checkpoint."""
    store = store or RunStore()
    record = store.get(run_ref)
    if record.kind != KIND:
        raise StoreError(f"Run '{record.id}' is a {record.kind} run, not a fine-tuning run")
    if record.is_complete:
        raise StoreError(
            f"Run '{record.id}' is already complete.", hint="evaluate it with --adapter"
        )
    stored = record.load_config()
    task = load_task(stored["task"])
    program = PromptProgram.from_dict(record.read_json(PROGRAM_FILE))
    prep = prepare(task, stored["model"], FinetuneConfig(**stored["train"]), program)
    if prep.data_hash != record.data_hash:
        raise DataError(
            f"The data of task '{task.name}' changed since run '{record.id}' started.",
            hint="start a new run: `tailor finetune` without --resume",
        )
    with contextlib.ExitStack() as held:
        writers: list[RunWriter] = []

        def reopen_on_main() -> dict[str, Any]:
            held.enter_context(record_lock(store, record, wait=False))
            writers.append(held.enter_context(store.reopen(record.id)))
            return {}

        _on_main(reopen_on_main)
        return _execute(prep, store, record.id, writers, True, progress)


def _open(
    store: RunStore,
    prep: Prepared,
    name: str | None,
    reuse: bool,
    parent_id: str | None,
    unique_name: bool,
) -> contextlib.AbstractContextManager[Any]:
    def before_start() -> None:  # checks that must leave no run behind
        if unique_name and name and any(r.name == name for r in store.list(kind=KIND)):
            raise StoreError(
                f"A fine-tuning run named '{name}' already exists.",
                hint=f"pick another --out name, or delete it with `tailor rm` (see `tailor runs "
                f"--kind {KIND}`)",
            )
        check_disk(store.root, prep)

    return open_step(
        store,
        KIND,
        prep.record,
        prep.data_hash,
        name=name or prep.config.method,
        task=prep.task.name,
        model=prep.model_spec,
        parent_id=parent_id,
        reuse=reuse,
        before_start=before_start,
    )


def _execute(
    prep: Prepared,
    store: RunStore,
    run_id: str,
    writers: list[RunWriter],
    resumed: bool,
    progress: EventFn | None,
) -> FinetuneOutcome:
    """Train on every process; the main one (which holds the writer) publishes the run."""
    writer = writers[0] if writers else None
    if writer is not None:
        writer.write_json(PROGRAM_FILE, prep.program.to_dict())
    result, accelerator = train_in(store.root / f".tmp-{run_id}", prep, progress)
    summary = _finish(prep, writer, result, accelerator) if writer else {}
    return FinetuneOutcome(run_id, summary, reused=False, resumed=resumed, digest=result.digest)


def _finish(prep: Prepared, writer: RunWriter, result: Any, accelerator: Any) -> dict[str, Any]:
    """Main process: final artifacts, metrics and summary; then publish the run."""
    model_dir = seal_artifact(writer.dir, prep)
    best = best_metric(prep, model_dir) if prep.metric_examples else None
    metrics = final_metrics(prep, result, accelerator, best)
    train_log, dev_log = writer.read_jsonl(TRAIN_LOG), writer.read_jsonl(DEV_LOG)
    metrics["train_loss_at_best"] = _train_loss_at(train_log, metrics, prep.config.eval_every)
    writer.write_json(METRICS_FILE, metrics)
    svg = loss_curve_svg(train_log, dev_log)
    writer.path(LOSS_CURVE_FILE).write_text(svg, encoding="utf-8")
    drop_checkpoints(writer.dir)
    summary = _short_summary(metrics)
    writer.set_summary(summary)
    writer.complete()
    return summary


def _train_loss_at(
    train_log: list[dict[str, Any]], metrics: dict[str, Any], window: int
) -> float | None:
    """Mean training loss over the `window` steps up to the best step (what the stored model
    saw last): the train loss an OpenAI checkpoint object reports."""
    best = metrics.get("best_step") or metrics.get("steps") or 0
    losses = [r["loss"] for r in train_log if best - window < r["step"] <= best]
    return sum(losses) / len(losses) if losses else None


def _short_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    compute = metrics["compute"]
    return {
        "method": metrics["method"],
        "steps": metrics["steps"],
        "best_dev_loss": metrics["best_dev_loss"],
        "dev_metric": metrics["dev_metric_best"],
        "train_rows": metrics["rows"]["train"],
        "wall_s": compute["wall_s"],
        "tokens_per_s": compute["tokens_per_s"],
        "flops": compute["flops_estimate"],
        "device": compute["device"],
    }


def _on_main(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `fn` on the main process only and hand its result (or its TailorError) to every
    process."""
    from accelerate.utils import broadcast_object_list

    from tailorlm.finetune.train import distributed_state

    state = distributed_state()
    box: list[Any] = [None]
    if state.is_main_process:
        try:
            box[0] = fn()
        except TailorError as exc:
            box[0] = exc
    if state.num_processes > 1:
        broadcast_object_list(box, from_process=0)
    if isinstance(box[0], TailorError):
        raise box[0]
    return box[0]


# ---------------------------------------------------------------------------- finished runs


def adapter_path_for_run(run_ref: str, store: RunStore | None = None) -> tuple[str, str | None]:
    """(base model spec, adapter folder) of a finished fine-tuning run, for evaluation and
    serving. A full fine-tuning run has no adapter: its spec is the run's `model/` folder."""
    record = (store or RunStore()).get(run_ref)
    if record.kind != KIND:
        raise StoreError(
            f"Run '{record.id}' is a {record.kind} run, not a fine-tuning run.",
            hint=f"list fine-tuning runs with `tailor runs --kind {KIND}`",
        )
    if not record.is_complete:
        raise StoreError(
            f"Fine-tuning run '{record.id}' is {record.status}, not complete.",
            hint=f"finish it with `tailor finetune --resume {record.id}`",
        )
    if record.load_config()["train"]["method"] == "full":
        return str(record.dir / ARTIFACT["full"]), None
    return record.model or record.load_config()["model"], str(record.dir / ARTIFACT["lora"])


def tuned_backend(
    run_ref: str, spec: str | ModelSpec | None = None, store: RunStore | None = None
) -> LazyBackend:
    """The model a finished fine-tuning run trained, on the engine `spec` names (so with
    `--model llamacpp:X` the fine-tuned model runs on llama.cpp like the prompt systems, and
    their latency and cost compare)."""
    base, adapter = adapter_path_for_run(run_ref, store)
    return LazyBackend(ModelSpec.parse(spec).with_weights(base), adapter=adapter)


def program_path_for_run(run_ref: str, store: RunStore | None = None) -> Path:
    """The prompt program a fine-tuning run was trained with (evaluate it with the same)."""
    record = (store or RunStore()).get(run_ref)
    path = record.dir / PROGRAM_FILE
    if not path.is_file():
        raise StoreError(f"Run '{record.id}' has no {PROGRAM_FILE}", hint="is it a finetune run?")
    return path


def engine_model_name(run_id: str) -> str:
    """The model name an inference engine serves a run's fine-tuned weights under: what
    `tailor export --for vllm` names the adapter (or model), and what `tailor serve --engine`
    asks the engine for. The run id: unique, and free of the colons SGLang reads as BASE:NAME."""
    return run_id


ENGINE_LAYOUTS = ("vllm",)  # `--for`: vLLM's layout, which SGLang loads as well


def export_run(
    run_ref: str,
    out: str | Path,
    *,
    merge: bool = False,
    gguf: bool = False,
    gguf_dtype: str = "f16",
    for_engine: str | None = None,
    base_model: str | None = None,
    store: RunStore | None = None,
) -> Any:
    """Export a finished fine-tuning run (see `tailorlm.finetune.export`); with `for_engine`,
    in the layout an inference engine serves (see `tailorlm.finetune.export_vllm`)."""
    store = store or RunStore()
    base, adapter = adapter_path_for_run(run_ref, store)
    program = program_path_for_run(run_ref, store)
    if for_engine is None:
        from tailorlm.finetune.export import export_model

        if base_model:
            raise ConfigError("--base-model goes with --for vllm", hint="add --for vllm")
        return export_model(
            base, adapter, program, out, merge=merge, gguf=gguf, gguf_dtype=gguf_dtype
        )
    if for_engine not in ENGINE_LAYOUTS:
        raise ConfigError(
            f"--for {for_engine!r} is not an engine layout tailor writes",
            hint="use --for vllm (SGLang loads the same layout)",
        )
    if gguf:
        raise ConfigError("--gguf is for llama.cpp, not vLLM", hint="drop --gguf or --for")
    from tailorlm.finetune.export_vllm import export_for_engine

    name = engine_model_name(store.get(run_ref).id)
    return export_for_engine(
        base, adapter, program, out, name=name, merge=merge, base_model=base_model
    )
