"""The packaged sql-multi task: sizes, gold SQL that runs on each row's own database, held-out
schemas (no test database in train or dev), and a generator that reproduces the packaged files."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

import tailorlm
from tailorlm.config import TaskConfig
from tailorlm.metrics import get_metric, resolve_db
from tailorlm.metrics.sql_exec import run_sql
from tailorlm.tasks import load_task
from tailorlm.tasks.validate import validate_task

TASK_DIR = Path(tailorlm.__file__).parent / "tasks/builtin/sql-multi"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts/build_sql_multi.py"
SIZES = {"train": (400, 600), "dev": (100, 150), "test": (150, 250)}
SPLITS = tuple(SIZES)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _read(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def _databases(rows: list[dict]) -> set[str]:
    return {row["db"] for row in rows}


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {split: _read(TASK_DIR, split) for split in SPLITS}


@pytest.fixture(scope="module")
def task():
    return load_task("sql-multi")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("build_sql_multi", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules, so register while loading
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.parametrize("split", SPLITS)
def test_split_sizes_and_row_shape(splits, split):
    rows = splits[split]
    low, high = SIZES[split]
    assert low <= len(rows) <= high
    for row in rows:
        assert set(row) == {"id", "input", "output", "db", "meta"}
        assert row["input"]["question"].strip() and row["output"].startswith("SELECT ")
        meta = row["meta"]
        assert set(meta) == {"family", "database", "shape", "held_out"}
        assert meta["database"] == row["db"] and meta["family"].startswith(f"{row['db']}.")
        assert meta["held_out"] == ("none" if split == "train" else "schema")


def test_ids_unique_and_no_duplicate_questions(splits):
    ids = [row["id"] for rows in splits.values() for row in rows]
    assert len(ids) == len(set(ids))
    questions = [_norm(row["input"]["question"]) for rows in splits.values() for row in rows]
    assert len(questions) == len(set(questions))


def test_every_gold_query_runs_on_its_own_database_with_a_clear_answer(splits):
    for rows in splits.values():
        for row in rows:
            result = run_sql(TASK_DIR / f"{row['db']}.db", row["output"])
            assert result.ok and result.rows, (row["id"], result.error)
            values = [v for r in result.rows for v in r]
            assert any(v is not None for v in values) and values != [0], row["id"]


def test_no_ties_at_or_above_the_limit_cut_off(splits):
    limited = [row for rows in splits.values() for row in rows if " LIMIT " in row["output"]]
    assert len(limited) >= 50
    for row in limited:
        head, _, n = row["output"].rpartition(" LIMIT ")
        uri = f"{(TASK_DIR / (row['db'] + '.db')).as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            keys = [r[-1] for r in conn.execute(f"{head} LIMIT {int(n) + 1}")]
        finally:
            conn.close()
        assert len(keys) == int(n) + 1 and len(set(keys)) == len(keys), row["id"]


def test_each_split_uses_its_own_databases(splits):
    used = {split: _databases(rows) for split, rows in splits.items()}
    assert len(used["train"]) >= 3 and len(used["dev"]) >= 1 and len(used["test"]) >= 2
    assert not used["test"] & (used["train"] | used["dev"])
    assert not used["dev"] & used["train"]


def test_no_family_or_filling_crosses_splits(splits):
    families = {split: {row["meta"]["family"] for row in rows} for split, rows in splits.items()}
    gold = {split: {_norm(row["output"]) for row in rows} for split, rows in splits.items()}
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1 :]:
            assert not families[first] & families[second], (first, second)
            assert not gold[first] & gold[second], (first, second)


def test_every_database_covers_the_query_shapes(splits):
    shapes: dict[str, set[str]] = {}
    for rows in splits.values():
        for row in rows:
            shapes.setdefault(row["db"], set()).add(row["meta"]["shape"])
    core = {"count", "join", "aggregate", "group_by", "top_n", "not_exists", "having"}
    core |= {"date_filter", "left_join"}
    for db, found in shapes.items():
        assert core <= found, (db, core - found)


def test_task_yaml_lists_every_database_and_a_train_default(splits):
    config = TaskConfig(**yaml.safe_load((TASK_DIR / "task.yaml").read_text()))
    assert config.name == "sql-multi" and config.metric == "sql_execution"
    assert config.output_type == "sql" and config.system_prompt and config.role
    used = set().union(*(_databases(rows) for rows in splits.values()))
    assert used <= set(config.resources)
    assert all((TASK_DIR / rel).is_file() for rel in config.resources.values())
    train_files = {config.resources[name] for name in _databases(splits["train"])}
    assert config.resources["db"] in train_files


def test_validate_task_reports_no_errors():
    report = validate_task(TASK_DIR)
    assert report.ok, [str(e) for e in report.errors]
    assert set(report.counts) == set(SPLITS)
    assert not any(report.overlap.values())


def test_each_row_database_resolves_through_load_task(task, splits):
    resources = task.resources()
    for split in SPLITS:
        examples = task.split(split)
        assert [e.id for e in examples] == [row["id"] for row in splits[split]]
        for example, row in zip(examples, splits[split], strict=True):
            expected = (TASK_DIR / f"{row['db']}.db").resolve()
            assert Path(example.meta["db"]) == expected, example.id
            assert resolve_db(example, resources) == expected, example.id


@pytest.mark.parametrize("split", SPLITS)
def test_gold_answers_score_full_marks(task, split):
    metric, resources = get_metric("sql_execution"), task.resources()
    examples = task.split(split)
    first_per_db = {e.meta["database"]: e for e in reversed(examples)}
    for example in [*examples[:4], *first_per_db.values()]:
        assert metric(example.output, example, resources).value == 1.0, example.id


def test_generator_reproduces_the_packaged_files(tmp_path, generator):
    first, second = tmp_path / "a", tmp_path / "b"
    generator.main(["--out", str(first)])
    generator.main(["--out", str(second)])
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "task.yaml"):
        assert (first / name).read_bytes() == (TASK_DIR / name).read_bytes(), name
    databases = sorted(p.name for p in TASK_DIR.glob("*.db"))
    assert databases == sorted(p.name for p in first.glob("*.db"))
    for name in databases:
        # byte-identical between runs; against the packaged file compare contents, since the
        # file header records the SQLite version that wrote it
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
        fresh, packaged = (sqlite3.connect(p) for p in (first / name, TASK_DIR / name))
        try:
            assert list(fresh.iterdump()) == list(packaged.iterdump()), name
        finally:
            fresh.close()
            packaged.close()
    assert not list(first.glob("*.tmp"))
