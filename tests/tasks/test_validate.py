from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tailorlm.errors import ConfigError, DataError
from tailorlm.metrics import METRIC_NAMES
from tailorlm.tasks import load_task, task_stats, validate_task

CONFIG = {"name": "toy", "metric": "exact_match"}
GOOD = '{"input": "good question", "output": "good answer"}'


def rows(split: str, n: int = 3) -> list[dict]:
    return [{"input": f"{split} question {i}", "output": f"{split} answer {i}"} for i in range(n)]


def write_task(root: Path, config: dict | str | None = None, files: dict | None = None) -> Path:
    """A task folder; `files` maps file name to rows, raw text or bytes; None deletes."""
    root.mkdir(parents=True, exist_ok=True)
    config = config or CONFIG
    (root / "task.yaml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    default = {f"{s}.jsonl": rows(s) for s in ("train", "dev", "test")}
    for name, content in {**default, **(files or {})}.items():
        if content is None:
            continue
        if isinstance(content, list):
            content = "".join(json.dumps(r) + "\n" for r in content)
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (root / name).write_bytes(data)
    return root


def only_error(report):
    assert len(report.errors) == 1, [str(e) for e in report.errors]
    return report.errors[0]


_USER = {"role": "user", "content": "q"}
_ANSWER = {"role": "assistant", "content": "a"}


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"input": "q" "output": "a"}', None, "invalid JSON: Expecting ',' delimiter (col 15)"),
        ('{"input": "q", "output": "a",}', None, "invalid JSON: Expecting property name"),
        ('["q", "a"]', None, "expected a JSON object, found array"),
        ('{"output": "a"}', "input", "missing"),
        ('{"input": "q"}', "output", "missing"),
        ('{"input": 42, "output": "a"}', "input", "must be a string or an object, found number"),
        ('{"input": "q", "output": 7}', "output", "must be a string, found number 7"),
        ('{"input": "q", "output": null}', "output", "must be a string, found null"),
        ('{"input": "   ", "output": "a"}', "input", "is empty"),
        ('{"input": {"schema": "s"}, "output": "a"}', "input.question", "missing"),
        ('{"input": "q", "ouput": "a"}', "ouput", "unknown key"),
        ('{"input": "q", "output": "a", "db": "nope.db"}', "db", "database file not found"),
        ('{"input": "q", "output": "a", "meta": [1]}', "meta", "must be an object"),
        ('{"input": "q", "output": "a", "id": true}', "id", "found boolean"),
        ('{"input": "q", "output": "a", "id": "train-1"}', "id", "used by an earlier row"),
        ('{"messages": []}', "messages", "must be a non-empty array"),
        (json.dumps({"messages": [_USER]}), "messages", "last message must be from the assistant"),
        (
            json.dumps({"messages": [{"role": "system", "content": "s"}, _ANSWER]}),
            "messages",
            "needs at least one user message",
        ),
        (
            json.dumps({"messages": [{"role": "bot", "content": "q"}, _ANSWER]}),
            "messages[0].role",
            'found "bot"',
        ),
        (
            json.dumps({"messages": [{"role": "user", "content": 5}, _ANSWER]}),
            "messages[0].content",
            "must be a string, found number",
        ),
        (json.dumps({"messages": [_USER, _ANSWER], "output": "a"}), "output", "unknown key"),
    ],
)
def test_bad_row_names_file_line_and_field(tmp_path, line, field, message):
    # Line 2 is blank: it must be skipped without shifting the count, so the bad row is line 3.
    root = write_task(tmp_path / "t", files={"train.jsonl": f"{GOOD}\n\n{line}\n"})
    error = only_error(validate_task(root))
    assert isinstance(error, DataError) and (error.line, error.field) == (3, field)
    text = str(error)
    assert "train.jsonl:3: " in text and message in text
    if field:
        assert f"field '{field}'" in text
    with pytest.raises(DataError) as raised:
        load_task(root)
    assert str(raised.value) == text


def test_unknown_key_hint_suggests_the_right_one(tmp_path):
    root = write_task(tmp_path / "t", files={"train.jsonl": '{"input": "q", "ouput": "a"}\n'})
    assert only_error(validate_task(root)).hint.startswith("did you mean 'output'?")


