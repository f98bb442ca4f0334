"""OpenAI-shaped errors, `{"error": {"message", "type", "param", "code"}}`, from one place:
every exception that reaches the app becomes one of these, and a client library sees the same
error classes it would get from OpenAI."""

from __future__ import annotations

import logging
from typing import Any

from tailorlm.errors import ConfigError, DataError, ModelError, StoreError, TailorError

log = logging.getLogger("tailorlm.server")


class APIError(TailorError):
    """An error with an HTTP status and OpenAI's `type`/`code`/`param`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status, self.type, self.code, self.param = status, type, code, param


def not_found(what: str, ident: str, param: str | None = None) -> APIError:
    return APIError(
        404, f"No {what} '{ident}'", code=f"{what.replace(' ', '_')}_not_found", param=param
    )


def error_body(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def from_exception(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(status, body) for any exception; our own errors keep their message and hint."""
    if isinstance(exc, APIError):
        return exc.status, error_body(_text(exc), exc.type, exc.code, exc.param)
    if isinstance(exc, (DataError, ConfigError)):
        return 400, error_body(_text(exc), "invalid_request_error", "invalid_value")
    if isinstance(exc, StoreError):
        return 404, error_body(_text(exc), "invalid_request_error", "not_found")
    if isinstance(exc, ModelError):
        return 500, error_body(_text(exc), "server_error", "model_error")
    if isinstance(exc, TailorError):
        return 400, error_body(_text(exc), "invalid_request_error")
    log.exception("unhandled error", exc_info=exc)
    return 500, error_body("The server had an error while processing your request.", "server_error")


def validation_body(errors: list[Any], body: Any = None) -> dict[str, Any]:
    """The first pydantic validation error, with its field path as `param`; a body that is not
    JSON at all is said so in words (FastAPI reports it as a field named by its position)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return error_body(_json_message(first, body), "invalid_request_error", "invalid_json")
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    return error_body(message, "invalid_request_error", "invalid_value", param)


def _json_message(error: dict[str, Any], body: Any) -> str:
    """e.g. "Expecting ',' delimiter: line 1 column 40 (char 39)", as Python's json says it."""
    import json

    reason, position = error.get("ctx", {}).get("error", "invalid JSON"), error["loc"][-1]
    if isinstance(body, str) and isinstance(position, int):
        reason = str(json.JSONDecodeError(reason, body, position))
    return f"Request body is not valid JSON: {reason}"


def install(app: Any) -> None:
    """Register the handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    async def on_error(request: Any, exc: Exception) -> JSONResponse:
        status, body = from_exception(exc)
        return JSONResponse(body, status_code=status)

    async def on_validation(request: Any, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(list(exc.errors()), exc.body), status_code=400)

    async def on_http(request: Any, exc: HTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
            exc.status_code
        )
        body = error_body(str(exc.detail), kind, code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    # TailorError goes through the app's exception middleware (answered, not re-raised);
    # the catch-all `Exception` handler answers 500 and lets the server log the traceback.
    app.add_exception_handler(TailorError, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_error)


def _text(exc: TailorError) -> str:
    return exc.message if not exc.hint else f"{exc.message} ({exc.hint})"
