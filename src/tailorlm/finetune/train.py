"""The training loop, readable top to bottom (nanoGPT-style), on `accelerate.Accelerator` so the
same code runs on a CPU, one GPU (bf16) or many under `accelerate launch` (DDP/FSDP/DeepSpeed).

`train(job, accelerator)` writes into `job.run_dir`: `train_log.jsonl` and `dev_log.jsonl`
(one row per step / evaluation), the best model so far (`adapter/` or `model/`, replaced
atomically when the dev loss improves) and resumable checkpoints (see checkpoint.py). Called
again on the same folder it continues from the newest complete checkpoint. Only the main process
writes files; every process takes part in saving (RNG states, gathered FSDP weights)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tailorlm.finetune import checkpoint as ckpt
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.data import Row, collate, plan_batches, shard, split_by_tokens
from tailorlm.finetune.graphs import StepGraphs, use_graphs
from tailorlm.finetune.modeling import (
    completion_loss_module,
    estimate_flops,
    generation_attention,
    load_model,
    param_counts,
)
from tailorlm.hardware import cpu_threads
from tailorlm.types import EventFn

TRAIN_LOG, DEV_LOG = "train_log.jsonl", "dev_log.jsonl"
ARTIFACT = {"lora": "adapter", "full": "model"}
MetricFn = Callable[[Any], float]  # the unwrapped model -> dev task metric in [0, 1]


@dataclass
class TrainState:
    """Everything besides tensors that a resumed run needs; saved with every checkpoint."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    tokens: int = 0
    answer_tokens: int = 0
    flops: float = 0.0
    wall_s: float = 0.0
    best_dev_loss: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    stopped_early: bool = False
    dev_metric: dict[str, float] = field(default_factory=dict)  # step -> metric (epoch ends)


@dataclass(frozen=True)
class TrainJob:
    model_path: str
    run_dir: Path
    train_rows: Sequence[Row]
    dev_rows: Sequence[Row]
    config: FinetuneConfig  # resolved (see FinetuneConfig.resolved)
    record: Mapping[str, Any]  # the whole resolved run config, saved with every checkpoint
    pad_id: int
    metric: MetricFn | None = None


@dataclass(frozen=True)
class TrainResult:
    state: TrainState
    total_steps: int
    resumed_from: int  # step of the checkpoint this call started from (0: fresh)
    session_tokens_per_s: float
    params: dict[str, int]
    digest: str  # sha256 of the trainable weights on this process (DDP ranks must agree)


