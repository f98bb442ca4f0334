"""Stored runs -> a real local MLflow tracking store (SQLite under tmp_path): what each run
becomes, a second export updating instead of duplicating, logging runs as they finish, and
`tailor runs export --mlflow`."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sys

import pytest
from typer.testing import CliRunner

from tailorlm import tracking
from tailorlm.backends import FakeBackend
from tailorlm.cli.app import app
from tailorlm.errors import ConfigError
from tailorlm.experiments import run_eval
from tailorlm.store import COMPLETE, RunStore, hooks
from tailorlm.tasks import load_task
from tests.report.conftest import FIXTURE

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage telemetry: stay offline
MlflowClient = pytest.importorskip("mlflow").MlflowClient
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")  # MLflow's own

runner = CliRunner()


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    """One migrated MLflow database (creating one runs ~70 migrations, seconds); tests copy it."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def uri(empty_db, tmp_path, monkeypatch):
    for env in (tracking.TRACKING_URI_ENV, tracking.EXPERIMENT_ENV, "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(env, raising=False)
    shutil.copy(empty_db, tmp_path / "mlflow.db")
    yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking.stop_logging()


@pytest.fixture(scope="module")
def sql_task():
    return load_task("sql-sales")


def eval_run(task, limit=3) -> str:
    return run_eval(task, model=FakeBackend(default="SELECT 1"), limit=limit).run_id


def compare_run() -> str:
    config = {"preset": "quick", "note": "x" * 7000, "nested": {"sizes": [1, 2]}}
    writer = RunStore().start(
        "compare", name="quick", task="sql-sales", model="m", config=config, data_hash="d"
    )
    with writer:
        writer.write_json("comparison.json", json.loads(FIXTURE.read_text()))
        writer.set_summary({"quality": 0.8, "best": "finetuned", "n": 20, "wall_s": 12.5})
    return writer.id


def finetune_run() -> str:
    """A LoRA fine-tuning run's files as training leaves them (no training: weights are fake)."""
    config = {"model": "smollm2-135m", "train": {"method": "lora", "lora_rank": 8}, "seed": 0}
    writer = RunStore().start(
        "finetune",
        name="lora",
        task="sql-sales",
        model="smollm2-135m",
        config=config,
        data_hash="d",
    )
    with writer:
        writer.write_json("program.json", {"name": "zero-shot"})
        writer.path("adapter/adapter_model.safetensors").write_bytes(b"\0" * 64)
        writer.set_summary({"dev_loss": 0.4, "steps": 10})
    return writer.id


def failed_run() -> str:
    writer = RunStore().start("eval", name="x", task="t", model="m", config={}, data_hash="d")
    writer.fail("boom")
    return writer.id


def by_tag(uri: str, experiment: str = tracking.DEFAULT_EXPERIMENT) -> dict:
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id]) if exp else []
    tagged = {r.data.tags[tracking.RUN_ID_TAG]: r for r in runs}
    assert len(tagged) == len(runs), "one MLflow run per tailor run"
    return tagged


def artifacts(uri: str, mlflow_id: str) -> set[str]:
    return {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(mlflow_id)}


