from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tailorlm.errors import DataError, TaskNotFoundError
from tailorlm.tasks import Task, list_builtin_tasks, load_task, resolve_task
from tailorlm.tasks import loader as loader_module

CONFIG = {"name": "toy", "metric": "exact_match"}


def rows(split: str, n: int = 3) -> list[dict]:
    return [{"input": f"{split} question {i}", "output": f"{split} answer {i}"} for i in range(n)]


def write_task(root: Path, config: dict | None = None, files: dict | None = None) -> Path:
    """A task folder; `files` maps file name to rows (JSON-encoded) or raw text, None deletes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.yaml").write_text(yaml.safe_dump(config or CONFIG))
    default = {f"{s}.jsonl": rows(s) for s in ("train", "dev", "test")}
    for name, content in {**default, **(files or {})}.items():
        if content is None:
            continue
        if not isinstance(content, str):
            content = "".join(json.dumps(r) + "\n" for r in content)
        (root / name).write_text(content, encoding="utf-8")
    return root


def test_loads_plain_rows_with_ids_and_meta(tmp_path):
    train = [
        {"input": "How many?", "output": "3", "id": "q1", "meta": {"source": "wiki"}},
        {"input": "How few?", "output": "1"},
    ]
    task = load_task(write_task(tmp_path / "t", files={"train.jsonl": train}))
    first, second = task.split("train")
    assert (first.id, first.inputs, first.output) == ("q1", {"question": "How many?"}, "3")
    assert first.meta == {"source": "wiki"} and first.messages is None
    assert second.id == "train-2"  # default id: split and 1-based line
    assert task.name == "toy" and not task.builtin and task.root == (tmp_path / "t").resolve()


def test_dict_input_needs_every_field_and_keeps_extras(tmp_path):
    config = {**CONFIG, "input_fields": ["question", "schema"]}
    train = [{"input": {"question": "q", "schema": "s", "hint": "h"}, "output": "a"}]
    task = load_task(write_task(tmp_path / "t", config, {"train.jsonl": train}))
    assert task.split("train")[0].inputs == {"question": "q", "schema": "s", "hint": "h"}


def test_loads_chat_rows(tmp_path):
    chat = {
        "messages": [
            {"role": "system", "content": "You write SQL."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "SELECT 1"},
            {"role": "user", "content": "count orders"},
            {"role": "assistant", "content": "SELECT COUNT(*) FROM orders"},
        ]
    }
    example = load_task(write_task(tmp_path / "t", files={"train.jsonl": [chat]})).split("train")[0]
    assert example.output == "SELECT COUNT(*) FROM orders"
    assert example.inputs == {"question": "count orders"}
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(
    ("config", "csv_text", "inputs"),
    [
        (CONFIG, "input,output\nhello,world\n", {"question": "hello"}),
        (
            {**CONFIG, "input_fields": ["question", "schema"]},
            'question,schema,output,id\n"a, b","t(x)",out,r1\n',
            {"question": "a, b", "schema": "t(x)"},
        ),
    ],
)
def test_loads_csv(tmp_path, config, csv_text, inputs):
    root = write_task(tmp_path / "t", config, {"train.jsonl": None, "train.csv": csv_text})
    (example,) = load_task(root).split("train")
    assert example.inputs == inputs and example.output in {"world", "out"}


def test_csv_multiline_cell_and_bom(tmp_path):
    csv_text = '\ufeffinput,output\n"two\nlines",x\nnext,y\n'
    root = write_task(tmp_path / "t", files={"train.jsonl": None, "train.csv": csv_text})
    first, second = load_task(root).split("train")
    assert first.inputs["question"] == "two\nlines" and second.output == "y"


def test_per_row_db_by_resource_key_or_relative_path(tmp_path):
    root = tmp_path / "t"
    (root / "dbs").mkdir(parents=True)
    (root / "main.db").write_bytes(b"main")
    (root / "dbs" / "other.db").write_bytes(b"other")
    config = {**CONFIG, "resources": {"db": "main.db"}}
    train = [
        {"input": "a", "output": "1", "db": "db"},
        {"input": "b", "output": "2", "db": "dbs/other.db", "meta": {"k": 1}},
        {"input": "c", "output": "3"},
    ]
    task = load_task(write_task(root, config, {"train.jsonl": train}))
    metas = [e.meta for e in task.split("train")]
    assert metas[0] == {"db": str((root / "main.db").resolve())}
    assert metas[1] == {"k": 1, "db": str((root / "dbs" / "other.db").resolve())}
    assert metas[2] == {}
    assert task.resources() == {"db": (root / "main.db").resolve()}


def test_data_hash_is_stable_and_tracks_every_file(tmp_path):
    root = tmp_path / "t"
    (root).mkdir()
    (root / "main.db").write_bytes(b"v1")
    task = load_task(write_task(root, {**CONFIG, "resources": {"db": "main.db"}}))
    before, test_only = task.data_hash(), task.data_hash("test")
    assert before == load_task(root).data_hash() and len(before) == 64
    copy = shutil.copytree(root, tmp_path / "elsewhere")
    assert load_task(copy).data_hash() == before  # relocating a folder keeps its identity

    (root / "train.jsonl").write_text(json.dumps({"input": "new", "output": "x"}) + "\n")
    assert load_task(root).data_hash() != before
    assert load_task(root).data_hash("test") == test_only  # train is not part of test's hash
    (root / "main.db").write_bytes(b"v2")
    assert load_task(root).data_hash("test") != test_only


def test_data_hash_includes_per_row_databases(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "row.db").write_bytes(b"v1")
    test = [{"input": "a", "output": "1", "db": "row.db"}]
    before = load_task(write_task(root, files={"test.jsonl": test})).data_hash("test")
    (root / "row.db").write_bytes(b"v2")
    assert load_task(root).data_hash("test") != before


def test_split_is_cached_and_returns_a_copy(tmp_path):
    task = load_task(write_task(tmp_path / "t"))
    first = task.split("dev")
    first.clear()
    assert len(task.split("dev")) == 3


def test_missing_split_raises_with_hint(tmp_path):
    task = load_task(write_task(tmp_path / "t", files={"dev.jsonl": None}))
    assert task.available_splits() == ["train", "test"]
    with pytest.raises(DataError, match="no dev.jsonl or dev.csv") as info:
        task.split("dev")
    assert "add dev.jsonl" in info.value.hint


def test_unknown_split_name(tmp_path):
    with pytest.raises(DataError, match="unknown split 'validation'"):
        load_task(write_task(tmp_path / "t")).split("validation")


def test_task_is_frozen_and_summarises(tmp_path):
    task = load_task(write_task(tmp_path / "t"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.builtin = True  # type: ignore[misc]
    summary = task.summary()
    assert summary["splits"] == {"train": 3, "dev": 3, "test": 3}
    assert summary["metric"] == "exact_match" and summary["builtin"] is False


@pytest.fixture
def builtin_dir(tmp_path, monkeypatch):
    """Two built-in tasks plus a stray folder without task.yaml, which must be skipped."""
    base = tmp_path / "builtin"
    write_task(base / "beta", {**CONFIG, "name": "beta"})
    write_task(base / "alpha", {**CONFIG, "name": "alpha"})
    (base / "not-a-task").mkdir()
    monkeypatch.setattr(loader_module, "BUILTIN_DIR", base)
    return base


def test_builtin_tasks_are_found_by_name(builtin_dir):
    assert [t.name for t in list_builtin_tasks()] == ["alpha", "beta"]
    task = load_task("beta")
    assert task.builtin and task.root == (builtin_dir / "beta").resolve()


def test_not_found_hint_lists_builtins(builtin_dir):
    with pytest.raises(TaskNotFoundError, match="No task 'gamma'") as info:
        load_task("gamma")
    assert info.value.hint == "built-in tasks: alpha, beta; or pass a folder containing task.yaml"


@pytest.mark.parametrize("name", ["./missing", "missing/", Path("missing")])
def test_path_like_names_address_user_folders(tmp_path, monkeypatch, builtin_dir, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TaskNotFoundError, match="No task folder"):
        resolve_task(name)


def test_existing_folder_wins_over_builtin_name(tmp_path, monkeypatch, builtin_dir):
    write_task(tmp_path / "work" / "alpha", {**CONFIG, "name": "mine"})
    monkeypatch.chdir(tmp_path / "work")
    assert load_task("alpha").name == "mine"
    assert load_task(tmp_path / "work" / "alpha" / "task.yaml").name == "mine"


def test_real_builtin_tasks_have_a_task_yaml():
    assert all(isinstance(t, Task) and t.builtin for t in list_builtin_tasks())


def test_the_quality_bar_is_not_part_of_the_data_hash(tmp_path):
    """`target:` only changes the verdict: raising the bar must not re-run every system."""
    root = write_task(tmp_path / "t")
    before = load_task(root).data_hash()
    text = (root / "task.yaml").read_text()
    (root / "task.yaml").write_text(text + "target: 0.8\n")
    task = load_task(root)
    assert task.config.target == 0.8 and task.data_hash() == before
    (root / "task.yaml").write_text(text + "target: 0.9\ndescription: other\n")
    assert load_task(root).data_hash() != before  # any other edit still counts
