"""Fine-tuning (L3): task rows -> LoRA or full fine-tuning -> a stored run with its adapter.

Heavy libraries (torch, transformers, peft, accelerate) are imported inside the functions that
use them, so importing this package is cheap."""

from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.data import default_program
from tailorlm.finetune.runner import (
    FinetuneOutcome,
    adapter_path_for_run,
    program_path_for_run,
    resume_finetune,
    run_finetune,
)

__all__ = [
    "FinetuneConfig",
    "FinetuneOutcome",
    "adapter_path_for_run",
    "default_program",
    "program_path_for_run",
    "resume_finetune",
    "run_finetune",
]