@pytest.mark.parametrize(
    ("task_yaml", "field", "message"),
    [
        ("name: t\nmetric: exact_match\nnmae: x\n", "nmae", "unknown key"),
        ("name: t\n", "metric", "missing required key"),
        ("name: t\nmetric: bleu\n", "metric", "unknown metric 'bleu'"),
        ("name: t\nmetric: exact_match\noutput_type: prose\n", "output_type", 'found "prose"'),
        ("name: t\nmetric: exact_match\ninput_fields: []\n", "input_fields", "at least one"),
        ("name: t\nmetric: exact_match\nresources:\n  db: gone.db\n", "resources.db", "gone.db"),
        ("name: t\nmetric: [exact_match\n", None, "not valid YAML"),
        ("- name\n- metric\n", None, "must be a mapping of keys to values, found array"),
    ],
)
def test_bad_task_yaml_names_file_and_field(tmp_path, task_yaml, field, message):
    root = write_task(tmp_path / "t", task_yaml)
    error = only_error(validate_task(root))
    assert isinstance(error, ConfigError)
    assert "task.yaml" in str(error) and message in str(error)
    if field:
        assert f"field '{field}'" in str(error)
    with pytest.raises(ConfigError):
        load_task(root)


def test_yaml_syntax_error_names_the_line(tmp_path):
    root = write_task(tmp_path / "t", "name: t\nmetric: exact_match\ndescription: [oops\n")
    assert "task.yaml:4: not valid YAML" in str(only_error(validate_task(root)))


def test_unknown_task_key_suggests_the_right_one(tmp_path):
    root = write_task(tmp_path / "t", "name: t\nmetric: exact_match\nmetrc: x\n")
    assert "did you mean 'metric'?" in only_error(validate_task(root)).hint


def test_missing_task_yaml(tmp_path):
    root = write_task(tmp_path / "t")
    (root / "task.yaml").unlink()
    error = only_error(validate_task(root))
    assert isinstance(error, ConfigError) and "task.yaml: file not found" in str(error)


def test_invalid_utf8_names_the_line(tmp_path):
    data = f"{GOOD}\n".encode() + b'{"input": "caf\xe9", "output": "a"}\n'
    error = only_error(validate_task(write_task(tmp_path / "t", files={"train.jsonl": data})))
    assert "train.jsonl:2: not valid UTF-8" in str(error)


@pytest.mark.parametrize(
    ("csv_text", "where", "message"),
    [
        (b"question,answer\nq,a\n", "train.csv:1: field 'output'", "missing column"),
        (b"text,output\nq,a\n", "train.csv:1: field 'input'", "missing column"),
        (b"input,output,extra\nq,a,x\n", "train.csv:1: field 'extra'", "unknown column"),
        (b"input,output\nq,a\nq2,a2,oops\n", "train.csv:3: ", "expected 2 values"),
        (b"input,output\nq,a\nq2,\n", "train.csv:3: field 'output'", "is empty"),
        (b"input,output\nq,a\n\xff,b\n", "train.csv:3: ", "not valid UTF-8"),
    ],
)
def test_bad_csv_names_file_line_and_field(tmp_path, csv_text, where, message):
    root = write_task(tmp_path / "t", files={"train.jsonl": None, "train.csv": csv_text})
    text = str(only_error(validate_task(root)))
    assert where in text and message in text


def test_empty_split_is_an_error(tmp_path):
    root = write_task(tmp_path / "t", files={"dev.jsonl": "\n  \n"})
    assert "dev.jsonl: no rows" in str(only_error(validate_task(root)))


def test_both_jsonl_and_csv_is_an_error(tmp_path):
    root = write_task(tmp_path / "t", files={"train.csv": "input,output\nq,a\n"})
    assert "both train.jsonl and train.csv exist" in str(only_error(validate_task(root)))


def test_test_split_is_required_others_warn(tmp_path):
    report = validate_task(write_task(tmp_path / "t", files={"train.jsonl": None}))
    assert report.ok and report.counts == {"dev": 3, "test": 3}
    assert any("no train split" in w for w in report.warnings)
    report = validate_task(write_task(tmp_path / "u", files={"test.jsonl": None}))
    assert "no test.jsonl or test.csv" in str(only_error(report))


