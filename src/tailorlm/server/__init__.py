"""The OpenAI-compatible server (L6): `create_app(settings)` and `serve(settings)`.

FastAPI and uvicorn are imported only here and below, never by the library's lower layers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tailorlm.server.settings import ServerSettings

__all__ = ["ServerSettings", "base_url", "create_app", "serve", "serve_in_thread"]


def base_url(host: str, port: int) -> str:
    """The `/v1` URL a client uses; an IPv6 address goes in brackets (`http://[::1]:8000/v1`),
    as without them its colons read as the port's."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def create_app(settings: ServerSettings | None = None, **kwargs: Any) -> Any:
    from tailorlm.server.app import create_app as _create

    return _create(settings, **kwargs)


def serve(settings: ServerSettings, **kwargs: Any) -> None:
    """Run the server in this process until interrupted."""
    import sys

    import uvicorn

    app = create_app(settings, **kwargs)
    names = [entry.id for entry in app.state.registry.entries()]
    print(
        f"tailor serve: {base_url(settings.host, settings.port)}, {len(names)} model(s): "
        + ", ".join(names[:8])
        + (", ..." if len(names) > 8 else ""),
        file=sys.stderr,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` under uvicorn in a background thread (port 0: any free port) and yield its
    `/v1` base URL; the server stops when the block ends. For notebooks, tests, benchmarks."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tailor-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield base_url(host, bound)
    finally:
        server.should_exit = True
        thread.join(60)
