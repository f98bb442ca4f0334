from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

import tailorlm.backends
from tailorlm.backends import FakeBackend
from tailorlm.cli.app import app
from tailorlm.tasks import BUILTIN_DIR, load_task

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def fake_model(monkeypatch):
    """`tailor eval` loads its model through `load_backend`; this one answers the gold output of
    every row."""
    answers = {}

    def make(spec=None, **_):
        return FakeBackend(answers, default="no idea", name="fake")

    monkeypatch.setattr(tailorlm.backends, "load_backend", make)
    return answers


def teach(answers, root, n=2):
    task = load_task(root)
    field = task.config.input_fields[0]
    answers.update({ex.inputs[field]: ex.output for ex in task.split("test")[:n]})


@pytest.mark.parametrize("task_type", ["sql", "classification", "generation", "code"])
def test_init_validate_eval(tmp_path, fake_model, task_type):
    root = tmp_path / "mine"
    result = invoke("init", root, "--type", task_type)
    assert result.exit_code == 0, result.output
    assert invoke("data", "validate", root).exit_code == 0
    teach(fake_model, root)
    result = invoke("eval", root, "--limit", 2)
    assert result.exit_code == 0, result.output
    assert "quality 100.0%" in result.output


def test_import_split_validate_eval(tmp_path, fake_model):
    src = tmp_path / "tickets.csv"
    lines = ["subject,body,team"] + [
        f"subject {i},body text number {i},team{i % 3}" for i in range(30)
    ]
    src.write_text("\n".join(lines) + "\n")
    root = tmp_path / "tickets"
    assert invoke("init", root, "--type", "classification").exit_code == 0
    result = invoke("data", "import", src, "--input", "subject,body", "--output", "team",
                    "--task", root)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "imported 30 rows" in result.output and "test 6" in result.output
    result = invoke("data", "split", root, "--dev", "0.1", "--test", "0.3", "--seed", "1")
    assert result.exit_code == 0 and "test 9" in result.output, result.output
    assert invoke("data", "validate", root).exit_code == 0
    teach(fake_model, root)
    assert invoke("eval", root, "--limit", 2).exit_code == 0


def test_synth_sql_then_eval(tmp_path, fake_model):
    out = tmp_path / "synth"
    result = invoke("data", "synth-sql", "--db", BUILTIN_DIR / "sql-sales" / "sales.db",
                    "--n", 40, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 40 question/SQL pairs" in result.output
    assert invoke("data", "validate", out).exit_code == 0
    teach(fake_model, out)
    result = invoke("eval", out, "--limit", 2)
    assert result.exit_code == 0, result.output


def locked_db(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a TEXT)")
    conn.commit()
    conn.execute("BEGIN EXCLUSIVE")
    return conn


# (command, files to create {name: bytes}, text the one-line error must contain)
BAD = [
    (["data", "import", "{d}/a.csv", "--input", "q", "--output", "a", "--task", "{d}/t"],
     {"a.csv": b"q,b\nx,y\n"}, "a.csv:1: field 'a': missing column"),
    (["data", "import", "{d}/a.csv", "--input", "q", "--output", "a", "--task", "{d}/t"],
     {"a.csv": b"q,a\nx,\n"}, "a.csv:2: field 'a': empty cell"),
    (["data", "import", "{d}/a.csv", "--input", "q", "--output", "a", "--task", "{d}/t"],
     {"a.csv": b"q,a\ncaf\xe9,1\n"}, "a.csv:2: not valid UTF-8"),
    (["data", "import", "{d}/a.jsonl", "--input", "q", "--output", "a", "--task", "{d}/t"],
     {"a.jsonl": b'{"q": "x", "a": 1}\n{"q": "y", "a": "z"}\n'}, "a.jsonl:2: field 'a': mixed"),
    (["data", "synth-sql", "--db", "{d}/a.db", "--out", "{d}/t"],
     {"a.db": b"id,name\n1,x\n"}, "a.db: not a SQLite database"),
    (["data", "synth-sql", "--db", "{d}/nope.db", "--out", "{d}/t"], {},
     "nope.db: database file not found"),
    (["data", "split", "{d}/t", "--dev", "0.5", "--test", "0.6"], {}, "leave no rows"),
    (["init", "{d}/t", "--type", "sqll"], {}, "unknown task type 'sqll'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "files", "expected"),
    BAD,
    ids=[" ".join(b[0][:2]) + f"-{i}" for i, b in enumerate(BAD)],
)
def test_bad_input_is_one_clear_error(tmp_path, args, files, expected):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    if args[0] == "data" and args[1] == "split":
        assert invoke("init", tmp_path / "t").exit_code == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 1
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-written


def test_locked_database(tmp_path):
    holder = locked_db(tmp_path / "a.db")
    try:
        result = invoke("data", "synth-sql", "--db", tmp_path / "a.db", "--out", tmp_path / "t")
    finally:
        holder.close()
    assert result.exit_code == 1 and "database is locked" in result.output
    assert not (tmp_path / "t").exists()
