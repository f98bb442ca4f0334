"""`tailor import openai-job` / `openai-file` against `tailor serve` on loopback: what they
print, and that a mistake is one `Error:` line plus a `Hint:`, exit 1, no traceback and no
folder."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.app import app
from tailorlm.tasks import validate_task
from tests.server.helpers import build_app, live_server
from tests.test_migrate import FT_MODEL, OpenAIServer, assert_no_folder, chat_rows

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def server():
    server_app, _ = build_app(app_kwargs={"start_worker": False})
    with live_server(server_app) as url:
        yield OpenAIServer(server_app, url)


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # handled: no traceback
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: ") and len(lines) == 2
    for needle in needles:
        assert needle in result.output


def test_openai_job(server, tmp_path):
    job = server.job(chat_rows(30), chat_rows(5, seed=1))
    out = tmp_path / "ft-task"
    result = invoke("import", "openai-job", job["id"], "--base-url", server.url, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}/: train 24, dev 5, test 6 rows (dev from the validation file)" in (
        result.output
    )
    assert f"systems.yaml: openai-ft = openai:{FT_MODEL}@{server.url}" in result.output
    assert f"next: tailor data validate {out} && tailor compare {out}" in result.output
    [entry] = yaml.safe_load((out / "systems.yaml").read_text())
    assert entry["model"] == f"openai:{FT_MODEL}@{server.url}"
    assert invoke("data", "validate", out).exit_code == 0


def test_openai_file(server, tmp_path):
    file_id = server.upload(chat_rows(20))
    out = tmp_path / "file-task"
    result = invoke("import", "openai-file", file_id, "--base-url", server.url, "--out", out)
    assert result.exit_code == 0, result.output
    assert "(dev from the split)" in result.output and "systems.yaml" not in result.output
    assert validate_task(out).ok


def test_a_running_job(server, tmp_path):
    job = server.job(chat_rows(12), status="running")
    out = tmp_path / "t"
    result = invoke("import", "openai-job", job["id"], "--base-url", server.url, "--out", out)
    assert_one_line_error(result, f"{job['id']} is still running", "wait until it has succeeded")
    assert_no_folder(out)


def test_a_deleted_training_file(server, tmp_path):
    job = server.job(chat_rows(12))
    server.client.files.delete(job["training_file"])
    out = tmp_path / "t"
    result = invoke("import", "openai-job", job["id"], "--base-url", server.url, "--out", out)
    assert_one_line_error(result, f"{job['training_file']} is gone", "--training-file PATH")
    assert_no_folder(out)


def test_a_bad_key(tmp_path):
    server_app, _ = build_app(app_kwargs={"start_worker": False}, api_key="the-key")
    with live_server(server_app) as url:
        job = OpenAIServer(server_app, url).job(chat_rows(12))
        out = tmp_path / "t"
        args = ("import", "openai-job", job["id"], "--base-url", url, "--out", out)
        result = invoke(*args, "--api-key", "wrong")
    assert_one_line_error(result, "HTTP 401", "--api-key")
    assert "wrong" not in result.output  # the key is never echoed
    assert_no_folder(out)


def test_an_unreachable_url(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("tailorlm.finetune.remote.time.sleep", lambda _s: None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "t"
    url = f"http://127.0.0.1:{port}/v1"
    result = invoke("import", "openai-job", "ftjob-x", "--base-url", url, "--out", out)
    assert_one_line_error(result, "cannot reach the server")
    assert_no_folder(out)
