"""The packaged sql-sales task: sizes, runnable gold SQL, a test split that measures
generalization, and a generator that reproduces the packaged files exactly."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

import tailorlm
from tailorlm.config import TaskConfig

TASK_DIR = Path(tailorlm.__file__).parent / "tasks/builtin/sql-sales"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts/build_sql_sales.py"
MIN_SIZES = {"train": 400, "dev": 100, "test": 150}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _read(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {split: _read(TASK_DIR, split) for split in MIN_SIZES}


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("build_sql_sales", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules, so register while loading
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.parametrize("split", list(MIN_SIZES))
def test_split_sizes_and_row_shape(splits, split):
    rows = splits[split]
    assert len(rows) >= MIN_SIZES[split]
    for row in rows:
        assert set(row) == {"id", "input", "output", "meta"}
        assert row["input"]["question"].strip() and row["output"].startswith("SELECT ")
        assert row["meta"]["family"]


def test_ids_unique_and_no_duplicate_questions_within_a_split(splits):
    ids = [row["id"] for rows in splits.values() for row in rows]
    assert len(ids) == len(set(ids))
    for rows in splits.values():
        questions = [_norm(row["input"]["question"]) for row in rows]
        assert len(questions) == len(set(questions))


def test_every_gold_query_runs_read_only_and_returns_rows(splits):
    conn = sqlite3.connect(f"file:{TASK_DIR / 'sales.db'}?mode=ro", uri=True)
    try:
        for rows in splits.values():
            for row in rows:
                assert conn.execute(row["output"]).fetchall(), row["id"]
    finally:
        conn.close()


def test_test_questions_and_gold_queries_are_unseen(splits):
    seen_q = {_norm(r["input"]["question"]) for s in ("train", "dev") for r in splits[s]}
    seen_sql = {_norm(r["output"]) for s in ("train", "dev") for r in splits[s]}
    for row in splits["test"]:
        assert _norm(row["input"]["question"]) not in seen_q, row["id"]
        assert _norm(row["output"]) not in seen_sql, row["id"]
    dev_q = {_norm(r["input"]["question"]) for r in splits["dev"]}
    assert not dev_q & {_norm(r["input"]["question"]) for r in splits["train"]}


def test_a_quarter_of_test_is_held_out_query_shapes(splits):
    train_families = {row["meta"]["family"] for row in splits["train"]}
    held_out = [row for row in splits["test"] if row["meta"]["family"] not in train_families]
    assert len(held_out) >= 0.25 * len(splits["test"])
    assert len({row["meta"]["family"] for row in held_out}) >= 4


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{[a-z_0-9]+\}", template)
    return re.compile("(?:.+)".join(re.escape(p) for p in parts) + r"\Z")


def test_shared_families_keep_their_test_phrasing_out_of_train_and_dev(splits, generator):
    for fam in generator.SHARED:
        reserved = _pattern(fam.phrasings[-1])
        for split in ("train", "dev"):
            rows = [r for r in splits[split] if r["meta"]["family"] == fam.name]
            assert not any(reserved.match(r["input"]["question"]) for r in rows), fam.name
        tests = [r for r in splits["test"] if r["meta"]["family"] == fam.name]
        assert tests and all(reserved.match(r["input"]["question"]) for r in tests), fam.name


def test_task_yaml_is_a_valid_task_config():
    config = TaskConfig(**yaml.safe_load((TASK_DIR / "task.yaml").read_text()))
    assert config.name == "sql-sales" and config.metric == "sql_execution"
    assert (TASK_DIR / config.resources["db"]).is_file()


def test_generator_reproduces_the_packaged_files(tmp_path, generator):
    generator.main(["--out", str(tmp_path)])
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "task.yaml"):
        assert (tmp_path / name).read_bytes() == (TASK_DIR / name).read_bytes(), name
    # compare contents, not bytes: the file layout may differ between SQLite versions
    fresh, packaged = (sqlite3.connect(p) for p in (tmp_path / "sales.db", TASK_DIR / "sales.db"))
    try:
        assert list(fresh.iterdump()) == list(packaged.iterdump())
    finally:
        fresh.close()
        packaged.close()
    assert not list(tmp_path.glob("*.tmp"))