def test_outputs_must_be_declared_labels(tmp_path):
    config = {**CONFIG, "labels": ["pos", "neg"], "output_type": "label"}
    train = [{"input": "good", "output": "pos"}, {"input": "meh", "output": "neutral"}]
    root = write_task(tmp_path / "t", config, {"train.jsonl": train, "dev.jsonl": None})
    (root / "test.jsonl").write_text('{"input": "bad", "output": "neg"}\n')
    error = only_error(validate_task(root))
    assert (error.line, error.field) == (2, "output")
    assert "'neutral' is not one of the labels: pos, neg" in str(error)


def test_duplicates_within_a_split_warn_with_count(tmp_path):
    train = [{"input": "Q one", "output": "a"}, {"input": "q two", "output": "b"}]
    train += [{"input": "  q   ONE ", "output": "c"}, {"input": "Q two", "output": "d"}]
    report = validate_task(write_task(tmp_path / "t", files={"train.jsonl": train}))
    assert report.ok and report.duplicates == {"train": 2, "dev": 0, "test": 0}
    (warning,) = report.warnings
    assert "train.jsonl: 2 rows repeat an earlier input (first: line 3 repeats line 1)" in warning


def test_same_question_on_another_database_is_not_a_duplicate(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "a.db").write_bytes(b"a")
    (root / "b.db").write_bytes(b"b")
    train = [
        {"input": "q", "output": "1", "db": "a.db"},
        {"input": "q", "output": "2", "db": "b.db"},
    ]
    assert validate_task(write_task(root, files={"train.jsonl": train})).duplicates["train"] == 0


def test_train_test_overlap_is_an_error_unless_allowed(tmp_path):
    test = [*rows("test"), {"input": "TRAIN  question 1", "output": "x"}]
    root = write_task(tmp_path / "t", files={"test.jsonl": test})
    report = validate_task(root)
    assert report.overlap == {"train/test": 1, "dev/test": 0}
    error = only_error(report)
    assert (error.line, error.field) == (4, "input")
    assert "1 test rows have the same input as a train row" in str(error)
    assert "train.jsonl:2" in str(error)
    with pytest.raises(DataError, match="same input as a train row"):
        load_task(root)

    allowed = validate_task(root, allow_overlap=True)
    assert allowed.ok and any("same input as a train row" in w for w in allowed.warnings)
    assert len(load_task(root, allow_overlap=True).split("test")) == 4


def test_collects_problems_across_files(tmp_path):
    files = {"dev.jsonl": f'{GOOD}\n{{"input": 1, "output": "a"}}\n', "test.jsonl": "[]\n"}
    report = validate_task(write_task(tmp_path / "t", {**CONFIG, "metric": "bleu"}, files))
    assert [type(e) for e in report.errors] == [ConfigError, DataError, DataError]
    assert "dev.jsonl:2" in str(report.errors[1]) and "test.jsonl:1" in str(report.errors[2])
    with pytest.raises(ConfigError, match="unknown metric"):
        load_task(tmp_path / "t")


def test_error_list_is_capped(tmp_path):
    root = write_task(tmp_path / "t", files={"train.jsonl": "not json\n" * 80})
    report = validate_task(root)
    assert len(report.errors) == 50
    assert any("stopped after 50 errors" in w for w in report.warnings)
    exactly = validate_task(write_task(tmp_path / "u", files={"train.jsonl": "not json\n" * 50}))
    assert len(exactly.errors) == 50 and exactly.warnings == []


def test_good_task_reports_counts(tmp_path):
    report = validate_task(write_task(tmp_path / "t"))
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.counts == {"train": 3, "dev": 3, "test": 3}
    assert report.overlap == {"train/test": 0, "dev/test": 0}