def test_export_writes_params_metrics_tags_and_artifacts(uri, sql_task):
    ids = {"eval": eval_run(sql_task), "compare": compare_run(), "finetune": finetune_run()}
    failed = failed_run()
    result = tracking.export_runs(tracking_uri=uri)
    assert sorted(r.run_id for r in result.runs) == sorted(ids.values())
    assert {r.action for r in result.runs} == {"created"} and result.skipped == [failed]
    runs = by_tag(uri)
    assert set(runs) == set(ids.values())  # the failed run is not exported by default

    ev = runs[ids["eval"]]
    assert ev.info.status == "FINISHED" and ev.info.run_name == ids["eval"]
    assert ev.data.params["program.name"] == "zero-shot" and ev.data.params["split"] == "test"
    assert ev.data.params["generation.stop"] == "[]"
    assert ev.data.metrics["n"] == 3 and {"quality", "ci_low", "ci_high"} <= set(ev.data.metrics)
    tags = ev.data.tags
    assert (tags["tailorlm.kind"], tags["tailorlm.task"]) == ("eval", "sql-sales")
    assert (tags["tailorlm.model"], tags["tailorlm.status"]) == ("fake", "complete")
    assert artifacts(uri, ev.info.run_id) == {"program.json"}

    cmp = runs[ids["compare"]]
    assert len(cmp.data.params["note"]) == tracking.PARAM_VALUE_LIMIT  # cut to MLflow's limit
    assert cmp.data.params["nested.sizes"] == "[1, 2]"
    assert cmp.data.metrics["wall_s"] == 12.5 and cmp.data.metrics["quality"] == 0.8
    assert cmp.data.metrics["system.finetuned.quality"] == 0.8
    assert cmp.data.metrics["system.finetuned.ci_low"] == 0.6
    assert "system.finetuned-optimized.quality" not in cmp.data.metrics  # not possible: no score
    assert artifacts(uri, cmp.info.run_id) == {tracking.TABLE_FILE}
    table = MlflowClient(tracking_uri=uri).download_artifacts(cmp.info.run_id, tracking.TABLE_FILE)
    with open(table, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows][:4] == [
        "zero-shot",
        "best-prompt",
        "optimized-prompt",
        "finetuned",
    ]
    tuned = rows[3]
    assert (tuned["quality"], tuned["ci_low"], tuned["ci_high"]) == ("0.8", "0.6", "0.95")
    assert float(tuned["latency_p50_s"]) > 0 and float(tuned["cost_per_1000"]) > 0
    assert rows[4]["status"] == "not_possible" and rows[4]["quality"] == ""

    ft = runs[ids["finetune"]]
    assert ft.data.params["train.lora_rank"] == "8"
    assert ft.data.tags["tailorlm.adapter_path"].endswith(f"{ids['finetune']}/adapter")
    assert artifacts(uri, ft.info.run_id) == {"program.json"}  # the adapter's weights stay home


def test_export_again_updates_the_same_runs(uri, sql_task):
    run_id, compare = eval_run(sql_task), compare_run()
    first = tracking.export_runs(tracking_uri=uri)
    store = RunStore()
    record = store.get(run_id)
    store._finish(run_id, COMPLETE, {**record.summary, "quality": 0.75})  # a changed value
    (store.get(compare).dir / "report.md").write_text("# report\n")  # `tailor report` since

    again = tracking.export_runs(tracking_uri=uri)
    assert {r.action for r in again.runs} == {"updated"}
    assert {r.mlflow_run_id for r in again.runs} == {r.mlflow_run_id for r in first.runs}
    runs = by_tag(uri)  # asserts no duplicate
    assert len(runs) == 2
    assert runs[run_id].data.metrics["quality"] == 0.75
    client = MlflowClient(tracking_uri=uri)
    assert len(client.get_metric_history(runs[run_id].info.run_id, "n")) == 1  # unchanged
    assert artifacts(uri, runs[compare].info.run_id) == {"report.md", tracking.TABLE_FILE}
    table = client.download_artifacts(runs[compare].info.run_id, tracking.TABLE_FILE)
    with open(table, encoding="utf-8") as f:
        assert len(f.read().splitlines()) == 1 + 5  # replaced, not appended to


def test_chosen_and_unfinished_runs(uri, sql_task):
    assert tracking.export_runs(tracking_uri=uri).runs == []
    assert by_tag(uri) == {}  # an empty store makes no experiment either
    kept, failed = eval_run(sql_task), failed_run()
    eval_run(sql_task, limit=2)
    result = tracking.export_runs(tracking_uri=uri, runs=[kept[:-1], failed])
    assert [r.run_id for r in result.runs] == [kept] and result.skipped == [failed]
    result = tracking.export_runs(tracking_uri=uri, runs=[failed], include_unfinished=True)
    assert [(r.run_id, r.action) for r in result.runs] == [(failed, "created")]
    runs = by_tag(uri)
    assert set(runs) == {kept, failed} and runs[failed].info.status == "FAILED"
    assert runs[failed].data.tags["tailorlm.error"] == "boom"


def test_experiment_from_option_or_env_and_deleted_experiment(uri, sql_task, monkeypatch):
    run_id = eval_run(sql_task)
    monkeypatch.setenv(tracking.EXPERIMENT_ENV, "team-sql")
    assert tracking.export_runs(tracking_uri=uri).experiment == "team-sql"
    assert set(by_tag(uri, "team-sql")) == {run_id}
    client = MlflowClient(tracking_uri=uri)
    client.delete_experiment(client.create_experiment("gone"))
    with pytest.raises(ConfigError, match="'gone' is deleted"):
        tracking.export_runs(tracking_uri=uri, experiment="gone")


