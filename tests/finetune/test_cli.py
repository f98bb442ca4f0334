from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from tailorlm.cli import launch
from tailorlm.cli.errors import TailorGroup
from tailorlm.cli.finetune_cmds import register
from tailorlm.finetune import FinetuneConfig
from tailorlm.store import RunStore
from tailorlm.training import run_finetune
from tests.finetune.helpers import TINY

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
    result = runner.invoke(app, ["export", "cli-run", "--out", str(out), "--merge"])  # its name
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()
    from tailorlm.cli.app import app as tailor

    evaluated = runner.invoke(
        tailor,
        ["eval", "sql-sales", "--adapter", "cli-run", "--limit", "2", "--max-new-tokens", "2"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "quality" in evaluated.output


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


def _interrupted_run(model_dir):
    """A fine-tuning run stopped at step 3 of 4 (its newest checkpoint is step 2)."""

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_finetune(
            "sql-sales", model=str(model_dir), config=FinetuneConfig(**TINY), progress=interrupt
        )
    (record,) = RunStore().list(kind="finetune")
    return record


@pytest.mark.parametrize("entry", ["tailor", "launch"])
def test_resume_names_the_runs_task_in_the_eval_hint(app, tiny_model_dir, capsys, entry):
    record = _interrupted_run(tiny_model_dir)
    if entry == "tailor":
        result = runner.invoke(app, ["finetune", "--resume", record.id])
        assert result.exit_code == 0, result.output
        output = result.output
    else:
        assert launch.main(["--resume", record.id]) == 0
        output = capsys.readouterr().out
    assert f"evaluate: tailor eval sql-sales --adapter {record.id}" in output
    assert "TASK" not in output


# Four steps with a dev evaluation and a checkpoint every two, as each entry point spells it.
PLAIN = {"max_steps": 4, "eval_every": 2, "save_every": 2, "batch_size": 4, "train_size": 16}
PLAIN |= {"dev_limit": 4, "metric_limit": 0}
TAILOR_ARGS = [arg for k, v in PLAIN.items() for arg in ("--set", f"{k}={v}")]
LAUNCH_ARGS = [arg for k, v in PLAIN.items() for arg in (f"--{k.replace('_', '-')}", str(v))]
EVAL_LINE = re.compile(r"^step 2/4  train loss \d+\.\d{3}  dev loss \d+\.\d{3}.*\(\d+:\d\d:\d\d\)$")


def _assert_plain_progress(output):
    lines = output.splitlines()
    assert any(EVAL_LINE.match(line) for line in lines), output
    assert "checkpoint step 2 saved" in lines and "checkpoint step 4 saved" in lines, output


def test_finetune_prints_plain_progress_lines_when_not_a_terminal(app, tiny_model_dir):
    args = ["finetune", "sql-sales", "--model", str(tiny_model_dir), *TAILOR_ARGS]
    result = runner.invoke(app, args)  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    _assert_plain_progress(result.output)


def test_launch_prints_the_same_lines_and_summary_as_tailor_finetune(tiny_model_dir, capsys):
    assert launch.main(["sql-sales", "--model", str(tiny_model_dir), *LAUNCH_ARGS]) == 0
    output = capsys.readouterr().out
    _assert_plain_progress(output)
    (record,) = RunStore().list(kind="finetune")
    assert f"run {record.id}" in output.splitlines()
    assert f"evaluate: tailor eval sql-sales --adapter {record.id}" in output
    assert not any(line.startswith("{") for line in output.splitlines())


def test_launch_json_prints_one_event_per_line(tiny_model_dir, capsys):
    args = ["sql-sales", "--model", str(tiny_model_dir), *LAUNCH_ARGS, "--json"]
    assert launch.main(args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert {"start", "step", "eval", "checkpoint"} <= set(kinds)
    assert kinds[-2:] == ["done", "run"] and events[-2]["rank"] == 0 and events[-2]["digest"]
