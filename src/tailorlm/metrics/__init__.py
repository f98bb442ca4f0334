"""Pure scorers (L1) and the registry that tasks name them by.

Every registered metric has one signature, `(prediction, example, resources) -> Score`, where
`resources` maps the task's resource names (e.g. "db") to resolved file paths, so evaluation
can call any metric without knowing what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tailorlm.errors import MetricError
from tailorlm.metrics.analyst import ANALYST_METRICS, part_means
from tailorlm.metrics.classification import extract_label, label_match, macro_f1
from tailorlm.metrics.fields import corpus_report
from tailorlm.metrics.sql_exec import sql_execution
from tailorlm.metrics.text import exact_match, sql_exact_match
from tailorlm.types import Example, Score

Metric = Callable[[str, Example, Mapping[str, Path]], Score]


def resolve_db(example: Example, resources: Mapping[str, Path]) -> Path:
    """The example's database: its `meta.db` (a resource name or an absolute path), else
    resources["db"].

    A row that names a database we cannot find is an error, not a silent fall-back to the
    default one: scoring against the wrong database would look like a model failure.
    """
    name = example.meta.get("db")
    if name is None and "db" in resources:
        return Path(resources["db"])
    if name is not None and str(name) in resources:
        return Path(resources[str(name)])
    if name is not None and Path(str(name)).is_absolute() and Path(str(name)).is_file():
        return Path(str(name))  # relative paths are the task loader's job: it knows the folder
    where = f"meta.db = {name!r}" if name is not None else "no meta.db"
    raise MetricError(
        f"Example {example.id!r}: no SQLite database for sql_execution ({where})",
        hint="add `resources: {db: path/to.sqlite}` to task.yaml, or set meta.db to a "
        f"resource name (known: {', '.join(sorted(resources)) or 'none'})",
    )


def _sql_execution(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return sql_execution(prediction, example.output, resolve_db(example, resources))


def _exact_match(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return exact_match(prediction, example.output)


def _sql_exact_match(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return sql_exact_match(prediction, example.output)


def _classification(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return label_match(prediction, example.output, labels=example.meta.get("labels"))


_REGISTRY: dict[str, Metric] = {
    "sql_execution": _sql_execution,
    "exact_match": _exact_match,
    "sql_exact_match": _sql_exact_match,
    "classification": _classification,
    **ANALYST_METRICS,
}
METRIC_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def corpus_metrics(name: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Run-level figures a per-example mean hides, from stored rows (`prediction`, `gold`,
    `reason`): macro-F1 for labels (rare classes count as much as common ones), and the mean of
    each score part for the combined analyst scores. {} for metrics without such a view."""
    if not rows:
        return {}
    if name == "classification":
        golds = [str(r["gold"]) for r in rows]
        labels = sorted(set(golds))
        preds = [extract_label(str(r["prediction"]), labels) or "" for r in rows]
        return {"macro_f1": macro_f1(preds, golds, labels=labels)}
    if name == "label_fields":
        return {"fields": corpus_report(rows)}
    parts = part_means(rows)
    return {"parts": parts} if parts else {}


def get_metric(name: str) -> Metric:
    """The registered metric called `name`; MetricError listing the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MetricError(
            f"Unknown metric '{name}'", hint=f"choose one of: {', '.join(METRIC_NAMES)}"
        ) from None


__all__ = ["METRIC_NAMES", "Metric", "corpus_metrics", "get_metric", "resolve_db"]
