"""Stored runs -> MLflow experiment tracking (the optional extra: `pip install
'tailorlm[mlflow]'`).

`export_runs` writes each complete stored run as one MLflow run: its flattened config as
params, the numbers of its summary as metrics (a comparison's: each system's quality and CI
too), tags naming the run (id, kind, task, model, status; a fine-tuning run's adapter folder,
never its weights), and artifacts: its reports, its prompt program and a comparison's table.
The MLflow run is found again by its `tailorlm.run_id` tag, so a second export updates it.

With `TAILOR_MLFLOW_TRACKING_URI` set, the CLI calls `log_runs_from_env()` at start and every
run that completes is logged as it finishes (a store hook, so the store never imports this
module); a failure to log warns and never fails the run.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tailorlm.errors import ConfigError, TailorError
from tailorlm.store import (
    CANCELLED,
    COMPLETE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    RunRecord,
    RunStore,
    hooks,
)
from tailorlm.store.steps import ARTIFACTS

log = logging.getLogger(__name__)

TRACKING_URI_ENV = "TAILOR_MLFLOW_TRACKING_URI"  # set: log each run as it completes, here
EXPERIMENT_ENV = "TAILOR_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "tailorlm"
RUN_ID_TAG = "tailorlm.run_id"
TABLE_FILE = "comparison_table.csv"
COST_COLUMNS = ("cost_per_1000", "currency", "scenario")
INSTALL_HINT = "pip install 'tailorlm[mlflow]'"
HOOK = "mlflow"
TELEMETRY_ENV = "MLFLOW_DISABLE_TELEMETRY"
# MLflow's limits (mlflow.utils.validation), fixed here so the module imports without MLflow.
PARAM_VALUE_LIMIT, TAG_VALUE_LIMIT, KEY_LIMIT = 6000, 8000, 250
_NOT_A_KEY = re.compile(r"[^\w./\- :]")
# tailor's run status -> MLflow's; `complete` is the only one exported by default.
STATUS = {
    COMPLETE: "FINISHED",
    FAILED: "FAILED",
    INTERRUPTED: "KILLED",
    CANCELLED: "KILLED",
    RUNNING: "RUNNING",
}


@dataclass(frozen=True)
class Exported:
    run_id: str  # tailor's
    mlflow_run_id: str
    action: Literal["created", "updated"]


@dataclass(frozen=True)
class Export:
    tracking_uri: str
    experiment: str
    runs: list[Exported] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # runs not complete, left out


def export_runs(
    store: RunStore | None = None,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    runs: Sequence[str] | None = None,
    include_unfinished: bool = False,
) -> Export:
    """Export `runs` (refs as `tailor show` takes them; default: every stored run) to MLflow.
    Runs that are not complete are skipped unless `include_unfinished`."""
    store = store or RunStore()
    records = [store.get(ref) for ref in runs] if runs else store.list()
    chosen = [r for r in records if include_unfinished or r.is_complete]
    skipped = [r.id for r in records if not (include_unfinished or r.is_complete)]
    uri = resolve_tracking_uri(tracking_uri)
    name = experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    client = _client(uri)  # a URI MLflow can't use fails here, runs or not
    if not chosen:
        return Export(uri, name, [], skipped)  # nothing to write: no experiment made either
    with _mlflow_errors(uri):
        experiment_id = _experiment_id(client, name, uri)
        exported = [_export_one(client, experiment_id, r, store) for r in chosen]
    return Export(uri, name, exported, skipped)


def resolve_tracking_uri(given: str | None = None) -> str:
    """`given`, else TAILOR_MLFLOW_TRACKING_URI, else MLflow's own (MLFLOW_TRACKING_URI, or
    its default store in the current folder)."""
    chosen = given or os.environ.get(TRACKING_URI_ENV, "").strip()
    if chosen:
        return chosen
    return str(_import_mlflow().get_tracking_uri())


# ---------------------------------------------------------------- logging runs as they finish


def log_completed_runs(tracking_uri: str | None = None, experiment: str | None = None) -> None:
    """From now on, in this process, log every run that completes to MLflow."""
    _require_mlflow()
    follow = functools.partial(_follow, tracking_uri=tracking_uri, experiment=experiment)
    hooks.on_complete(HOOK, follow)


def stop_logging() -> None:
    hooks.remove(HOOK)


def log_runs_from_env() -> bool:
    """Follow completed runs when TAILOR_MLFLOW_TRACKING_URI is set (else stop); whether on."""
    uri = os.environ.get(TRACKING_URI_ENV, "").strip()
    if not uri:
        stop_logging()
        return False
    try:
        log_completed_runs(uri, os.environ.get(EXPERIMENT_ENV) or None)
    except ConfigError as exc:
        stop_logging()
        log.warning("%s is set, but %s: %s (or unset it)", TRACKING_URI_ENV, exc.message, exc.hint)
        return False
    return True


def _follow(record: RunRecord, *, tracking_uri: str | None, experiment: str | None) -> None:
    try:
        store = RunStore(record.dir.parent)
        export_runs(store, tracking_uri=tracking_uri, experiment=experiment, runs=[record.id])
    except Exception as exc:  # logging a run must never fail it
        stop_logging()  # one warning, not one wait on an unreachable server per later run
        log.warning(
            "run %s was not logged to MLflow (%s); logging is off for the rest of this "
            "command: export it later with `tailor runs export --mlflow %s`",
            record.id,
            " ".join(str(exc).splitlines()),
            record.id,
        )


# ------------------------------------------------------------------------------- MLflow side


def _require_mlflow() -> None:
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):  # a stand-in module without a spec (tests, broken env)
        found = False
    if not found:
        raise ConfigError("MLflow is not installed", hint=INSTALL_HINT)


def _import_mlflow() -> Any:
    """mlflow, with its usage telemetry off unless the user turned it on: a tailor command
    sends nothing anywhere but to the tracking URI it is given."""
    _require_mlflow()
    os.environ.setdefault(TELEMETRY_ENV, "true")
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError(f"MLflow could not be imported: {exc}", hint=INSTALL_HINT) from exc
    return mlflow


def _client(uri: str) -> Any:
    mlflow = _import_mlflow()
    with _mlflow_errors(uri):
        return mlflow.MlflowClient(tracking_uri=uri)


@contextmanager
def _mlflow_errors(uri: str) -> Iterator[None]:
    """What MLflow raises (an unknown URI scheme, an unreachable server, an artifact folder it
    can't write, SQLAlchemy missing for a sqlite:/// store) -> a one-line ConfigError that
    names the tracking URI."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except ImportError as exc:
        raise ConfigError(f"MLflow at {uri} needs {exc.name or exc}", hint=INSTALL_HINT) from exc
    except (MlflowException, OSError) as exc:
        text = str(getattr(exc, "message", exc)).strip() or type(exc).__name__
        raise ConfigError(
            f"MLflow at {uri}: {text.splitlines()[0]}",
            hint=f"check --tracking-uri / {TRACKING_URI_ENV}: a running server's "
            "http://HOST:PORT, or sqlite:///mlflow.db for a local database",
        ) from exc


def _experiment_id(client: Any, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return str(client.create_experiment(name, artifact_location=_artifact_location(uri)))
    if experiment.lifecycle_stage != "active":
        raise ConfigError(
            f"MLflow experiment '{name}' is deleted",
            hint=f"restore it (`mlflow experiments restore --experiment-id "
            f"{experiment.experiment_id}`) or pass --experiment with another name",
        )
    return str(experiment.experiment_id)


def _artifact_location(uri: str) -> str | None:
    """Beside a local SQLite database (MLflow's default is the current folder, which would
    scatter artifacts wherever the command happened to run); the server's own elsewhere."""
    if not uri.startswith("sqlite:///"):
        return None
    return str(Path(uri.removeprefix("sqlite:///")).expanduser().resolve().parent / "mlartifacts")


def _find(client: Any, experiment_id: str, run_id: str) -> Any:
    query = f"tags.`{RUN_ID_TAG}` = '{run_id}'"  # run ids are [a-z0-9-]: nothing to escape
    found = client.search_runs([experiment_id], filter_string=query, max_results=1)
    return found[0] if found else None


def _export_one(client: Any, experiment_id: str, record: RunRecord, store: RunStore) -> Exported:
    run = _find(client, experiment_id, record.id)
    action: Literal["created", "updated"] = "updated" if run else "created"
    if run is None:
        run = client.create_run(
            experiment_id,
            start_time=_ms(record.created_at),
            tags={RUN_ID_TAG: record.id},
            run_name=record.id,
        )
    mlflow_id = run.info.run_id
    client.log_batch(mlflow_id, **_changes(run.data, record, store))
    _log_artifacts(client, mlflow_id, record, store)
    status = STATUS.get(record.status, "FAILED")
    if status != "RUNNING":
        end = _ms(record.finished_at) if record.finished_at else None
        client.set_terminated(mlflow_id, status, end)
    return Exported(record.id, mlflow_id, action)


def _changes(logged: Any, record: RunRecord, store: RunStore) -> dict[str, list[Any]]:
    """What the MLflow run (`logged`: its data so far) lacks: metrics that are new or differ
    (so a re-export adds no history), params not yet there (a stored config never changes,
    and MLflow refuses to change a param), and every tag (set again, the same or newer)."""
    from mlflow.entities import Metric, Param, RunTag

    stamp = _ms(record.finished_at or record.created_at)
    metrics = metrics_of(record).items()
    return {
        "metrics": [Metric(k, v, stamp, 0) for k, v in metrics if logged.metrics.get(k) != v],
        "params": [Param(k, v) for k, v in params_of(record).items() if k not in logged.params],
        "tags": [RunTag(k, v) for k, v in tags_of(record, store).items()],
    }


def _log_artifacts(client: Any, mlflow_id: str, record: RunRecord, store: RunStore) -> None:
    for path in artifact_files(record):
        client.log_artifact(mlflow_id, str(path))
    table = comparison_table(record, store)
    if table:
        client.log_text(mlflow_id, _csv(table), TABLE_FILE)  # replaces; log_table would append


def _ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


# ---------------------------------------------------------- what a stored run becomes (pure)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level of dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _key(name: str) -> str:
    return _NOT_A_KEY.sub("_", name)[:KEY_LIMIT]


def params_of(record: RunRecord) -> dict[str, str]:
    """The run's flattened config, each value a string within MLflow's limit."""
    config = record.load_config() if (record.dir / "config.json").is_file() else {}
    return {_key(k): _text(v)[:PARAM_VALUE_LIMIT] for k, v in flatten(config).items()}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _numbers(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in data.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            yield f"{prefix}{key}", float(value)
        elif isinstance(value, Mapping):
            yield from _numbers(value, f"{prefix}{key}.")
        elif key == "ci" and isinstance(value, (list, tuple)) and len(value) == 2:
            yield from _numbers({"ci_low": value[0], "ci_high": value[1]}, prefix)


def metrics_of(record: RunRecord) -> dict[str, float]:
    """The numbers of the run's summary (quality, n, wall_s, CI ...); a comparison's systems'
    quality and CI as `system.<id>.quality`, `.ci_low`, `.ci_high`."""
    metrics = dict(_numbers(record.summary))
    for system in _comparison(record).get("systems", []):
        quality = system.get("quality") or {}
        picked = {"quality": quality.get("score"), "ci": quality.get("ci")}
        metrics.update(_numbers(picked, f"system.{system['id']}."))
    return {_key(k): v for k, v in metrics.items()}


def tags_of(record: RunRecord, store: RunStore) -> dict[str, str]:
    named = {
        "mlflow.runName": record.id,
        RUN_ID_TAG: record.id,
        "tailorlm.kind": record.kind,
        "tailorlm.task": record.task,
        "tailorlm.model": record.model,
        "tailorlm.status": record.status,
        "tailorlm.name": record.name,
        "tailorlm.parent_id": record.parent_id,
        "tailorlm.run_dir": str(record.dir),
        "tailorlm.error": record.summary.get("error"),  # why a failed run stopped (--all)
        **_weights(record, store),
    }
    return {k: str(v)[:TAG_VALUE_LIMIT] for k, v in named.items() if v is not None}


def _weights(record: RunRecord, store: RunStore) -> dict[str, str | None]:
    """Where a fine-tuning run's adapter (or full model) lies: named, never uploaded."""
    if record.kind != "finetune" or not record.is_complete:
        return {}
    from tailorlm.training import adapter_path_for_run

    base, adapter = adapter_path_for_run(record.id, store)
    return {"tailorlm.adapter_path": adapter} if adapter else {"tailorlm.model_path": base}


def artifact_files(record: RunRecord) -> list[Path]:
    """The run's reports and prompt program, those it has."""
    from tailorlm.report.io import FILE_NAMES

    names = [*FILE_NAMES.values(), ARTIFACTS.get(record.kind, {}).get("program")]
    return [record.dir / n for n in names if n and (record.dir / n).is_file()]


def _comparison(record: RunRecord) -> dict[str, Any]:
    file = ARTIFACTS["compare"]["comparison"]
    if record.kind != "compare" or not (record.dir / file).is_file():
        return {}
    comparison: dict[str, Any] = record.read_json(file)
    return comparison


def comparison_table(record: RunRecord, store: RunStore) -> list[dict[str, Any]]:
    """One row per compared system, as `Report.to_pandas()` has them (report/notebook.py
    cost_rows), with the currency and scenario of the costs; [] for other runs."""
    from tailorlm.compare.notebook import system_rows
    from tailorlm.report.io import load_report
    from tailorlm.report.notebook import cost_rows

    comparison = _comparison(record)
    if not comparison:
        return []
    try:
        report = load_report(record.id, store=store)
    except TailorError as exc:  # e.g. a broken price file: the table goes without costs
        log.warning("costs of %s not exported: %s", record.id, exc.message)
        return [row | dict.fromkeys(COST_COLUMNS) for row in system_rows(comparison)]
    where = {"currency": report.prices.currency, "scenario": report.scenario}
    return [row | where for row in cost_rows(report)]


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
