"""The one interface every model sits behind (L2). Evaluation, the optimizer and the server only
ever see a `Backend`: a local transformers model, an OpenAI-compatible endpoint, or a fake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tailorlm.types import Completion, GenerationOptions, Messages


@runtime_checkable
class Backend(Protocol):
    """Turns a batch of chat conversations into completions, one per conversation, in order."""

    name: str

    def generate(
        self, batch: Sequence[Messages], options: GenerationOptions | None = None
    ) -> list[Completion]: ...

    def count_tokens(self, text: str) -> int: ...
