"""`create_app(settings)`: the OpenAI-compatible API as a FastAPI app (see the routers in
chat.py and finetune_api.py). Nothing is loaded until a request needs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tailorlm.backends.models import DEFAULT_MODEL
from tailorlm.server import errors
from tailorlm.server.auth import BearerAuth, BodyLimit
from tailorlm.server.registry import BackendFactory, Registry, default_factory
from tailorlm.server.settings import ServerSettings
from tailorlm.store import RunStore

FILES_PATH = "/v1/files"


def create_app(
    settings: ServerSettings | None = None,
    *,
    store: RunStore | None = None,
    backend_factory: BackendFactory | None = None,
    home: Path | None = None,
    start_worker: bool = True,
) -> Any:
    """The app. `backend_factory(spec, adapter)` builds a model (tests pass a fake one);
    `home` holds uploaded files and the fine-tuning jobs database (default: TAILOR_HOME/server)."""
    from fastapi import FastAPI

    from tailorlm import __version__, paths
    from tailorlm.server import chat, finetune_api
    from tailorlm.server.jobs import JobService

    settings = settings or ServerSettings()
    store = store or RunStore()
    registry = Registry(
        settings.model or DEFAULT_MODEL,
        store,
        factory=backend_factory or default_factory,
        capacity=settings.loaded_models,
        engine=settings.engine,
        scheduler_args={
            "max_batch": settings.max_batch,
            "wait_s": settings.batch_wait_ms / 1000,
            "enabled": settings.batching,
        },
    )
    jobs = JobService(home or paths.home() / "server", store, registry, settings)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if start_worker:
            jobs.start()
        try:
            yield
        finally:
            jobs.stop()
            registry.close()

    app = FastAPI(title="tailorlm", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.registry, app.state.jobs = settings, registry, jobs
    errors.install(app)
    app.include_router(chat.router(registry, settings))
    app.include_router(finetune_api.router(jobs, settings))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def limit_for(path: str) -> int:
        return settings.max_file_bytes if path == FILES_PATH else settings.max_request_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    # Added last, so it runs first: a client without the key learns nothing, not even a 413.
    app.add_middleware(BearerAuth, api_key=settings.api_key)
    return app
