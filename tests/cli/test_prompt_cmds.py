from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from tailorlm.cli.prompt_cmds import prompt_app
from tailorlm.prompting.program import PromptProgram

runner = CliRunner()
app = typer.Typer()
app.add_typer(prompt_app, name="prompt")


@app.callback()
def _root() -> None:
    """A local stand-in for the main app, which registers prompt_app the same way."""


def invoke(*args):
    return runner.invoke(app, ["prompt", *args])


def flat(output: str) -> str:
    """Rich wraps long lines at the terminal width; compare text without the wrapping."""
    return " ".join(output.split())


@pytest.fixture
def tiny(tiny_model_dir):
    return ["--model", str(tiny_model_dir), "--max-new-tokens", "4"]


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("optimize", "try", "history", "show", "diff", "strategies"):
        assert command in result.output


def test_import_stays_light():
    code = (
        "import sys, tailorlm.cli.prompt_cmds; "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_strategies_are_listed_with_options():
    result = invoke("strategies")
    assert result.exit_code == 0 and "few-shot" in result.output and "k=3" in result.output


def test_show_renders_program_and_messages():
    result = invoke("show", "sql-sales", "-s", "context+few-shot:k=1,similarity=lexical")
    assert result.exit_code == 0, result.output
    assert "demo_selector:" in result.output and "Database schema:" in result.output
    assert "assistant" in result.output


def test_persona_flag_sets_the_system_message():
    result = invoke("show", "sql-sales", "-s", "role+context", "--persona", "You are Bob, a DBA.")
    assert result.exit_code == 0, result.output
    assert "system: You are Bob, a DBA." in result.output


def test_try_saves_the_strategy_and_shows_pass_fail(tiny):
    result = invoke("try", "sql-sales", "-s", "role+format", "--limit", "2", *tiny)
    assert result.exit_code == 0, result.output
    assert result.output.count("FAIL") + result.output.count("PASS") == 2
    assert "gold:" in result.output and "added by the program" in flat(result.output)
    assert "prompts/sql-sales/role_format.yaml" in result.output.replace("\n", "")


def test_optimize_then_history_and_diff(tiny, tmp_path):
    out = tmp_path / "best.yaml"
    args = ["--budget", "12", "--minibatch", "2", "--select-rows", "4"]
    args += ["--similarity", "lexical", "--test-limit", "2"]
    result = invoke("optimize", "sql-sales", *args, "--out", str(out), *tiny)
    assert result.exit_code == 0, result.output
    assert "winner" in result.output and "test (once, winner only)" in flat(result.output)
    assert out.is_file()
    run_id = result.output.split("run ")[1].split()[0]
    history = invoke("history", "sql-sales")
    assert history.exit_code == 0 and "optimize" in history.output and run_id[:13] in history.output
    same = invoke("diff", run_id, str(out))
    assert same.exit_code == 0 and same.output.strip() == "identical"
    other = tmp_path / "other.yaml"
    PromptProgram(name="other", system="Be brief.").save(other)
    diff = invoke("diff", run_id, str(other))
    assert diff.exit_code == 0 and "+system: Be brief." in diff.output
    again = invoke("optimize", "sql-sales", *args, *tiny)
    assert "reused stored search" in flat(again.output)


def test_optimize_with_a_proposer_stays_within_budget(tiny):
    model = tiny[1]
    args = ["--budget", "14", "--minibatch", "2", "--select-rows", "4", "--bootstrap", "0"]
    args += ["--no-test"]
    result = invoke("optimize", "sql-sales", *args, "--proposer", model, "--proposals", "2", *tiny)
    assert result.exit_code == 0, result.output
    calls, budget = flat(result.output).split(" model calls")[0].split()[-1].split("/")
    assert int(calls) <= int(budget) == 14 and "test (once" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("optimize", "sql-sales", "--budget", "2"), "cannot evaluate even one candidate"),
        (("try", "sql-sales", "-s", "few-shot:x=1"), "has no option 'x'"),
        (("try", "sql-sales", "--prompt", "missing.yaml"), "missing.yaml"),
        (("show", "sql-sales", "-s", "zero-shot", "--prompt", "p.yaml"), "one of --prompt"),
        (("history", "no-such-task"), "No task 'no-such-task'"),
        (("diff", "no-such-run", "other"), "No run 'no-such-run'"),
    ],
)
def test_user_errors_exit_nonzero_without_traceback(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in flat(result.output) and "Traceback" not in result.output
