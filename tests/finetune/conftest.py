from __future__ import annotations

import pytest

from tailorlm.finetune import FinetuneConfig
from tests.finetune.helpers import TINY


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny model's matmuls are microseconds long: with several threads, their start-up and
    sync cost dominates (and explodes on a loaded machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_config() -> FinetuneConfig:
    return FinetuneConfig(**TINY)
