from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tailorlm.cli.app import app


def test_serve_passes_settings(monkeypatch):
    seen = {}
    monkeypatch.setattr("tailorlm.server.serve", lambda settings: seen.update(s=settings))
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--port",
            "8123",
            "--no-batching",
            "--api-key",
            "k",
            "--finetune-set",
            "max_steps=20",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = seen["s"]
    assert (settings.host, settings.port, settings.api_key) == ("127.0.0.1", 8123, "k")
    assert settings.batching is False
    assert settings.finetune == {"metric_limit": 0, "max_steps": 20}


def test_serve_rejects_a_bad_finetune_field(monkeypatch):
    monkeypatch.setattr("tailorlm.server.serve", lambda settings: None)
    result = CliRunner().invoke(app, ["serve", "--finetune-set", "max_stepz=20"])
    assert result.exit_code == 1
    assert "max_stepz" in result.output


def test_serve_warns_when_exposed_without_a_key(monkeypatch):
    monkeypatch.setattr("tailorlm.server.serve", lambda settings: None)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert "without --api-key" in result.output


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:18433/v1"),
        ("localhost", "http://localhost:18433/v1"),
        ("::", "http://[::]:18433/v1"),
        ("::1", "http://[::1]:18433/v1"),
    ],
)
def test_serve_prints_a_url_that_works(monkeypatch, host, url):
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    result = CliRunner().invoke(app, ["serve", "--host", host, "--port", "18433", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    assert f"tailor serve: {url}," in result.output
