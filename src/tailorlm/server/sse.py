"""Server-sent events for streamed chat completions, in OpenAI's chunk sequence: the role, the
content in pieces, the finish reason, (usage), then `[DONE]`.

`live_events` sends text as the model generates it (the scheduler forwards each new piece);
`sse_events` sends an answer that is already complete (a tailored model whose parser rewrites
the whole output can only answer once it is done)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from tailorlm.server.errors import from_exception
from tailorlm.server.schemas import Usage
from tailorlm.types import Completion

Submit = Callable[[Callable[[str], None]], Awaitable[Completion]]


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def usage(c: Completion) -> Usage:
    return Usage(
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        total_tokens=c.prompt_tokens + c.completion_tokens,
    )


class _Chunks:
    def __init__(self, model: str) -> None:
        self.base = {
            "id": completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> str:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return _event({**self.base, "choices": choices})

    def ending(self, completion: Completion, include_usage: bool) -> Iterator[str]:
        yield self.delta({}, completion.finish_reason)
        if include_usage:
            yield _event({**self.base, "choices": [], "usage": usage(completion).model_dump()})
        yield "data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def sse_events(
    model: str, answer: str, completion: Completion, include_usage: bool
) -> Iterator[str]:
    chunks = _Chunks(model)
    yield chunks.delta({"role": "assistant", "content": ""})
    for piece in pieces(answer):
        yield chunks.delta({"content": piece})
    yield from chunks.ending(completion, include_usage)


async def live_events(model: str, submit: Submit, include_usage: bool) -> AsyncIterator[str]:
    """Events for a generation started by `submit(on_text)`, each piece sent as it arrives.
    The pieces join to exactly the completion's text; a failure after the stream began is
    sent as an `error` event (the status line has already gone out)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(submit(queue.put_nowait))
    # The scheduler queues every piece before it settles the result, so None comes last.
    task.add_done_callback(lambda _: queue.put_nowait(None))
    chunks = _Chunks(model)
    try:
        yield chunks.delta({"role": "assistant", "content": ""})
        sent = ""
        while (piece := await queue.get()) is not None:
            sent += piece
            yield chunks.delta({"content": piece})
        try:
            completion = task.result()
        except Exception as exc:  # noqa: BLE001 - every failure must reach the client
            yield _event(from_exception(exc)[1])
            return
        rest = completion.text[len(sent) :] if completion.text.startswith(sent) else ""
        for piece in pieces(rest):  # a backend that cannot stream sends it all here
            yield chunks.delta({"content": piece})
        for event in chunks.ending(completion, include_usage):
            yield event
    finally:
        task.cancel()  # the client went away: its request leaves the batch unanswered


def pieces(text: str, size: int = 16) -> Iterator[str]:
    """Word-aligned pieces that concatenate back to exactly `text`."""
    if not text:
        return
    words = text.split(" ")
    for start in range(0, len(words), size):
        piece = " ".join(words[start : start + size])
        yield piece if start + size >= len(words) else piece + " "
