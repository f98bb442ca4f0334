"""Bearer-token auth and a request-size limit, both as pure ASGI middleware: each answers from
the request's headers (or as the body arrives), before the app reads the body.

Auth is not a FastAPI dependency because FastAPI reads and parses a request's body before it
runs the dependencies: a client without the key could make the server take in a 60 MB upload,
or see its malformed JSON answered, before being refused."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from tailorlm.server.errors import APIError, error_body, from_exception

API_PREFIX = "/v1"


class BearerAuth:
    """With a key set, every `/v1` request needs `Authorization: Bearer <key>`; `/health` and
    the docs stay open. This is the one place that decides."""

    def __init__(self, app: Any, api_key: str | None) -> None:
        self.app, self.expected = app, (api_key or "").encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.expected or not _is_api(scope.get("path", "")):
            return await self.app(scope, receive, send)
        if authorized(dict(scope.get("headers") or []), self.expected):
            return await self.app(scope, receive, send)
        status, body = from_exception(_invalid_key())
        # `connection: close`, so the server stops there: on a kept-alive connection it would
        # go on receiving (and dropping) the whole body the client is still sending.
        extra = [(b"www-authenticate", b"Bearer"), (b"connection", b"close")]
        await send_json(send, status, body, extra)


def authorized(headers: dict[bytes, bytes], expected: bytes) -> bool:
    """Compared in constant time, so timing reveals nothing about the key."""
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return scheme.lower() == b"bearer" and secrets.compare_digest(token.strip(), expected)


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _invalid_key() -> APIError:
    return APIError(
        401,
        "Incorrect API key provided.",
        code="invalid_api_key",
        hint="send the key given to `tailor serve --api-key` as a Bearer token",
    )


def _too_large_error() -> type[Exception]:
    from starlette.exceptions import HTTPException

    class TooLarge(HTTPException):
        """An HTTPException, so FastAPI's body parsing re-raises it instead of turning it into
        "error parsing the body"."""

    return TooLarge


class BodyLimit:
    """Rejects bodies over `limit_for(path)` bytes with 413, by Content-Length when given and
    by counting otherwise (a chunked upload cannot slip past)."""

    def __init__(self, app: Any, limit_for: Callable[[str], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _reject(send, limit)
        seen, started, too_large = 0, False, _too_large_error()

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(413, f"Request body is larger than {limit} bytes.")
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except too_large:
            if not started:
                await _reject(send, limit)


async def _reject(send: Any, limit: int) -> None:
    body = error_body(
        f"Request body is larger than {limit} bytes.", "invalid_request_error", "request_too_large"
    )
    await send_json(send, 413, body)


async def send_json(
    send: Any, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A complete JSON response, sent from middleware (outside FastAPI)."""
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + list(headers)})
    await send({"type": "http.response.body", "body": data})
