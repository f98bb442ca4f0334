from __future__ import annotations

import pytest

from tailorlm.backends import FakeBackend
from tailorlm.errors import ConfigError
from tailorlm.experiments import run_eval
from tailorlm.metrics.sql_exec import run_sql
from tailorlm.tasks import load_task, validate_task
from tailorlm.tasks.scaffold import TASK_TYPES, init_task


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_new_task_validates_and_evaluates(tmp_path, task_type):
    root = init_task(tmp_path / f"my-{task_type}", task_type)
    report = validate_task(root)
    assert report.ok and not report.warnings
    assert set(report.counts) == {"train", "dev", "test"}
    task = load_task(root)
    assert task.name == f"my-{task_type}"
    gold = {ex.inputs[task.config.input_fields[0]]: ex.output for ex in task.split("test")}
    outcome = run_eval(task, model=FakeBackend(gold), limit=2)
    assert outcome.summary.n == 2 and outcome.summary.quality == pytest.approx(1.0)


def test_task_yaml_is_commented(tmp_path):
    text = (init_task(tmp_path / "t", "classification") / "task.yaml").read_text()
    assert text.count("\n#") >= 5 and "labels:" in text


def test_sql_example_queries_run_on_the_example_db(tmp_path):
    task = load_task(init_task(tmp_path / "s", "sql"))
    db = task.resources()["db"]
    for split in ("train", "dev", "test"):
        for ex in task.split(split):
            result = run_sql(db, ex.output)
            assert result.ok and result.rows, ex.output


@pytest.mark.parametrize(
    ("setup", "task_type", "message"),
    [
        (lambda p: (p / "x.txt").write_text("keep"), "sql", "already exists"),
        (lambda p: None, "regression", "unknown task type"),
    ],
)
def test_init_refuses(tmp_path, setup, task_type, message):
    target = tmp_path / "t"
    target.mkdir()
    setup(target)
    with pytest.raises(ConfigError, match=message):
        init_task(target, task_type)
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no stray scratch folder


def test_init_into_an_empty_folder(tmp_path):
    (tmp_path / "t").mkdir()
    assert validate_task(init_task(tmp_path / "t", "generation")).ok
