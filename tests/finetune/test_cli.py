from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from tailorlm.cli.errors import TailorGroup
from tailorlm.cli.finetune_cmds import register
from tailorlm.store import RunStore

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    app = typer.Typer(cls=TailorGroup, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:  # a group, as in the real app
        pass

    register(app)
    return app


TINY_ARGS = [
    "--max-steps",
    "2",
    "--batch-size",
    "4",
    "--set",
    "train_size=16",
    "--set",
    "dev_limit=4",
    "--set",
    "metric_limit=0",
]


def test_finetune_then_export(app, tiny_model_dir, tmp_path):
    result = runner.invoke(
        app,
        ["finetune", "sql-sales", "--model", str(tiny_model_dir), *TINY_ARGS, "--out", "cli-run"],
    )
    assert result.exit_code == 0, result.output
    (record,) = RunStore().list(kind="finetune")
    assert record.name == "cli-run" and record.is_complete
    assert record.id in result.output and "--adapter" in result.output
    assert record.load_config()["train"]["max_steps"] == 2
    out = tmp_path / "merged"
    result = runner.invoke(app, ["export", record.id, "--out", str(out), "--merge"])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["finetune", "sql-sales", "--set", "lora_rnk=4"], "fine-tuning option 'lora_rnk'"),
        (["finetune", "sql-sales", "--set", "epochs=0"], "fine-tuning option 'epochs'"),
        (["finetune", "sql-sales", "--set", "oops"], "not KEY=VALUE"),
        (["finetune"], "Missing TASK"),
        (["finetune", "sql-sales", "--train-sizes", "100,50"], "--train-sizes"),
        (["finetune", "--resume", "nope"], "No run 'nope'"),
        (["export", "nope", "--out", "x"], "No run 'nope'"),
    ],
)
def test_user_errors_are_one_line(app, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_finetune_commands_import_light():
    code = (
        "import sys, tailorlm.cli.finetune_cmds, tailorlm.finetune; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'accelerate') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
