"""A deterministic stand-in model, shipped so users (and our tests) can exercise evaluation,
prompting and serving code without weights. Like DSPy's dummy LM: answers come from a function
or a lookup table keyed by the last user message."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence

from tailorlm.backends.streaming import OnText
from tailorlm.types import Completion, GenerationOptions, Messages

Responder = Callable[[Messages], str]


class FakeBackend:
    """`answers` maps a last-user-message substring to a reply; `responder` computes one.
    `spec` names the model it stands in for, if any (e.g. to price a comparison as an API's)."""

    def __init__(
        self,
        answers: Mapping[str, str] | None = None,
        *,
        responder: Responder | None = None,
        default: str = "",
        name: str = "fake",
        spec: str | None = None,
    ) -> None:
        self.name = name
        self.spec = spec  # the model it stands in for, if any (e.g. an API model's name)
        self.answers = dict(answers or {})
        self.responder = responder
        self.default = default
        self.calls: list[Messages] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _reply(self, messages: Messages) -> str:
        if self.responder is not None:
            return self.responder(messages)
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        for key, value in self.answers.items():
            if key in last_user:
                return value
        return self.default

    def generate(
        self, batch: Sequence[Messages], options: GenerationOptions | None = None
    ) -> list[Completion]:
        options = options or GenerationOptions()
        out = []
        for messages in batch:
            start = time.perf_counter()
            self.calls.append(messages)
            text = _apply_stop(self._reply(messages), options.stop)
            words = text.split()[: options.max_new_tokens]
            prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
            out.append(
                Completion(
                    text=" ".join(words) if len(words) < len(text.split()) else text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=len(words),
                    latency_s=time.perf_counter() - start,
                )
            )
        return out

    def generate_stream(
        self, batch: Sequence[Messages], options: GenerationOptions | None, on_text: OnText
    ) -> list[Completion]:
        """`generate`, then each answer sent word by word (a word and its following space)."""
        completions = self.generate(batch, options)
        for row, completion in enumerate(completions):
            for piece in re.findall(r"\S*\s*", completion.text):
                if piece:
                    on_text(row, piece)
        return completions


def _apply_stop(text: str, stop: Sequence[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text
