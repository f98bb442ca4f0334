"""The commands on a TAILOR_HOME that is read-only or full: readers list and show the runs,
writers stop with one line that names the folder and the fix (exit 1, no traceback)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from tailorlm.cli.app import app
from tests.store.test_readonly_home import (  # noqa: F401 (read_only_mount is a fixture)
    READ_ONLY_LINE,
    _index_fails,
    read_only_mount,
    simulate_read_only,
    stored_run,
)

runner = CliRunner()
# An OpenAI-compatible endpoint nobody listens on: loading it costs nothing, and a command that
# got as far as generating would fail loudly with a connection error instead.
NOWHERE = ["--model", "openai:gpt-x@http://127.0.0.1:9/v1", "--api-key", "k"]


def _one_error_line(output: str) -> str:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.fixture
def read_only_home(monkeypatch, _tailor_home):
    """A home holding one complete eval run, then made read-only; yields the run's id."""
    run_id = stored_run()
    simulate_read_only(monkeypatch, _tailor_home)
    return run_id


def test_runs_and_show_read_a_read_only_home(read_only_home):
    listed = runner.invoke(app, ["runs"])
    assert listed.exit_code == 0, listed.output
    assert "complete" in listed.output and "sql-sales" in listed.output
    shown = runner.invoke(app, ["show", read_only_home[:20]])
    assert shown.exit_code == 0, shown.output
    assert read_only_home in shown.output and "pass" in shown.output


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "sql-sales", "--limit", "1", *NOWHERE],
        ["prompt", "try", "sql-sales", "--strategy", "zero-shot", "--limit", "1", *NOWHERE],
        ["rm", "RUN"],
        ["serve"],
    ],
    ids=["eval", "prompt-try", "rm", "serve"],
)
def test_writers_on_a_read_only_home_fail_in_one_line(
    args, read_only_home, _tailor_home, monkeypatch
):
    def no_serving(*args, **kwargs):
        raise AssertionError("the server started on a read-only home")

    monkeypatch.setattr("uvicorn.run", no_serving)
    args = [read_only_home if arg == "RUN" else arg for arg in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.output) == f"Error: TAILOR_HOME {_tailor_home} {READ_ONLY_LINE}"


def test_finetune_on_a_read_only_home_fails_in_one_line(
    read_only_home, _tailor_home, tiny_model_dir
):
    args = ["finetune", "sql-sales", "--model", str(tiny_model_dir), "--max-steps", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.output) == f"Error: TAILOR_HOME {_tailor_home} {READ_ONLY_LINE}"


def test_a_failing_index_stops_writers_in_one_line_and_still_lists(monkeypatch, _tailor_home):
    stored_run()
    _index_fails(monkeypatch, "disk I/O error", failing=("BEGIN",))  # the migrations' write
    listed = runner.invoke(app, ["runs"])
    assert listed.exit_code == 0 and "sql-sales" in listed.output, listed.output
    result = runner.invoke(app, ["eval", "sql-sales", "--limit", "1", *NOWHERE])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert f"TAILOR_HOME {_tailor_home}: disk I/O error" in line and "another disk" in line


def test_a_real_read_only_mount(read_only_mount, _tailor_home):  # noqa: F811
    run_id = stored_run()
    tailor = f"{sys.executable} -m tailorlm"
    script = (
        f"{tailor} runs && {tailor} show {run_id} && "
        f"{{ {tailor} eval sql-sales --limit 1 {' '.join(NOWHERE)}; echo rc=$?; }}"
    )
    result = read_only_mount(_tailor_home, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "complete" in result.stdout and f"{run_id} eval complete" in result.stdout
    assert result.stdout.rstrip().endswith("rc=1"), result.stdout
    assert _one_error_line(result.stderr) == f"Error: TAILOR_HOME {_tailor_home} {READ_ONLY_LINE}"
