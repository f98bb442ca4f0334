from __future__ import annotations

import pytest

from tailorlm.finetune import FinetuneConfig
from tests.finetune.helpers import TINY


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """The tiny model's matmuls are microseconds long: with several threads, their start-up and
    sync cost dominates (and explodes on a machine shared with other work). OMP_NUM_THREADS
    also fixes the count `make_accelerator` would otherwise pick from the load average."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_config() -> FinetuneConfig:
    return FinetuneConfig(**TINY)
