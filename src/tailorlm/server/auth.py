"""Bearer-token auth as a dependency, and a request-size limit as ASGI middleware."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request

from tailorlm.server.errors import APIError, error_body


def bearer_auth(api_key: str | None) -> Callable[..., None]:
    """A dependency that accepts every request when no key is set, else only
    `Authorization: Bearer <key>` (compared in constant time, so timing reveals nothing)."""
    expected = (api_key or "").encode()

    def check(request: Request) -> None:
        if not expected:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), expected
        ):
            raise APIError(
                401,
                "Incorrect API key provided.",
                code="invalid_api_key",
                hint="send the key given to `tailor serve --api-key` as a Bearer token",
            )

    return check


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
    import json

    body = json.dumps(
        error_body(
            f"Request body is larger than {limit} bytes.",
            "invalid_request_error",
            "request_too_large",
        )
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