def distributed_state() -> Any:
    """This process's place among the processes `accelerate launch` / `torchrun` started.
    Without a GPU the processes train on CPUs over gloo (accelerate wants `cpu=True` for that)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def make_accelerator(precision: str) -> Any:
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    cpu = not torch.cuda.is_available()
    if cpu:
        torch.set_num_threads(cpu_threads())
    # accelerate keeps one process-wide state and refuses a second Accelerator with another
    # precision; forget it (the distributed set-up in PartialState stays) so one process can
    # train several runs, e.g. a float32 and a bf16 one in the same test session.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision="bf16" if precision == "bf16" else "no", cpu=cpu)


def train(job: TrainJob, accelerator: Any, log: EventFn | None = None) -> TrainResult:
    from accelerate.utils import set_seed

    cfg, main = job.config, accelerator.is_main_process
    log = log if (log and main) else _ignore
    set_seed(cfg.seed)  # adapter init, dropout; data order has its own seeded generator
    model = load_model(job.model_path, cfg, _precision(accelerator))
    params = param_counts(model)
    net = completion_loss_module(model)
    optimizer = make_optimizer(net, cfg)
    steps_per_epoch = len(epoch_steps(job, 0, accelerator))
    total = min(cfg.max_steps or steps_per_epoch * cfg.epochs, steps_per_epoch * cfg.epochs)
    scheduler = make_scheduler(optimizer, cfg, total)
    net, optimizer = accelerator.prepare(net, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # stepped once per optimizer step
    ckpt.trainable_only_hooks(accelerator)
    graphs = None
    if use_graphs(cfg.cuda_graphs, accelerator, params, cfg):
        graphs = StepGraphs(
            accelerator.unwrap_model(net),
            job.pad_id,
            cfg.batch_size,
            bf16=_precision(accelerator) == "bf16",
            device=accelerator.device,
        )
    state = restore(accelerator, job)
    resumed_from, session = state.step, _Meter(state)
    since_save: list[float] = []  # step losses since the last checkpoint, for its metrics
    log({"event": "start", "step": state.step, "total": total, "resumed": state.step > 0})

    net.train()
    for epoch in range(state.epoch, cfg.epochs):
        steps = epoch_steps(job, epoch, accelerator)
        for index in range(state.step_in_epoch, len(steps)):
            loss, answer, tokens = train_step(
                net, optimizer, accelerator, steps[index], job, graphs
            )
            scheduler.step()
            epoch_done = index == len(steps) - 1
            _advance(state, session, answer, tokens, params, cfg.method, epoch_done)
            at = round(state.step / steps_per_epoch, 3)  # epochs done, fractional
            row = {
                "step": state.step,
                "epoch": at,
                "loss": loss / max(answer, 1),
                "lr": scheduler.get_last_lr()[0],
                "tokens": state.tokens,
            }
            _append(job.run_dir / TRAIN_LOG, row, main)
            since_save.append(row["loss"])
            rates = session.rates(state, total)
            log({"event": "step", **row, "total": total, "wall_s": state.wall_s, **rates})

            last, improved = state.step >= total, False
            if epoch_done or last or (cfg.eval_every and state.step % cfg.eval_every == 0):
                improved = evaluate(net, accelerator, job, state, log, at, epoch_done)
            stop = last or state.stopped_early
            # A checkpoint follows every new best, so the best model on disk is never newer
            # than the state a resume starts from (but in the instant between the two saves).
            if stop or epoch_done or improved or state.step % cfg.save_every == 0:
                save(accelerator, job, state, since_save, log)
                since_save.clear()
            if stop:
                break
        if state.step >= total or state.stopped_early:
            break
    accelerator.wait_for_everyone()
    log({"event": "end", "step": state.step, "stopped_early": state.stopped_early})
    digest = weights_digest(accelerator.unwrap_model(net))
    return TrainResult(state, total, resumed_from, session.tokens_per_s(state), params, digest)


def weights_digest(module: Any) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(module.named_parameters()):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def train_step(
    net: Any,
    optimizer: Any,
    accelerator: Any,
    batches: list[list[int]],
    job: TrainJob,
    graphs: StepGraphs | None = None,
) -> tuple[float, int, int]:
    """One optimizer step over a few micro-batches; the loss is the mean over every answer
    token of the step, however the tokens fall into micro-batches. With `graphs`, a step of
    one micro-batch runs padded, as a CUDA graph (graphs.py).
    Returns (summed loss, answer tokens, all tokens) over every process."""
    import torch

    if graphs is not None and len(batches) == 1:
        summed, answer, tokens = graphs.step([job.train_rows[i] for i in batches[0]])
        loss_sum = summed.item()
    else:
        loss_sum, answer, tokens = _eager_step(net, accelerator, batches, job)
    accelerator.clip_grad_norm_(net.parameters(), job.config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    totals = torch.tensor(
        [loss_sum, answer, tokens], dtype=torch.float64, device=accelerator.device
    )
    totals = accelerator.reduce(totals, reduction="sum")
    return float(totals[0]), int(totals[1]), int(totals[2])


def _eager_step(
    net: Any, accelerator: Any, batches: list[list[int]], job: TrainJob
) -> tuple[float, int, int]:
    tensors = [collate([job.train_rows[i] for i in b], job.pad_id) for b in batches]
    answer = sum(int((t["labels"][:, 1:] != -100).sum()) for t in tensors)
    loss_sum = 0.0
    for i, batch in enumerate(tensors):
        # Gradients are all-reduced once per step, on the last micro-batch.
        sync = nullcontext() if i == len(tensors) - 1 else accelerator.no_sync(net)
        with sync:
            loss = net(**{k: v.to(accelerator.device) for k, v in batch.items()})
            accelerator.backward(loss / max(answer, 1))
        loss_sum += loss.item()
    return loss_sum, answer, sum(int(t["attention_mask"].sum()) for t in tensors)


def evaluate(
    net: Any,
    accelerator: Any,
    job: TrainJob,
    state: TrainState,
    log: EventFn,
    epoch: float,
    with_metric: bool,
) -> bool:
    """Dev loss (every process) -> best model and early stopping; task metric (main only).
    Returns whether the dev loss improved."""
    loss = dev_loss(net, accelerator, job)
    improved = state.best_dev_loss is None or loss < state.best_dev_loss
    if improved:
        state.best_dev_loss, state.best_step, state.bad_evals = loss, state.step, 0
        save_best(accelerator, net, job, {"step": state.step, "dev_loss": loss})
    else:
        state.bad_evals += 1
    patience = job.config.early_stopping_patience
    state.stopped_early = bool(patience and state.bad_evals >= patience)
    row: dict[str, Any] = {"step": state.step, "epoch": epoch, "dev_loss": loss}
    if with_metric and job.metric and job.config.metric_limit and not _sharded(accelerator):
        row["metric"] = _main_only_metric(net, accelerator, job.metric)
        state.dev_metric[str(state.step)] = row["metric"]
    _append(job.run_dir / DEV_LOG, row, accelerator.is_main_process)
    log({"event": "eval", **row, "best": improved, "stopped_early": state.stopped_early})
    return improved


def dev_loss(net: Any, accelerator: Any, job: TrainJob) -> float:
    import torch

    rows, size = job.dev_rows, job.config.batch_size
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    lengths, cap = [len(r) for r in rows], _token_cap(job, accelerator)
    batches = [
        part
        for s in range(0, len(order), size)
        for part in split_by_tokens(order[s : s + size], lengths, cap)
    ]
    rank, world = accelerator.process_index, accelerator.num_processes
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    net.eval()
    with torch.no_grad():
        # Every process runs the same number of forwards (a spare one when the batches do not
        # divide evenly) so sharded models stay in step.
        for r in range(math.ceil(len(batches) / world)):
            mine = r * world + rank < len(batches)
            batch = collate([rows[i] for i in batches[r * world + rank if mine else 0]], job.pad_id)
            loss = net(**{k: v.to(accelerator.device) for k, v in batch.items()})
            if mine:
                totals += torch.tensor(
                    [loss.item(), int((batch["labels"][:, 1:] != -100).sum())],
                    dtype=torch.float64,
                    device=accelerator.device,
                )
    net.train()
    totals = accelerator.reduce(totals, reduction="sum")
    return float(totals[0] / totals[1])


def save_best(accelerator: Any, net: Any, job: TrainJob, info: dict[str, Any]) -> None:
    """The adapter (LoRA) or the whole model (full), replaced atomically."""
    state_dict = accelerator.get_state_dict(net)  # every process: gathers sharded weights
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(net).model
        name = ARTIFACT[job.config.method]
        tmp = job.run_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        weights = {k.removeprefix("model."): v for k, v in state_dict.items()}
        inner.save_pretrained(tmp, state_dict=weights, safe_serialization=True)
        ckpt.write_json_synced(tmp / "best.json", info)
        ckpt.publish(tmp, job.run_dir / name)
    accelerator.wait_for_everyone()


def save(
    accelerator: Any, job: TrainJob, state: TrainState, losses: Sequence[float], log: EventFn
) -> None:
    """A checkpoint; its metrics carry the mean train loss of the steps since the previous one
    (`losses`; after a resume these are the steps since the checkpoint it started from)."""
    metrics = {
        "step": state.step,
        "train_loss": sum(losses) / len(losses) if losses else None,
        "best_dev_loss": state.best_dev_loss,
    }
    record = dict(job.record)
    ckpt.save_checkpoint(accelerator, job.run_dir, state.step, asdict(state), record, metrics)
    if accelerator.is_main_process:
        ckpt.prune(job.run_dir, job.config.keep_checkpoints)
    log({"event": "checkpoint", **metrics})


def restore(accelerator: Any, job: TrainJob) -> TrainState:
    """The state of the newest complete checkpoint (loading its tensors), or a fresh one. Log
    rows and a best model written after that checkpoint are dropped: they are redone."""
    folder = ckpt.latest_complete(job.run_dir)
    state = TrainState(**ckpt.load_checkpoint(accelerator, folder)) if folder else TrainState()
    if accelerator.is_main_process:
        for name in (TRAIN_LOG, DEV_LOG):
            _truncate_log(job.run_dir / name, state.step)
        best = job.run_dir / ARTIFACT[job.config.method]
        if best.is_dir() and _best_step(best) > state.best_step:
            shutil.rmtree(best)
    accelerator.wait_for_everyone()
    return state


def epoch_steps(job: TrainJob, epoch: int, accelerator: Any) -> list[list[list[int]]]:
    """This process's optimizer steps for `epoch`, each a list of micro-batches of row indices."""
    cfg = job.config
    lengths = [len(r) for r in job.train_rows]
    batches = plan_batches(
        lengths, cfg.batch_size, seed=cfg.seed, epoch=epoch, group_by_length=cfg.group_by_length
    )
    mine = shard(batches, accelerator.process_index, accelerator.num_processes)
    cap = _token_cap(job, accelerator)
    return [
        [
            part
            for batch in mine[s : s + cfg.grad_accum]
            for part in split_by_tokens(batch, lengths, cap)
        ]
        for s in range(0, len(mine), cfg.grad_accum)
    ]


