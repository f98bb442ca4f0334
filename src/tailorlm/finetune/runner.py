"""Fine-tuning as a stored run: task + model + config -> a `finetune` run in the run store.

The run's work folder (`<runs>/.tmp-<id>/`) holds checkpoints while it trains; `tailor finetune
--resume RUN` continues from the newest complete one. A finished run keeps: config.json
(resolved), env.json (versions, seed), program.json (the prompt it was trained with - evaluation
must use the same), adapter/ (LoRA) or model/ (full) with the tokenizer, train_log.jsonl,
dev_log.jsonl, loss_curve.svg and metrics.json (losses, dev metric, compute spent).

Under `accelerate launch` every process runs this code; only the main one touches the store."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm import __version__
from tailorlm.backends.models import resolve_model
from tailorlm.errors import DataError, StoreError, TailorError
from tailorlm.finetune import checkpoint as ckpt
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.curve import loss_curve_svg
from tailorlm.finetune.data import (
    Row,
    build_rows,
    check_chat_template,
    check_enough,
    default_program,
    subset,
)
from tailorlm.finetune.modeling import resolve_precision
from tailorlm.finetune.train import ARTIFACT, DEV_LOG, TRAIN_LOG, TrainJob, train
from tailorlm.hardware import release_memory
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore, RunWriter, config_hash
from tailorlm.tasks import Task, load_task
from tailorlm.types import EventFn, Example

KIND = "finetune"
PROGRAM_FILE = "program.json"
OWNER_FILE = "owner.json"
DEV_FRACTION = 0.1  # held out of train when a task has no dev split


@dataclass(frozen=True)
class FinetuneOutcome:
    run_id: str
    summary: dict[str, Any]
    reused: bool
    resumed: bool
    digest: str = ""  # sha256 of the trained weights on this process ("" when reused)


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, computed the same way on every process."""

    task: Task
    model_spec: str
    model_path: str
    config: FinetuneConfig
    program: PromptProgram
    tokenizer: Any
    train_rows: list[Row]
    dev_rows: list[Row]
    metric_examples: list[Example]
    record: dict[str, Any]
    data_hash: str


def run_finetune(
    task: str | Path | Task,
    *,
    model: str | None = None,
    config: FinetuneConfig | None = None,
    prompt_file: str | Path | None = None,
    name: str | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    parent_id: str | None = None,
    progress: EventFn | None = None,
    unique_name: bool = True,
) -> FinetuneOutcome:
    """Fine-tune `model` on the task's train split; reuse an identical finished run, continue
    an identical unfinished one whose process is gone, or start a new run. With `unique_name`,
    a new run may not take the `name` of an existing fine-tuning run."""
    task = task if isinstance(task, Task) else load_task(task)
    program = PromptProgram.load(Path(prompt_file)) if prompt_file else None
    prep = prepare(task, model, config or FinetuneConfig(), program)
    store = store or RunStore()
    decision = _on_main(lambda: _open_run(store, prep, name, reuse, parent_id, unique_name))
    if decision["reused"]:
        return FinetuneOutcome(decision["id"], decision["summary"], reused=True, resumed=False)
    return _execute(prep, store, decision["id"], decision["resumed"], progress)


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
    _on_main(lambda: _reopen(store, record.id))
    return _execute(prep, store, record.id, True, progress)


def prepare(
    task: Task, model: str | None, config: FinetuneConfig, program: PromptProgram | None
) -> Prepared:
    """Resolve and check everything before any run folder exists, so bad input fails with one
    line and leaves nothing behind."""
    from tailorlm.backends.local import load_tokenizer

    resolved = resolve_model(model)
    tokenizer = load_tokenizer(resolved)
    check_chat_template(tokenizer, resolved.spec)
    config = config.resolved()
    program = program or default_program(task.config)
    train_ex, dev_ex = _splits(task, config)
    limit = min(config.max_length, _context_length(resolved.path))
    train_rows = build_rows(train_ex, program, tokenizer, task.resources(), limit)
    check_enough(train_rows)
    dev_rows = build_rows(dev_ex[: config.dev_limit], program, tokenizer, task.resources(), limit)
    precision = resolve_precision(config.precision)
    record = {
        "kind": KIND,
        "task": task.name if task.builtin else str(task.root),
        "model": resolved.spec,
        "program": program.to_dict(),
        "train": config.model_dump(),
        "precision": precision,
        "rows": {"train": len(train_rows), "dev": len(dev_rows)},
        "seed": config.seed,
        "tailorlm": __version__,
    }
    data_hash = _data_hash(task)
    return Prepared(
        task,
        resolved.spec,
        resolved.path,
        config,
        program,
        tokenizer,
        train_rows,
        dev_rows,
        dev_ex[: config.metric_limit],
        record,
        data_hash,
    )


