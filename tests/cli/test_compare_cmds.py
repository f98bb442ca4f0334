"""`tailor compare` and `tailor demo` through the CLI."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from tailorlm import compare
from tailorlm.backends import ModelSpec
from tailorlm.cli import compare_cmds
from tailorlm.cli.app import app
from tailorlm.compare import presets
from tailorlm.tasks import load_task
from tests.compare.helpers import schema_and_demos_fake, tiny

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_compare_runs_all_systems_then_reuses_the_stored_comparison(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(presets.PRESETS, "quick", tiny(test_limit=3, max_new_tokens=4))
    first = invoke("compare", "sql-sales", "--model", str(tiny_model_dir))
    assert first.exit_code == 0, first.output
    for system in ("zero-shot", "best-prompt", "optimized-prompt", "finetuned"):
        assert f"+ {system}:" in first.output
    assert "tailor report" in first.output
    # Not a terminal: plain progress lines, each stage's end among them.
    assert "zero-shot: test: 3/3 (" in first.output
    again = invoke("compare", "sql-sales", "--model", str(tiny_model_dir))
    assert again.exit_code == 0 and "reused stored comparison" in again.output


def test_demo_is_compare_sql_sales_quick_with_the_default_model(monkeypatch):
    seen = {}
    real = compare.run_compare

    def fake_compare(task, **kwargs):
        seen.update(kwargs, task=task)
        kwargs["preset"] = tiny()
        fake = schema_and_demos_fake(load_task(task))
        return real(task, **{**kwargs, "model": fake})

    monkeypatch.setattr(compare, "run_compare", fake_compare)
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    assert seen["task"] == "sql-sales" and seen["preset"] == "quick"
    assert seen["model"].spec == ModelSpec.parse(None)  # the packaged default model
    assert "+ best-prompt: 100.0%" in result.output
    assert "- finetuned: not possible" in result.output


def test_unknown_preset_is_a_one_line_error():
    result = invoke("compare", "sql-sales", "--preset", "fastest")
    assert result.exit_code != 0 and "Unknown preset 'fastest'" in result.output
    assert "Traceback" not in result.output


def test_without_the_report_layer_a_plain_table_is_shown(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tailorlm.report", None)  # import fails
    comparison = {
        "task": "t",
        "systems": [
            {"id": "zero-shot", "status": "ok", "quality": {"score": 0.25, "ci": [0.1, 0.4]}},
            {"id": "finetuned", "status": "not_possible", "reason": "API-only"},
            {"id": "odd", "quality": None},  # tolerated: missing keys and nulls show as "-"
        ],
    }
    assert compare_cmds.show_report(comparison, out_dir=None) is None
    out = capsys.readouterr().out
    assert "25.0%" in out and "not possible" in out and "-" in out


@pytest.mark.parametrize("status, word", [("failed", "failed"), ("not_possible", "not possible")])
def test_system_line_names_why_a_system_did_not_run(status, word):
    line = compare_cmds.system_line({"id": "finetuned", "status": status, "reason": "why"})
    assert line == f"- finetuned: {word}: why"


def test_compare_holds_the_systems_to_the_target(monkeypatch):
    real = compare.run_compare

    def fake_compare(task, **kwargs):
        kwargs["preset"] = tiny()
        return real(task, **{**kwargs, "model": schema_and_demos_fake(load_task(task))})

    monkeypatch.setattr(compare, "run_compare", fake_compare)
    result = invoke("compare", "sql-sales", "--target", "0.99")
    assert result.exit_code == 0, result.output
    assert (
        "your bar 99.0%" in result.output or "No system reaches your bar of 99.0%" in result.output
    )
    result = invoke("compare", "sql-sales", "--target", "1.5")
    assert result.exit_code != 0  # a bar is a fraction


def test_until_decided_prints_each_look_and_the_decision(monkeypatch):
    from tailorlm.compare import sequential

    real = sequential.run_compare

    def fake_compare(task, **kwargs):
        kwargs["preset"] = tiny()
        return real(task, **{**kwargs, "model": schema_and_demos_fake(task)})  # a loaded Task

    # The fake cannot be fine-tuned: decide the prompt pair it separates.
    monkeypatch.setattr(sequential, "run_compare", fake_compare)
    monkeypatch.setattr(sequential, "key_pair", lambda c: ("best-prompt", "zero-shot"))
    result = invoke("compare", "sql-sales", "--until-decided", "--limit", "6")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "until decided" in flat and "6 rows: best-prompt - zero-shot" in flat
    assert "decided after 12 rows: best-prompt is better" in flat