def _token_cap(job: TrainJob, accelerator: Any) -> int | None:
    """Sharded models (FSDP, DeepSpeed) gather weights in every forward, so every process must
    run the same number of micro-batches: no splitting there."""
    if _sharded(accelerator):
        return None
    return job.config.batch_tokens(accelerator.device.type)


def make_optimizer(net: Any, cfg: FinetuneConfig) -> Any:
    import torch

    params = [p for p in net.parameters() if p.requires_grad]
    fused = bool(params) and params[0].is_cuda
    return torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.999), fused=fused
    )


def make_scheduler(optimizer: Any, cfg: FinetuneConfig, total: int) -> Any:
    from transformers import get_scheduler

    warmup = int(cfg.warmup_ratio * total)
    return get_scheduler(cfg.lr_scheduler, optimizer, warmup, max(total, 1))


def _advance(
    state: TrainState,
    meter: _Meter,
    answer: int,
    tokens: int,
    params: dict[str, int],
    method: str,
    epoch_done: bool,
) -> None:
    state.step += 1
    state.step_in_epoch = 0 if epoch_done else state.step_in_epoch + 1
    state.epoch += int(epoch_done)
    state.tokens += tokens
    state.answer_tokens += answer
    state.flops += estimate_flops(params, tokens, answer, method)
    meter.tick(state)


