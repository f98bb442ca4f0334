"""A small batching scheduler: concurrent chat requests for one model are generated together.

Requests queue up; a worker thread takes the first, waits up to `wait_s` for more (at most
`max_batch`), and hands each group of requests with the same generation options to the
backend as one `generate` call. A batched forward pass costs little more than a single one on
a CPU or GPU, so under load throughput grows with the batch while latency stays near one
batch's. With `enabled=False` requests run one at a time (the baseline the benchmark compares
against).

A request can pass `on_text`: with a backend that streams (`generate_stream`), it is called on
the request's event loop with each new piece of its text while the batch is still generating;
requests that stream and requests that do not share batches.

A model behind an API gets a `Relay` instead: its server does the batching."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from tailorlm.backends.base import Backend
from tailorlm.backends.streaming import StreamingBackend
from tailorlm.errors import ModelError
from tailorlm.types import Completion, GenerationOptions, Messages

_STOP = object()


@dataclass
class _Pending:
    messages: Messages
    options: GenerationOptions
    future: asyncio.Future[Completion]
    loop: asyncio.AbstractEventLoop
    on_text: Callable[[str], None] | None = None


class BatchScheduler:
    def __init__(
        self, backend: Backend, *, max_batch: int = 8, wait_s: float = 0.005, enabled: bool = True
    ) -> None:
        self.backend = backend
        self.max_batch = max_batch if enabled else 1
        self.wait_s = wait_s if enabled else 0.0
        self.batch_sizes: Counter[int] = Counter()  # size -> generate calls (for tests, stats)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        self._last_size = 1
        self._thread = threading.Thread(target=self._run, name="tailor-batcher", daemon=True)
        self._thread.start()

    async def submit(
        self,
        messages: Messages,
        options: GenerationOptions,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if self._closed:  # unloaded between lookup and submit: the request must not hang
            raise ModelError("The model was unloaded while the request waited.", hint="retry")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        self._queue.put(_Pending(messages, options, future, loop, on_text))
        return await future

    def close(self, timeout: float = 30.0) -> None:
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch, stop = self._collect()
            for group in _by_options(batch):
                self._generate(group)
            if stop:
                return

    def _collect(self) -> tuple[list[_Pending], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        # Wait for company only under load (the last batch was shared, or others are queued):
        # a lone client then pays no waiting time at all.
        busy = self._last_size > 1 or not self._queue.empty()
        batch, deadline = [first], time.monotonic() + (self.wait_s if busy else 0.0)
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        self._last_size = len(batch)
        return batch, False

    def _generate(self, group: list[_Pending]) -> None:
        options = replace(group[0].options, batch_size=len(group))
        self.batch_sizes[len(group)] += 1
        try:
            results: Sequence[Any] = self._call_backend(group, options)
        except Exception as exc:  # every waiting request must hear about it
            results = [exc] * len(group)
        for pending, result in zip(group, results):
            pending.loop.call_soon_threadsafe(_settle, pending.future, result)

    def _call_backend(self, group: list[_Pending], options: GenerationOptions) -> Sequence[Any]:
        batch = [p.messages for p in group]
        if not any(p.on_text for p in group) or not isinstance(self.backend, StreamingBackend):
            return self.backend.generate(batch, options)

        def route(row: int, text: str) -> None:
            pending = group[row]
            if pending.on_text is not None:
                # Scheduled before the result is (FIFO), so every piece precedes the end.
                pending.loop.call_soon_threadsafe(pending.on_text, text)

        return self.backend.generate_stream(batch, options, route)


def _settle(future: asyncio.Future[Completion], result: Any) -> None:
    if future.cancelled():
        return  # the client went away
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _by_options(batch: list[_Pending]) -> list[list[_Pending]]:
    groups: dict[GenerationOptions, list[_Pending]] = {}
    for pending in batch:
        groups.setdefault(pending.options, []).append(pending)
    return list(groups.values())


class Relay:
    """The scheduler for a model behind an API (an engine such as vLLM, which batches on its
    own): each request is sent at once on a thread of its own, so none waits for a batch to
    form or for another request's answer (the backend bounds how many are in flight)."""

    def __init__(self, backend: Backend, *, workers: int = 64) -> None:
        self.backend = backend
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-relay")
        self._closed = False

    async def submit(
        self,
        messages: Messages,
        options: GenerationOptions,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        if self._closed:
            raise ModelError("The model was unloaded while the request waited.", hint="retry")
        loop = asyncio.get_running_loop()
        call: Callable[[], Sequence[Completion]]
        if on_text is not None and isinstance(self.backend, StreamingBackend):

            def piece(_row: int, text: str) -> None:  # queued before the result is (FIFO)
                loop.call_soon_threadsafe(on_text, text)

            call = partial(self.backend.generate_stream, [messages], options, piece)
        else:
            call = partial(self.backend.generate, [messages], options)
        return (await loop.run_in_executor(self._pool, call))[0]

    def close(self, timeout: float = 30.0) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


Scheduler = BatchScheduler | Relay
