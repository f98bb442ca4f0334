"""The API key is checked from the headers, before any of the body is read, on every /v1
route (FastAPI would read and parse a body before running a dependency)."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from tests.server.helpers import live_server

MB = 1 << 20


def v1_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every /v1 route, path parameters filled with a placeholder. From the
    OpenAPI schema: this FastAPI keeps included routers' routes behind private wrappers."""
    paths = app.openapi()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    ]


def test_every_v1_route_answers_401_without_the_key(make_app):
    app, _ = make_app(api_key="s3cret", app_kwargs={"start_worker": False})
    routes = v1_routes(app)
    assert len(routes) >= 12  # models, chat, files, fine-tuning jobs
    # A malformed body too: it must not be parsed (and answered 400) before the key is checked.
    json_type = {"content-type": "application/json"}
    with TestClient(app) as client:
        for method, path in routes:
            for auth in ({}, {"authorization": "Bearer wrong"}):
                headers = {**json_type, **auth}
                response = client.request(method, path, content=b"{not json", headers=headers)
                assert response.status_code == 401, (method, path, response.text)
                error = response.json()["error"]
                assert error["code"] == "invalid_api_key", (method, path)
                assert error["type"] == "invalid_request_error"
        assert client.get("/health").status_code == 200


def test_a_wrong_key_is_refused_before_the_upload_is_read(make_app, openai_client):
    app, _ = make_app(api_key="s3cret", app_kwargs={"start_worker": False})
    sent = 0

    def upload():  # 60 MB of multipart body, counted as the client sends it
        nonlocal sent
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n\r\n'
        for _ in range(60):
            sent += MB
            yield b"x" * MB

    headers = {"authorization": "Bearer wrong", "content-type": "multipart/form-data; boundary=x"}
    with live_server(app) as url:
        response = httpx.post(f"{url}/files", content=upload(), headers=headers, timeout=60)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert sent <= 16 * MB, f"{sent // MB} MB were sent before the 401"
        with pytest.raises(openai.AuthenticationError):  # the same through the official client
            openai_client(url, key="wrong").files.create(
                file=("t.jsonl", b"x" * 60 * MB), purpose="fine-tune"
            )
        # The connection was closed, not the server: the right key still works.
        assert openai_client(url, key="s3cret").models.list().data
