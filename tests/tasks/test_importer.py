from __future__ import annotations

import json
import sys

import pytest

from tailorlm.errors import ConfigError, DataError
from tailorlm.tasks import load_task, validate_task
from tailorlm.tasks.importer import import_data
from tailorlm.tasks.scaffold import init_task
from tailorlm.tasks.splitting import SplitSpec

TICKETS = [
    ("Charged twice", "I was charged twice for my plan", "billing", "c1"),
    ("App crash", "The export button crashes the app", "bug", "c2"),
    ("Dark mode", "Please add a dark mode", "feature_request", "c3"),
    ("Wrong VAT", "My invoice shows the wrong VAT number", "billing", "c1"),
    ("Blank page", "The page goes blank after login", "bug", "c4"),
    ("Excel", "Please support exporting to Excel", "feature_request", "c5"),
    ("Declined", "My card was declined when upgrading", "billing", "c6"),
    ("Slow", "The dashboard is very slow today", "bug", "c7"),
    ("API", "Please add an API for the reports", "feature_request", "c8"),
    ("Refund", "I want a refund for last month", "billing", "c9"),
]


def write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(c) for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())} if root.exists() else None


def test_csv_into_a_scaffolded_classification_task(tmp_path):
    root = init_task(tmp_path / "tickets", "classification")
    src = write_csv(tmp_path / "t.csv", ["subject", "body", "category", "customer"], TICKETS)
    result = import_data(src, inputs=["subject", "body"], output="category", task=root,
                         split=SplitSpec())  # fmt: skip
    assert result.rows == 10 and result.split is not None
    assert sum(result.split.counts.values()) == 10
    task = load_task(root)
    assert task.config.input_fields == ["subject", "body"]
    assert task.config.labels == ["billing", "bug", "feature_request"]
    assert "# The allowed answers" in (root / "task.yaml").read_text()  # comments kept
    first = json.loads((root / "data.jsonl").read_text().splitlines()[0])
    assert first == {"id": "row-2", "input": {"subject": "Charged twice",
                     "body": "I was charged twice for my plan"}, "output": "billing",
                     "meta": {"customer": "c1"}}  # fmt: skip


def test_new_folder_gets_a_task_yaml_of_the_type(tmp_path):
    src = write_csv(
        tmp_path / "t.csv", ["q", "a"], [(f"question {i}", f"answer {i}") for i in range(10)]
    )
    import_data(src, inputs=["q"], output="a", task=tmp_path / "new", split=SplitSpec())
    task = load_task(tmp_path / "new")
    assert task.config.metric == "exact_match" and task.config.input_fields == ["q"]


def test_jsonl_numbers_become_text_and_no_split_keeps_splits(tmp_path):
    root = init_task(tmp_path / "g", "generation")
    before = {s: (root / f"{s}.jsonl").read_text() for s in ("train", "dev", "test")}
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"text": f"t{i}", "n": i * 1.0}) + "\n" for i in range(5)))
    result = import_data(src, inputs=["text"], output="n", task=root, split=None)
    assert result.split is None
    rows = [json.loads(line) for line in (root / "data.jsonl").read_text().splitlines()]
    assert [r["output"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert before == {s: (root / f"{s}.jsonl").read_text() for s in ("train", "dev", "test")}


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"q": [f"question {i}" for i in range(10)], "a": list(range(10)),
                      "extra": [None] * 10})  # fmt: skip
    pq.write_table(table, tmp_path / "d.parquet")
    result = import_data(tmp_path / "d.parquet", inputs=["q"], output="a", task=tmp_path / "p",
                         split=SplitSpec())  # fmt: skip
    assert result.rows == 10 and validate_task(tmp_path / "p").ok


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    for name in ("pyarrow", "pyarrow.parquet", "pandas", "fastparquet"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError) as info:
        import_data(tmp_path / "d.parquet", inputs=["q"], output="a", task=tmp_path / "p")
    assert "pip install pyarrow" in str(info.value.hint)
    assert not (tmp_path / "p").exists()


def test_skip_empty_and_allow_mixed(tmp_path):
    rows = [(f"q{i}", str(i)) for i in range(8)] + [("q8", ""), ("q9", "n/a")]
    src = write_csv(tmp_path / "d.csv", ["q", "a"], rows)
    with pytest.raises(DataError, match="mixed types"):
        import_data(src, inputs=["q"], output="a", task=tmp_path / "t", skip_empty=True)
    result = import_data(src, inputs=["q"], output="a", task=tmp_path / "t", skip_empty=True,
                         allow_mixed=True, split=SplitSpec())  # fmt: skip
    assert (result.rows, result.skipped) == (9, 1)


