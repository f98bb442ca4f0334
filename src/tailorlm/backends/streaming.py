"""Incremental text for token streaming.

A backend that can stream offers `generate_stream(batch, options, on_text)`: it returns what
`generate` returns and, while generating, calls `on_text(row, delta)` with pieces of each row's
text. The pieces of a row concatenate to exactly its completion's `text`.

Tokens do not map to text one by one (a character can span tokens; decoding can merge or
clean up spaces), so each row's whole output is decoded again every step and only the new
suffix is sent. Text that may still change is held back: trailing spaces, an incomplete
UTF-8 character (U+FFFD), and a tail that could be the start of a stop string."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tailorlm.types import Completion, GenerationOptions, Messages

OnText = Callable[[int, str], None]  # (row in the batch, new text)


@runtime_checkable
class StreamingBackend(Protocol):
    def generate_stream(
        self, batch: Sequence[Messages], options: GenerationOptions | None, on_text: OnText
    ) -> list[Completion]: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """(text before the first stop string, whether one was found)."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def settled(text: str, stop: Sequence[str]) -> str:
    """The part of `text` (an unfinished output) that later tokens cannot change."""
    text, stopped = cut_at_stop(text, stop)
    if stopped:
        return text
    hold = max(
        (k for s in stop for k in range(1, len(s)) if text.endswith(s[:k])),
        default=0,
    )
    # Decoding may drop a space before punctuation that follows it (" ." -> ".").
    return text[: len(text) - hold].rstrip(" ").rstrip("\ufffd")


class RowTexts:
    """Tracks the text sent so far for each row of one generation."""

    def __init__(self, rows: Sequence[int], stop: Sequence[str], on_text: OnText) -> None:
        self.rows = list(rows)  # position in this generation -> row in the caller's batch
        self.stop = tuple(stop)
        self.on_text = on_text
        self.sent = [""] * len(self.rows)
        self.done = [False] * len(self.rows)

    def update(self, position: int, text: str, finished: bool = False) -> None:
        """`text`: the row's whole output so far."""
        if self.done[position]:
            return
        new = settled(text, self.stop)
        self.done[position] = finished or cut_at_stop(text, self.stop)[1]
        sent = self.sent[position]
        # Decoding with more tokens can rarely rewrite earlier text; wait until it agrees again.
        if len(new) > len(sent) and new.startswith(sent):
            self.sent[position] = new
            self.on_text(self.rows[position], new[len(sent) :])

    def finish(self, completions: Sequence[Completion]) -> None:
        """Send each row's remaining text, so the pieces join to exactly the final text."""
        for position, completion in enumerate(completions):
            sent = self.sent[position]
            rest = completion.text[len(sent) :] if completion.text.startswith(sent) else ""
            if rest:
                self.sent[position] += rest
                self.on_text(self.rows[position], rest)