def test_runs_are_logged_as_they_finish_when_opted_in(uri, sql_task, monkeypatch):
    eval_run(sql_task, limit=2)  # before opting in: not logged
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)
    assert tracking.log_runs_from_env() is True
    run_id = eval_run(sql_task)
    assert set(by_tag(uri)) == {run_id}
    assert by_tag(uri)[run_id].data.metrics["n"] == 3
    eval_run(sql_task)  # reused: nothing new completes, nothing new is logged
    assert set(by_tag(uri)) == {run_id}
    monkeypatch.delenv(tracking.TRACKING_URI_ENV)
    assert tracking.log_runs_from_env() is False and tracking.HOOK not in hooks.registered()


def test_a_failure_to_log_warns_and_never_fails_the_run(uri, sql_task, monkeypatch, caplog):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, "nosuchscheme://nowhere")
    assert tracking.log_runs_from_env()
    with caplog.at_level(logging.WARNING, logger="tailorlm"):
        run_id = eval_run(sql_task)
    assert RunStore().get(run_id).is_complete
    assert f"`tailor runs export --mlflow {run_id}`" in caplog.text
    assert tracking.HOOK not in hooks.registered()  # one warning, not one per later run


def test_opting_in_without_mlflow_warns(uri, monkeypatch, caplog):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with caplog.at_level(logging.WARNING, logger="tailorlm"):
        assert tracking.log_runs_from_env() is False
    assert "pip install 'tailorlm[mlflow]'" in caplog.text


# ---------------------------------------------------------------------------------------- CLI


def invoke(*args):
    return runner.invoke(app, list(args))


def test_cli_exports_then_updates(uri, sql_task):
    run_id, failed = eval_run(sql_task), failed_run()
    result = invoke("runs", "export", "--mlflow", "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    mlflow_id = by_tag(uri)[run_id].info.run_id
    assert f"created  {run_id} -> MLflow run {mlflow_id}" in result.output
    assert (
        f"1 run(s) exported to MLflow at {uri}, experiment 'tailorlm': 1 created" in result.output
    )
    assert "1 not complete, skipped" in result.output and failed not in result.output
    again = invoke("runs", "export", "--mlflow", "--tracking-uri", uri, run_id)
    assert again.exit_code == 0, again.output
    assert f"updated  {run_id}" in again.output and "0 created, 1 updated." in again.output


def test_cli_opt_in_variable_turns_logging_on(uri, monkeypatch):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)
    assert invoke("tasks").exit_code == 0  # any command: the app's callback turns it on
    assert tracking.HOOK in hooks.registered()
    monkeypatch.delenv(tracking.TRACKING_URI_ENV)
    assert invoke("tasks").exit_code == 0
    assert tracking.HOOK not in hooks.registered()


@pytest.mark.parametrize(
    "args, error, hint",
    [
        ((), "Say where to export the runs to", "add --mlflow"),
        (
            ("--mlflow", "--tracking-uri", "nosuchscheme://x"),
            "MLflow at nosuchscheme://x",
            "sqlite:///",
        ),
        (("--mlflow", "no-such-run"), "No run 'no-such-run'", "tailor runs"),
    ],
)
def test_cli_errors_are_one_line(uri, args, error, hint):
    result = invoke("runs", "export", *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {error}" in result.output and hint in result.output


def test_cli_without_mlflow_names_the_extra(uri, sql_task, monkeypatch):
    eval_run(sql_task)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    result = invoke("runs", "export", "--mlflow", "--tracking-uri", uri)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: MLflow is not installed" in result.output
    assert "Hint: pip install 'tailorlm[mlflow]'" in result.output


def test_flatten_and_metrics_are_plain_data():
    assert tracking.flatten({"a": {"b": {"c": 1}}, "d": {}, "e": [1]}) == {
        "a.b.c": 1,
        "d": {},
        "e": [1],
    }
    numbers = dict(tracking._numbers({"ok": True, "x": None, "ci": [0.1, 0.2], "s": {"n": 2}}))
    assert numbers == {"ci_low": 0.1, "ci_high": 0.2, "s.n": 2.0}