def _execute(
    prep: Prepared, store: RunStore, run_id: str, resumed: bool, progress: EventFn | None
) -> FinetuneOutcome:
    from tailorlm.finetune.train import make_accelerator

    accelerator = make_accelerator(prep.record["precision"])
    run_dir = store.root / f".tmp-{run_id}"
    job = TrainJob(
        model_path=prep.model_path,
        run_dir=run_dir,
        train_rows=prep.train_rows,
        dev_rows=prep.dev_rows,
        config=prep.config,
        record=prep.record,
        pad_id=prep.tokenizer.pad_token_id,
        metric=_training_metric(prep) if prep.metric_examples else None,
    )
    writer = store.reopen(run_id) if accelerator.is_main_process else None
    with writer or contextlib.nullcontext():
        result = train(job, accelerator, progress)
        accelerator.free_memory()  # its references to the model and optimizer
        release_memory()
        summary = _finish(prep, writer, result, accelerator) if writer else {}
    return FinetuneOutcome(run_id, summary, reused=False, resumed=resumed, digest=result.digest)


def _finish(prep: Prepared, writer: RunWriter, result: Any, accelerator: Any) -> dict[str, Any]:
    """Main process: final artifacts, metrics and summary; then publish the run."""
    artifact = writer.dir / ARTIFACT[prep.config.method]
    if not artifact.is_dir():
        raise TailorError(f"Training ended without a model in {artifact}", hint="rerun the step")
    prep.tokenizer.save_pretrained(artifact)
    ckpt.seal(artifact)  # the manifest now lists the tokenizer files too
    best_metric = _best_metric(prep, artifact) if prep.metric_examples else None
    metrics = _metrics(prep, result, accelerator, best_metric)
    writer.write_json("metrics.json", metrics)
    train_log, dev_log = writer.read_jsonl(TRAIN_LOG), writer.read_jsonl(DEV_LOG)
    writer.path("loss_curve.svg").write_text(loss_curve_svg(train_log, dev_log), encoding="utf-8")
    shutil.rmtree(writer.dir / ckpt.CHECKPOINTS, ignore_errors=True)
    (writer.dir / OWNER_FILE).unlink(missing_ok=True)
    summary = _short_summary(metrics)
    writer.set_summary(summary)
    writer.complete()
    return summary


def _metrics(
    prep: Prepared, result: Any, accelerator: Any, best_metric: float | None
) -> dict[str, Any]:
    state = result.state
    return {
        "method": prep.config.method,
        "steps": state.step,
        "total_steps": result.total_steps,
        "epochs_completed": state.epoch,
        "stopped_early": state.stopped_early,
        "best_step": state.best_step,
        "best_dev_loss": state.best_dev_loss,
        "dev_metric_at_epoch_end": state.dev_metric,
        "dev_metric_best": best_metric,
        "dev_metric_n": len(prep.metric_examples),
        "rows": prep.record["rows"],
        "params": result.params,
        "compute": {
            "wall_s": state.wall_s,
            "device": _device_name(accelerator),
            "precision": prep.record["precision"],
            "processes": accelerator.num_processes,
            "tokens": state.tokens,
            "answer_tokens": state.answer_tokens,
            "tokens_per_s": state.tokens / state.wall_s if state.wall_s else 0.0,
            "flops_estimate": state.flops,
        },
    }


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


# ---------------------------------------------------------------------------- the run record


def _open_run(
    store: RunStore,
    prep: Prepared,
    name: str | None,
    reuse: bool,
    parent_id: str | None,
    unique_name: bool,
) -> dict[str, Any]:
    chash = config_hash(prep.record)
    if reuse and (done := store.find_reusable(KIND, chash, prep.data_hash)):
        return {"id": done.id, "reused": True, "resumed": False, "summary": done.summary}
    previous = store.resume_candidates(KIND, chash, prep.data_hash)
    if previous is not None and not _owner_alive(previous.dir):
        _reopen(store, previous.id)
        return {"id": previous.id, "reused": False, "resumed": True, "summary": {}}
    if unique_name and name and any(r.name == name for r in store.list(kind=KIND)):
        raise StoreError(
            f"A fine-tuning run named '{name}' already exists.",
            hint=f"pick another --out name, or delete it with `tailor rm` (see `tailor runs "
            f"--kind {KIND}`)",
        )
    _check_disk(store.root, prep)
    writer = store.start(
        KIND,
        name=name or f"{prep.config.method}",
        task=prep.task.name,
        model=prep.model_spec,
        config=prep.record,
        data_hash=prep.data_hash,
        parent_id=parent_id,
    )
    writer.write_json(PROGRAM_FILE, prep.program.to_dict())
    _claim(writer.dir)
    return {"id": writer.id, "reused": False, "resumed": False, "summary": {}}


