"""Core value types shared by every layer (L0). Frozen dataclasses: cheap, hashable, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ChatMessage = Mapping[str, str]  # {"role": ..., "content": ...}
Messages = tuple[ChatMessage, ...]


@dataclass(frozen=True)
class Example:
    """One labelled row of a task split.

    `inputs` holds the task's input fields (a plain-string input becomes {"question": ...});
    `messages` is set when the row came in OpenAI chat format (the prompt turns, without the
    final assistant answer); `meta` carries per-row extras such as the database file.
    """

    id: str
    inputs: Mapping[str, Any]
    output: str
    messages: Messages | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationOptions:
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 8


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str = "stop"  # "stop" (EOS or stop string) | "length"


@dataclass(frozen=True)
class Score:
    """A metric's verdict on one prediction. `value` in [0, 1]; `reason` explains a 0.
    `well_formed`: the answer had the task's form (SQL that ran, code that set a result, a
    known label) even if it was wrong; a passed answer always has. The prompt optimizer breaks
    ties with it, so a metric that can tell should say."""

    value: float
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    well_formed: bool = False

    @property
    def passed(self) -> bool:
        return self.value >= 1.0

    @property
    def has_form(self) -> bool:
        return self.passed or self.well_formed


# Callback and metric shapes, declared once for every layer.
ProgressFn = Callable[[float, int], None]  # (done, total); done may count part of a batch
EventFn = Callable[[dict[str, Any]], None]  # one structured progress event
Metric = Callable[[str, Example], Score]  # (prediction, example) -> score, resources bound
