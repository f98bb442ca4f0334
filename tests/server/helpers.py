"""Helpers shared by the server and HTTP-backend tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from tailorlm.backends import FakeBackend
from tailorlm.prompting.program import PromptProgram
from tailorlm.server import ServerSettings, create_app, serve_in_thread
from tailorlm.store import RunStore


def live_server(app: Any) -> Any:
    """A real uvicorn on a free loopback port; a context manager yielding the /v1 URL."""
    return serve_in_thread(app)


def count_in_flight(app: Any) -> dict[str, int]:
    """Count the app's requests in flight: `["max"]` is the most at once (a middleware)."""
    inflight, lock = {"now": 0, "max": 0}, threading.Lock()

    @app.middleware("http")
    async def count(request, call_next):  # type: ignore[no-untyped-def]
        with lock:
            inflight["now"] += 1
            inflight["max"] = max(inflight["max"], inflight["now"])
        try:
            return await call_next(request)
        finally:
            with lock:
                inflight["now"] -= 1

    return inflight


def echo(messages) -> str:  # type: ignore[no-untyped-def]
    """Answers with what it was asked, so tests can see the prompt that reached the model."""
    return " | ".join(f"{m['role']}: {m['content']}" for m in messages)


class SlowFake(FakeBackend):
    """A FakeBackend whose every `generate` call costs `delay` seconds, however large the batch
    (like a batched forward pass), and which records the batch sizes it saw."""

    def __init__(self, delay: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay, self.batches = delay, []

    def generate(self, batch, options=None):  # type: ignore[no-untyped-def]
        self.batches.append(len(batch))
        time.sleep(self.delay)
        return super().generate(batch, options)


def build_app(
    backend: Any = None, app_kwargs: dict[str, Any] | None = None, **settings: Any
) -> tuple[Any, list[Any]]:
    """(app, backends its factory built): every model is `backend` (default: an echo)."""
    built: list[Any] = []

    def factory(spec: str, adapter: str | None) -> Any:
        built.append(backend or FakeBackend(responder=echo))
        return built[-1]

    settings.setdefault("model", "fake-base")  # no local tokenizer: uploads count ~4 chars/token
    app = create_app(ServerSettings(**settings), backend_factory=factory, **(app_kwargs or {}))
    return app, built


def finetune_run(store: RunStore, program: PromptProgram | None = None, task: str = "t") -> str:
    """A finished LoRA run on `task` whose adapter is never loaded (an empty config file)."""
    config = {"kind": "finetune", "model": "base", "train": {"method": "lora"}, "task": task}
    writer = store.start(
        "finetune", name="lora", task=task, model="base", config=config, data_hash="d"
    )
    writer.path("adapter/adapter_config.json").write_text("{}")
    program = program or PromptProgram(name="short", system="S")
    writer.write_json("program.json", program.to_dict())
    writer.complete()
    return writer.id


def optimize_run(store: RunStore, model: str) -> str:
    """A finished prompt search for `model` whose winner is the program `win`."""
    writer = store.start(
        "optimize", name="o", task="t", model=model, config={"m": model}, data_hash="d"
    )
    PromptProgram(name="win", system="W").save(writer.path("program.yaml"))
    writer.complete()
    return writer.id
