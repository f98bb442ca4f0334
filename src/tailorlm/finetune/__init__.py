"""Fine-tuning (L3), pure of the run store: task rows -> LoRA or full fine-tuning in a folder,
with checkpoints, resume, export. `tailorlm.training` makes it a stored run.

Heavy libraries (torch, transformers, peft, accelerate) are imported inside the functions that
use them, so importing this package is cheap."""

from tailorlm.finetune.config import FinetuneConfig
from tailorlm.finetune.data import default_program

__all__ = ["FinetuneConfig", "default_program"]
