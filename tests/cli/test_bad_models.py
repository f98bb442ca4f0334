"""A bad --model is the user's mistake: one line and a hint, exit 1, and no run left behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailorlm import paths
from tailorlm.backends.models import packaged_gguf
from tailorlm.cli.app import app
from tailorlm.store import RunStore

runner = CliRunner()


def _random_gguf(tmp: Path) -> str:
    (tmp / "x.gguf").write_bytes(os.urandom(4096))
    return str(tmp / "x.gguf")


def _truncated_gguf(tmp: Path) -> str:
    with packaged_gguf().open("rb") as fh:
        (tmp / "x.gguf").write_bytes(fh.read(20))
    return str(tmp / "x.gguf")


def _empty_config_folder(tmp: Path) -> str:
    (tmp / "model").mkdir()
    (tmp / "model" / "config.json").write_text("")
    return str(tmp / "model")


BAD_MODELS = [
    (_random_gguf, "x.gguf is not a GGUF file (it does not start with the GGUF magic bytes)"),
    (_truncated_gguf, "x.gguf is truncated: its header ends early"),
    (_empty_config_folder, "model has an empty config.json"),
    (lambda tmp: "/nonexistent", "Model not found: /nonexistent"),
]
IDS = ["random-gguf", "truncated-gguf", "empty-config", "nonexistent"]


def _assert_one_line_error(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Hint: " in result.output


def _assert_no_run_left() -> None:
    assert RunStore().list() == []
    leftovers = [p.name for p in paths.runs_dir().iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.parametrize(("make", "message"), BAD_MODELS, ids=IDS)
def test_eval_with_a_bad_model_leaves_no_run(tmp_path, make, message):
    args = ["eval", "sql-sales", "--model", make(tmp_path), "--limit", "2"]
    _assert_one_line_error(runner.invoke(app, args), message)
    _assert_no_run_left()


@pytest.mark.parametrize(("make", "message"), BAD_MODELS, ids=IDS)
def test_finetune_with_a_bad_model_leaves_no_run(tmp_path, make, message):
    args = ["finetune", "sql-sales", "--model", make(tmp_path), "--max-steps", "1"]
    _assert_one_line_error(runner.invoke(app, args), message)
    _assert_no_run_left()


def test_reused_eval_never_loads_the_model(tmp_path, tiny_model_dir):
    """The model loads before a *new* run only: a stored identical run is reused even after
    the model's files are damaged, since nothing is loaded to reuse it."""
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    args = ["eval", "sql-sales", "--model", str(model), "--limit", "2", "--max-new-tokens", "2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (model / "config.json").write_text("")
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "reused stored run" in again.output, again.output
