"""The System value (L3): what is evaluated, compared, exported and served - a backend (with
its adapter, if any) and the prompt program applied in front of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tailorlm.backends.base import Backend
from tailorlm.prompting.program import PromptProgram


@dataclass(frozen=True)
class System:
    backend: Backend
    program: PromptProgram
    adapter_dir: Path | None = None  # the fine-tuned adapter the backend applies, if any

    @property
    def name(self) -> str:
        return f"{self.backend.name} [{self.program.name}]"
