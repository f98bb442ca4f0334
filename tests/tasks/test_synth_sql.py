from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.errors import ConfigError, DataError
from tailorlm.experiments import run_eval
from tailorlm.metrics.sql_exec import run_sql
from tailorlm.tasks import BUILTIN_DIR, load_task, validate_task
from tailorlm.tasks.synth_sql import synth_sql

SALES_DB = BUILTIN_DIR / "sql-sales" / "sales.db"


def tiny_db(path):
    """Three tables linked by foreign keys; a table named like a keyword; a value with a quote."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE departments (dept_id INTEGER PRIMARY KEY, name TEXT, site TEXT);
        CREATE TABLE employees (emp_id INTEGER PRIMARY KEY, full_name TEXT, salary REAL,
            level TEXT, hired TEXT, dept_id INTEGER REFERENCES departments(dept_id));
        CREATE TABLE "order" (order_id INTEGER PRIMARY KEY, amount INTEGER,
            emp_id INTEGER REFERENCES employees);
        """
    )
    sites = ["Berlin", "Lyon", "O'Fallon"]
    departments = [(i, f"Dept {c}", sites[i % 3]) for i, c in enumerate("ABCDEF", 1)]
    conn.executemany("INSERT INTO departments VALUES (?, ?, ?)", departments)
    conn.executemany(
        "INSERT INTO employees VALUES (?, ?, ?, ?, ?, ?)",
        [(i, f"Person {i:02d}", 3000 + 37 * i, ["junior", "senior", "lead"][i % 3],
          f"{2020 + i % 4}-0{1 + i % 9}-1{i % 10}", 1 + i % 6) for i in range(1, 41)],
    )  # fmt: skip
    conn.executemany('INSERT INTO "order" VALUES (?, ?, ?)',
                     [(i, 10 + (i * 13) % 90, 1 + i % 40) for i in range(1, 121)])  # fmt: skip
    conn.commit()
    conn.close()
    return path


def rows(root):
    return [json.loads(line) for line in (root / "data.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def sales_synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "sales-synth"
    return synth_sql(SALES_DB, n=120, out=out, seed=0)


def test_sales_db_gives_a_valid_varied_task(sales_synth):
    root = sales_synth.root
    assert sales_synth.rows == 120 and validate_task(root).ok
    data = rows(root)
    assert len({r["input"]["question"].lower() for r in data}) == 120
    assert len({r["output"] for r in data}) == 120
    assert len(sales_synth.families) >= 12
    assert any("_join" in f for f in sales_synth.families)
    assert any("_2hop" in f for f in sales_synth.families)
    assert sum("JOIN" in r["output"] for r in data) >= 30
    task = load_task(root)
    db = task.resources()["db"]
    assert db.parent == root.resolve()  # the task folder carries its own copy of the database
    for row in data:
        result = run_sql(db, row["output"])
        assert result.ok and result.rows, row


def test_synthetic_task_evaluates(sales_synth):
    task = load_task(sales_synth.root)
    gold = {ex.inputs["question"]: ex.output for ex in task.split("test")[:2]}
    outcome = run_eval(task, model=FakeBackend(gold, default="SELECT 1"), limit=2)
    assert outcome.summary.n == 2 and outcome.summary.quality == pytest.approx(1.0)


def test_same_seed_same_task(tmp_path, sales_synth):
    again = synth_sql(SALES_DB, n=120, out=tmp_path / "again", seed=0)
    assert rows(again.root) == rows(sales_synth.root)
    other = synth_sql(SALES_DB, n=120, out=tmp_path / "other", seed=1)
    assert rows(other.root) != rows(sales_synth.root)


def test_tiny_db_with_foreign_keys(tmp_path):
    db = tiny_db(tmp_path / "hr.sqlite")
    result = synth_sql(db, n=80, out=tmp_path / "hr", seed=0)
    assert validate_task(result.root).ok and result.rows >= 40
    data = rows(result.root)
    sqls = [r["output"] for r in data]
    assert any('"order"' in s and "JOIN employees" in s for s in sqls)  # keyword table quoted
    assert any("JOIN departments" in s and "JOIN employees" in s for s in sqls)  # two hops
    assert any("strftime('%Y', hired)" in s for s in sqls)  # date column found
    for sql in sqls:
        assert run_sql(db, sql).rows, sql
    assert "O''Fallon" in " ".join(sqls) or all(
        "O'Fallon" not in r["input"]["question"] for r in data
    )


def make_locked(path):
    tiny_db(path)
    conn = sqlite3.connect(path)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("name,amount\nA,1\n"), "not a SQLite database"),
        (lambda p: p.write_bytes(b""), "no tables"),
        (lambda p: None, "not found"),
        (make_locked, "locked"),
    ],
    ids=["csv-file", "empty-db", "missing", "locked"],
)
def test_bad_databases(tmp_path, make, message):
    db = tmp_path / "in.db"
    holder = make(db)
    try:
        with pytest.raises(DataError, match=message) as info:
            synth_sql(db, n=10, out=tmp_path / "out")
    finally:
        if isinstance(holder, sqlite3.Connection):
            holder.close()
    assert "in.db" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_an_existing_out_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="already exists"):
        synth_sql(SALES_DB, n=5, out=tmp_path / "out")


def test_synth_vs_real_script_builds_a_leak_free_task(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "synth_vs_real.py"
    spec = importlib.util.spec_from_file_location("synth_vs_real", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = module.build_train_task(tmp_path, 80, 0)
    report = validate_task(root)
    assert report.ok and report.overlap == {"train/test": 0, "dev/test": 0}
    assert (root / "test.jsonl").read_bytes() == (BUILTIN_DIR / "sql-sales/test.jsonl").read_bytes()
    assert all(r["meta"]["synthetic"] for r in rows_of(root / "train.jsonl"))


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]