CSV_HEAD = "question,answer\n"
GOOD = "".join(f"question {i},{i}\n" for i in range(6))

# (file name, bytes, expected in the message: where, field, what)
BAD_FILES = [
    ("missing-col.csv", b"question,anser\nq,a\n",
     ["missing-col.csv:1", "'answer'", "missing column"]),
    ("empty.csv", (CSV_HEAD + "q1,\n").encode(), ["empty.csv:2", "'answer'", "empty cell"]),
    ("mixed.csv", (CSV_HEAD + GOOD + "q9,n/a\n").encode(),
     ["mixed.csv:8", "'answer'", "mixed types"]),
    ("latin1.csv", (CSV_HEAD + "caf\xe9,1\n").encode("latin-1"), ["latin1.csv:2", "UTF-8", "0xe9"]),
    ("ragged.csv", (CSV_HEAD + "a,b,c\n").encode(), ["ragged.csv:2", "3 cells"]),
    ("header-only.csv", CSV_HEAD.encode(), ["header-only.csv", "no rows"]),
    ("mixed.jsonl", b'{"question": "a", "answer": "x"}\n{"question": "b", "answer": 2}\n',
     ["mixed.jsonl:2", "'answer'", "number 2 where line 1 has a text"]),
    ("nested.jsonl", b'{"question": {"a": 1}, "answer": "x"}\n', ["nested.jsonl:1", "dict cell"]),
    ("missing-key.jsonl", b'{"question": "a", "answer": "x"}\n{"question": "b"}\n',
     ["missing-key.jsonl:2", "'answer'", "missing"]),
    ("bad.jsonl", b'{"question": "a", "answer": "x"}\n{"question": \n',
     ["bad.jsonl:2", "invalid JSON"]),
    ("latin1.jsonl", '{"question": "caf\xe9", "answer": "x"}\n'.encode("latin-1"),
     ["latin1.jsonl:1", "not valid UTF-8"]),
    ("dupe-id.csv", b"id,question,answer\n1,a,x\n1,b,y\n", ["dupe-id.csv:3", "repeats"]),
    ("data.xlsx", b"PK", ["unsupported file type"]),
    ("notes.parquet", b"not parquet at all", ["notes.parquet", "Parquet"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_names_file_line_and_column_and_writes_nothing(tmp_path, name, content, expected):
    root = init_task(tmp_path / "task", "generation")
    before = snapshot(root)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as info:
        import_data(tmp_path / name, inputs=["question"], output="answer", task=root,
                    split=SplitSpec())  # fmt: skip
    for part in expected:
        assert part in str(info.value), (part, str(info.value))
    assert snapshot(root) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("inputs", "output", "message"),
    [([], "a", "at least one"), (["a"], "a", "both"), (["q", "q"], "a", "twice")],
)
def test_bad_column_arguments(tmp_path, inputs, output, message):
    src = write_csv(tmp_path / "d.csv", ["q", "a"], [("x", "y")])
    with pytest.raises(ConfigError, match=message):
        import_data(src, inputs=inputs, output=output, task=tmp_path / "t")


def test_new_sql_task_needs_a_database(tmp_path):
    src = write_csv(tmp_path / "d.csv", ["q", "a"], [("x", "SELECT 1")])
    with pytest.raises(ConfigError, match="database"):
        import_data(src, inputs=["q"], output="a", task=tmp_path / "t", task_type="sql")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "text",
    [
        "name: t  # mine\ninput_fields: [question]\nmetric: exact_match\n",
        "name: t  # mine\ninput_fields:\n  - question\n  - context\nmetric: exact_match\n",
        "name: t  # mine\nmetric: exact_match\n",
    ],
)
def test_input_fields_line_is_rewritten_keeping_other_lines(text):
    import yaml

    from tailorlm.tasks.importer import _set_line

    new = _set_line(text, "input_fields", ["subject", "body"])
    assert yaml.safe_load(new) == {"name": "t", "metric": "exact_match",
                                   "input_fields": ["subject", "body"]}  # fmt: skip
    assert "# mine" in new
