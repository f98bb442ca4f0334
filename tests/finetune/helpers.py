"""Shared helpers for the fine-tuning tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tailorlm.finetune import FinetuneConfig
from tailorlm.finetune.runner import Prepared, prepare, training_job
from tailorlm.finetune.train import TrainJob
from tailorlm.tasks import load_task

# Small enough that a run takes seconds with the tiny model.
TINY = {
    "train_size": 24,
    "dev_limit": 8,
    "batch_size": 4,
    "max_steps": 4,
    "eval_every": 2,
    "save_every": 2,
    "metric_limit": 0,
}


def tiny_prepared(model_dir: Path, **overrides) -> Prepared:
    return prepare(
        load_task("sql-sales"), str(model_dir), FinetuneConfig(**{**TINY, **overrides}), None
    )


def tiny_job(prep: Prepared, run_dir: Path) -> TrainJob:
    run_dir.mkdir(parents=True, exist_ok=True)
    return training_job(prep, run_dir)


class GradRecorder:
    """Stands in for the optimizer: keeps the step's (clipped) gradients, changes nothing."""

    def __init__(self, net):
        self.net, self.grads = net, {}

    def step(self):
        self.grads = {n: p.grad.clone() for n, p in self.net.named_parameters() if p.requires_grad}

    def zero_grad(self, set_to_none=True):
        self.net.zero_grad(set_to_none=set_to_none)
