"""Shell completion: typer's scripts, and completion of task names and run names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tailorlm.cli.app import app
from tailorlm.store import RunStore

TAILOR = Path(sys.executable).parent / "tailor"


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_TAILOR_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    out = subprocess.run([str(TAILOR)], env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def test_the_bash_completion_script_is_shown():
    result = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="tailor")
    assert result.exit_code == 0
    assert "_TAILOR_COMPLETE=complete_bash" in result.output
    assert "complete -o default -F _tailor_completion tailor" in result.output


def test_commands_task_names_and_run_names_complete():
    assert "compare" in _complete("tailor comp")
    assert _complete("tailor compare sql-") == ["sql-multi", "sql-sales"]
    writer = RunStore().start(
        "finetune", name="bars-ft", task="sql-sales", model="m", config={}, data_hash="d"
    )
    writer.complete()
    assert "bars-ft" in _complete("tailor show bars")