class _Meter:
    """Wall time and throughput of this session (time before a resume is carried in state)."""

    def __init__(self, state: TrainState) -> None:
        self.started, self.wall0 = time.perf_counter(), state.wall_s
        self.tokens0, self.step0 = state.tokens, state.step

    def tick(self, state: TrainState) -> None:
        state.wall_s = self.wall0 + time.perf_counter() - self.started

    def tokens_per_s(self, state: TrainState) -> float:
        elapsed = time.perf_counter() - self.started
        return (state.tokens - self.tokens0) / elapsed if elapsed > 0 else 0.0

    def rates(self, state: TrainState, total: float) -> dict[str, float]:
        elapsed = time.perf_counter() - self.started
        per_step = elapsed / max(state.step - self.step0, 1)
        return {"tokens_per_s": self.tokens_per_s(state), "eta_s": per_step * (total - state.step)}


def _main_only_metric(net: Any, accelerator: Any, metric: MetricFn) -> float:
    value = 0.0
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(net).model
        inner.eval()
        with generation_attention(inner):
            value = metric(inner)
        inner.train()
    accelerator.wait_for_everyone()
    return value


def _sharded(accelerator: Any) -> bool:
    """FSDP / DeepSpeed: no process holds the whole model, so one cannot generate alone (the
    runner scores the saved best model after training instead)."""
    return str(accelerator.distributed_type).split(".")[-1] in ("FSDP", "DEEPSPEED")


def _precision(accelerator: Any) -> str:
    return "bf16" if str(accelerator.mixed_precision) == "bf16" else "fp32"


def _append(path: Path, row: dict[str, Any], main: bool) -> None:
    if main:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Keep rows up to `step`; a torn last line (killed mid-write) goes too."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row["step"] <= step:
            kept.append(json.dumps(row) + "\n")
    path.write_text("".join(kept), encoding="utf-8")


def _best_step(folder: Path) -> int:
    try:
        return int(json.loads((folder / "best.json").read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError):
        return 1 << 62  # unreadable: treat as newer than any checkpoint, i.e. redo it


def _ignore(_event: dict[str, Any]) -> None:
    return None
