"""Fine-tuning in a folder (L3, pure of the run store): task + model + config -> `Prepared`
(everything checked before any folder exists), `train_in(folder)` (resumes from the folder's
newest checkpoint), `seal_artifact` and `final_metrics`. `tailorlm.training` makes this a
stored `finetune` run.

Under `accelerate launch` every process runs `train_in`; the caller decides which one writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.backends.models import resolve_model
from tailorlm.config import run_config
from tailorlm.errors import DataError, TailorError
from tailorlm.finetune import checkpoint as ckpt
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.data import (
    Row,
    build_rows,
    check_chat_template,
    check_enough,
    default_program,
    subset,
)
from tailorlm.finetune.modeling import resolve_precision
from tailorlm.finetune.train import ARTIFACT, TrainJob, train
from tailorlm.hardware import release_memory
from tailorlm.prompting.program import PromptProgram
from tailorlm.tasks import Task
from tailorlm.types import EventFn, Example

KIND = "finetune"  # the run kind whose config `prepare` builds
DEV_FRACTION = 0.1  # held out of train when a task has no dev split


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
    record = run_config(
        KIND,
        task.ref,
        resolved.spec,
        config.seed,
        program=program.to_dict(),
        train=config.model_dump(),
        precision=precision,
        rows={"train": len(train_rows), "dev": len(dev_rows)},
    )
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
        data_hash(task),
    )


def final_metrics(
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


def check_disk(root: Path, prep: Prepared) -> None:
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


def training_job(prep: Prepared, run_dir: Path, metric: Any = None) -> TrainJob:
    """What `train` needs of a prepared run, training into `run_dir`."""
    return TrainJob(
        model_path=prep.model_path,
        run_dir=run_dir,
        train_rows=prep.train_rows,
        dev_rows=prep.dev_rows,
        config=prep.config,
        record=prep.record,
        pad_id=prep.tokenizer.pad_token_id,
        metric=metric,
    )


def train_in(run_dir: Path, prep: Prepared, progress: EventFn | None) -> tuple[Any, Any]:
    """Train (or continue from the newest checkpoint) in `run_dir` on every process; returns
    (TrainResult, accelerator). Nothing here knows about the run store."""
    from tailorlm.finetune.train import make_accelerator

    accelerator = make_accelerator(prep.record["precision"])
    metric = training_metric(prep) if prep.metric_examples else None
    result = train(training_job(prep, run_dir, metric), accelerator, progress)
    accelerator.free_memory()  # its references to the model and optimizer
    release_memory()
    return result, accelerator


def seal_artifact(run_dir: Path, prep: Prepared) -> Path:
    """The trained model folder, with its tokenizer (main process)."""
    artifact = run_dir / ARTIFACT[prep.config.method]
    if not artifact.is_dir():
        raise TailorError(f"Training ended without a model in {artifact}", hint="rerun the step")
    prep.tokenizer.save_pretrained(artifact)
    ckpt.seal(artifact)  # the manifest now lists the tokenizer files too
    return artifact


def drop_checkpoints(run_dir: Path) -> None:
    """Once the final model and its metrics are written, the checkpoints are dead weight."""
    shutil.rmtree(run_dir / ckpt.CHECKPOINTS, ignore_errors=True)


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


def data_hash(task: Task) -> str:
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


def training_metric(prep: Prepared) -> Any:
    from tailorlm.backends.local import LocalBackend

    def metric(model: Any) -> float:
        return dev_quality(LocalBackend.from_loaded(model, prep.tokenizer, name="training"), prep)

    return metric


def best_metric(prep: Prepared, artifact: Path) -> float:
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