def _reopen(store: RunStore, run_id: str) -> dict[str, Any]:
    record = store.get(run_id)
    if _owner_alive(record.dir):
        owner = json.loads((record.dir / OWNER_FILE).read_text(encoding="utf-8"))
        raise StoreError(
            f"Run '{run_id}' is still training (process {owner['pid']}).",
            hint="wait for it, or stop that process first",
        )
    store.reopen(run_id)
    _claim(record.dir)
    return {}


def _claim(run_dir: Path) -> None:
    ckpt.write_json_synced(run_dir / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname()})


def _owner_alive(run_dir: Path) -> bool:
    """Whether the process that last trained in this folder still runs (on this host)."""
    try:
        owner = json.loads((run_dir / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if owner.get("host") != socket.gethostname() or owner.get("pid") == os.getpid():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _on_main(fn: Any) -> dict[str, Any]:
    """Run `fn` on the main process only and hand its result to every process."""
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


def _check_disk(root: Path, prep: Prepared) -> None:
    """Two checkpoints (weights + two Adam moments) and the best model, with some slack."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(prep.model_path)
    hidden = getattr(cfg, "hidden_size", 1024)
    layers = getattr(cfg, "num_hidden_layers", 24)
    full = 12 * layers * hidden * hidden + getattr(cfg, "vocab_size", 32000) * hidden
    trainable = (
        full if prep.config.method == "full" else 14 * layers * hidden * prep.config.lora_rank
    )
    need = 4 * trainable * (3 * prep.config.keep_checkpoints + 1)
    ckpt.check_disk(root, int(need * 1.2) + (64 << 20))


# ---------------------------------------------------------------------------- data and metric


def _splits(task: Task, config: FinetuneConfig) -> tuple[list[Example], list[Example]]:
    train = task.split("train")
    if "dev" in task.available_splits():
        dev = task.split("dev")
    else:  # carve a dev split out of train, seeded, before any subset for a learning curve
        shuffled = subset(train, None, config.seed)
        cut = max(1, int(len(train) * DEV_FRACTION))
        dev, train = shuffled[:cut], shuffled[cut:]
    if config.train_size is not None and config.train_size > len(train):
        raise DataError(
            f"train_size={config.train_size} but the train split has {len(train)} rows.",
            hint=f"use a size up to {len(train)}, or 'all'",
        )
    return subset(train, config.train_size, config.seed), dev


def _data_hash(task: Task) -> str:
    parts = [task.data_hash(s) for s in ("train", "dev") if s in task.available_splits()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _context_length(model_path: str) -> int:
    try:
        config = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 1 << 30  # a hub id: rely on max_length
    return int(config.get("max_position_embeddings") or 1 << 30)


def _answer_budget(rows: Sequence[Row]) -> int:
    return max(r.completion_len for r in rows) + 16


def dev_quality(backend: Any, prep: Prepared) -> float:
    """Mean task metric of `backend` on the metric examples, with the run's prompt program."""
    from tailorlm.evaluation import iter_results
    from tailorlm.types import GenerationOptions

    options = GenerationOptions(max_new_tokens=_answer_budget(prep.train_rows), batch_size=8)
    chunks = iter_results(
        prep.metric_examples,
        prep.program,
        backend,
        metric_name=prep.task.config.metric,
        resources=prep.task.resources(),
        options=options,
    )
    scores = [item.score for chunk in chunks for item in chunk]
    return sum(scores) / len(scores) if scores else 0.0


def _training_metric(prep: Prepared) -> Any:
    from tailorlm.backends.local import LocalBackend

    def metric(model: Any) -> float:
        return dev_quality(LocalBackend.from_loaded(model, prep.tokenizer, name="training"), prep)

    return metric


def _best_metric(prep: Prepared, artifact: Path) -> float:
    """The dev metric of the stored best model, loaded the way evaluation will load it."""
    from tailorlm.backends.local import LocalBackend

    if prep.config.method == "lora":
        backend = LocalBackend(prep.model_spec, adapter=artifact)
    else:
        backend = LocalBackend(str(artifact))
    return dev_quality(backend, prep)


def _device_name(accelerator: Any) -> str:
    import torch

    device = accelerator.device
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


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


def program_path_for_run(run_ref: str, store: RunStore | None = None) -> Path:
    """The prompt program a fine-tuning run was trained with (evaluate it with the same)."""
    record = (store or RunStore()).get(run_ref)
    path = record.dir / PROGRAM_FILE
    if not path.is_file():
        raise StoreError(f"Run '{record.id}' has no {PROGRAM_FILE}", hint="is it a finetune run?")
    return path
