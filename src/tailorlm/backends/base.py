"""The one interface every model sits behind (L2). Evaluation, the optimizer and the server only
ever see a `Backend`: a local transformers model, an OpenAI-compatible endpoint, or a fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
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


# (batch key, rows ended, rows in the batch, tokens generated per row so far)
DecodeStepFn = Callable[[int, int, int, int], None]
_ON_STEP: ContextVar[DecodeStepFn | None] = ContextVar("tailorlm_decode_step", default=None)


@contextmanager
def watch_decoding(on_step: DecodeStepFn) -> Iterator[None]:
    """Call `on_step` after each decoding step of the local decoders in this thread, so a
    progress bar moves inside a batch instead of once per `generate` call."""
    token = _ON_STEP.set(on_step)
    try:
        yield
    finally:
        _ON_STEP.reset(token)


def decoded_step(key: int, ended: int, rows: int, step: int) -> None:
    """What a decoding loop calls after each step (nothing happens unless someone watches)."""
    on_step = _ON_STEP.get()
    if on_step is not None:
        on_step(key, ended, rows, step)


def watched() -> bool:
    return _ON_STEP.get() is not None
