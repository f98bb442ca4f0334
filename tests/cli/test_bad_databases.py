"""A task whose database is not SQLite fails `tailor data validate`, and `tailor eval` stops at
the task, naming the database, before any model loads or any run is stored."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailorlm.backends import LazyBackend
from tailorlm.cli.app import app
from tailorlm.store import RunStore
from tailorlm.tasks.loader import BUILTIN_DIR

runner = CliRunner()


def _sql_sales_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(BUILTIN_DIR / "sql-sales", tmp_path / "task"))


def _random_resource(task: Path) -> list[str]:
    (task / "sales.db").write_bytes(os.urandom(8192))
    return ["task/sales.db: not a SQLite database (file is not a database)"]


def _random_row_db(task: Path) -> list[str]:
    (task / "other.db").write_bytes(os.urandom(8192))
    lines = (task / "test.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    lines[2] = json.dumps({**row, "db": "other.db"})
    (task / "test.jsonl").write_text("\n".join(lines) + "\n")
    return ["task/test.jsonl:3: field 'db': ", "task/other.db is not a SQLite database"]


CASES = [_random_resource, _random_row_db]


@pytest.mark.parametrize("damage", CASES, ids=["resource", "row-db"])
def test_validate_rejects_a_database_that_is_not_sqlite(tmp_path, damage):
    task = _sql_sales_copy(tmp_path)
    expected = damage(task)
    result = runner.invoke(app, ["data", "validate", str(task)])
    assert result.exit_code == 1
    shown = "".join(result.output.split())  # rich wraps long lines anywhere, even in a path
    assert all("".join(part.split()) in shown for part in expected), result.output


@pytest.mark.parametrize("damage", CASES, ids=["resource", "row-db"])
def test_eval_stops_at_the_database_before_the_model(tmp_path, monkeypatch, damage):
    task = _sql_sales_copy(tmp_path)
    expected = damage(task)
    monkeypatch.setattr(LazyBackend, "loaded", property(lambda self: pytest.fail("loaded")))
    result = runner.invoke(app, ["eval", str(task), "--limit", "2"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "gold" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and all(part in errors[0] for part in expected), result.output
    assert RunStore().list() == []