def test_task_stats_lengths_tokens_and_label_balance(tmp_path):
    config = {**CONFIG, "labels": ["pos", "neg", "mixed"], "output_type": "label"}
    train = [{"input": "x" * n, "output": "pos" if n < 4 else "neg"} for n in range(1, 6)]
    other = [{"input": "other", "output": "mixed"}]
    files = {"train.jsonl": train, "dev.jsonl": None, "test.jsonl": other}
    task = load_task(write_task(tmp_path / "t", config, files))
    stats = task_stats(task, tokenize=lambda text: len(text.split("x")) - 1)["train"]
    assert stats["rows"] == 5
    assert stats["input_chars"] == {"min": 1, "mean": 3.0, "p95": 5, "max": 5}
    assert stats["input_tokens"]["max"] == 5
    assert stats["labels"] == {"pos": 3, "neg": 2, "mixed": 0}


def test_task_stats_reports_balance_only_for_few_distinct_outputs(tmp_path):
    few = [{"input": f"q{i}", "output": "yes" if i % 2 else "no"} for i in range(6)]
    task = load_task(write_task(tmp_path / "t", files={"train.jsonl": few}))
    stats = task_stats(task)
    assert stats["train"]["labels"] == {"no": 3, "yes": 3}
    assert "labels" not in stats["test"]  # three distinct answers in three rows
    assert "input_tokens" not in stats["train"]


def test_validation_knows_every_registered_metric(tmp_path):
    """Validation reads the metrics registry (it kept a copy that a test kept in sync)."""
    for name in METRIC_NAMES:
        root = write_task(tmp_path / name, {"name": "t", "metric": name})
        assert not any("unknown metric" in str(e) for e in validate_task(root).errors)


SQL_CONFIG = {"name": "toy-sql", "metric": "sql_execution", "output_type": "sql"}


def _sqlite(path: Path, *, table: bool = True) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        if table:
            conn.execute("CREATE TABLE t (x)")
        conn.commit()
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,name\n1,x\n" * 200, "not a SQLite database (file is not a database)"),
        (b"", "a SQLite database without tables"),
        (None, "a SQLite database without tables"),  # a real SQLite file, no table in it
    ],
    ids=["csv-bytes", "empty-file", "no-tables"],
)
def test_database_resource_must_be_sqlite_with_a_table(tmp_path, content, message):
    root = tmp_path / "t"
    root.mkdir()
    db = root / "shop.db"
    if content is None:
        _sqlite(db, table=False)
    else:
        db.write_bytes(content)
    before = db.read_bytes()
    report = validate_task(write_task(root, {**SQL_CONFIG, "resources": {"db": "shop.db"}}))
    error = only_error(report)
    assert isinstance(error, DataError) and error.path and error.path.endswith("shop.db")
    assert message in str(error) and "resources.db" in (error.hint or "")
    assert db.read_bytes() == before  # opened read-only
    with pytest.raises(DataError, match="shop.db: "):
        load_task(root)  # so `tailor eval` stops here, before any model loads


def test_per_row_database_error_names_split_line_and_field(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    _sqlite(root / "main.db")
    (root / "other.db").write_bytes(b"not sqlite" * 100)
    test = [
        *rows("test", 2),
        {"input": "q1", "output": "SELECT 1", "db": "other.db"},
        {"input": "q2", "output": "SELECT 2", "db": "other.db"},  # the same file: one error
        {"input": "q3", "output": "SELECT 3", "db": "db"},  # the resource: checked already
    ]
    config = {**SQL_CONFIG, "resources": {"db": "main.db"}}
    error = only_error(validate_task(write_task(root, config, {"test.jsonl": test})))
    assert isinstance(error, DataError)
    assert error.path and error.path.endswith("test.jsonl")
    assert (error.line, error.field) == (3, "db")
    assert "other.db is not a SQLite database" in str(error)


def test_real_sqlite_databases_validate(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    _sqlite(root / "main.db")
    _sqlite(root / "b.sqlite")
    test = [{"input": f"q{i}", "output": "SELECT 1", "db": "b.sqlite"} for i in range(2)]
    config = {**SQL_CONFIG, "resources": {"db": "main.db"}}
    assert validate_task(write_task(root, config, {"test.jsonl": test})).ok


def test_databases_of_tasks_without_sql_are_not_opened(tmp_path):
    """Nothing reads them (no schema in the prompt, no query to run): placeholders are fine."""
    root = tmp_path / "t"
    root.mkdir()
    (root / "main.db").write_bytes(b"placeholder")
    assert validate_task(write_task(root, {**CONFIG, "resources": {"db": "main.db"}})).ok
