from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tailorlm.cli.app import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("tasks", "eval", "runs", "data", "demo"):
        assert command in result.output


def test_cli_import_stays_light():
    """`tailor --help` must start fast: no torch/transformers at import time."""
    code = (
        "import sys, tailorlm.cli.app; "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tasks_lists_builtin():
    result = invoke("tasks")
    assert result.exit_code == 0 and "sql-sales" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("eval", "no-such-task"), "No task 'no-such-task'"),
        (("eval", "sql-sales", "--strategy", "magic"), "Unknown strategy 'magic'"),
        (("eval", "sql-sales", "--model", "./no/such/model", "--limit", "1"), "Model not found"),
        (("eval", "sql-sales", "--split", "validation"), "validation"),
        (("show", "no-such-run"), "No run 'no-such-run'"),
        (("eval", "sql-sales", "--prompt", "missing.yaml"), "missing.yaml"),
    ],
)
def test_user_errors_exit_nonzero_without_traceback(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def _bad_task(tmp_path):
    (tmp_path / "task.yaml").write_text("name: bad\nmetric: exact_match\n")
    (tmp_path / "test.jsonl").write_text(
        '{"input": "a", "output": "b"}\n{"input": "c", "outpt": "d"}\n'
    )
    return tmp_path


def test_data_validate_names_file_line_and_field(tmp_path):
    result = invoke("data", "validate", str(_bad_task(tmp_path)))
    assert result.exit_code == 1
    assert "test.jsonl:2" in result.output and "outpt" in result.output


def test_data_validate_builtin_is_valid():
    result = invoke("data", "validate", "sql-sales")
    assert result.exit_code == 0 and "valid" in result.output


def test_data_stats_counts_tokens(tiny_model_dir):
    result = invoke("data", "stats", "sql-sales", "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["test"]["rows"] >= 150 and stats["test"]["input_tokens"]["max"] > 5


def test_eval_runs_show_end_to_end_on_tiny_model(tiny_model_dir):
    args = (
        "eval",
        "sql-sales",
        "--model",
        str(tiny_model_dir),
        "--limit",
        "3",
        "--max-new-tokens",
        "4",
        "-s",
        "schema-role",
    )
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "quality" in result.output and "95% CI" in result.output
    again = invoke(*args)
    assert "reused stored run" in again.output
    runs = invoke("runs")
    assert runs.exit_code == 0 and "complete" in runs.output
    run_id = again.output.split("run ")[1].split()[0]
    shown = invoke("show", run_id[:20])
    assert shown.exit_code == 0 and "schema-role" in shown.output
    listed = json.loads(invoke("runs", "--json").output)
    assert [r["id"] for r in listed] == [run_id] and listed[0]["status"] == "complete"
    detail = json.loads(invoke("show", "schema-role", "--json").output)  # by its name
    assert detail["id"] == run_id and detail["config"]["kind"] == "eval"
    assert len(detail["examples"]) == 3 and "prediction" in detail["examples"][0]


def test_tables_keep_ids_and_names_whole_at_80_columns(monkeypatch):
    from tailorlm.cli import render

    monkeypatch.setattr(render.console, "_width", 80)
    tasks = invoke("tasks")
    names = [t["name"] for t in json.loads(invoke("tasks", "--json").output)]
    assert "sql-multi" in names and "explain-result" in names
    for name in names:
        assert name in tasks.output
    from tailorlm.store import RunStore

    store = RunStore()
    writer = store.start(
        "finetune",
        name="a-long-run-name-nobody-may-cut",
        task="report-bullets",
        model="openai:gpt-4o-mini@http://127.0.0.1:8000/v1",
        config={"kind": "finetune"},
        data_hash="d",
    )
    writer.complete()
    runs = invoke("runs").output
    for whole in (store.short_ids([writer.id])[0], "report-bullets", "gpt-4o-mini@http://127"):
        assert whole in runs
    assert "a-long-run-name-nobody-may-cut" in runs and "…" not in runs
