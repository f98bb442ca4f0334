"""Checks without gold (L1): is an answer usable on its own, and which answers are the same?

Labelling inputs that have no gold answer (a strong model labels them, so a small one can learn
from it) keeps only answers the task's metric can check by itself: SQL that runs in the
metric's sandbox and gives a usable result, pandas code that runs in its sandbox and sets
`result`, one of the task's labels, an answer in the task's format. Each rule is registered
here once, by metric, falling back to the output type. A check also says what a vote counts
an answer under (`key`: the result table or value for SQL and code, the normalized answer for
labels and text), the text to keep (`answer`: e.g. the label as task.yaml spells it) and
the row meta that goes with it (a pandas answer's `result`, which the metric compares with)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailorlm.errors import MetricError
from tailorlm.metrics.classification import extract_label
from tailorlm.metrics.text import normalize_sql, normalize_text
from tailorlm.types import Example


@dataclass(frozen=True)
class Checked:
    """The verdict on one answer. `reason`: why it is unusable (`kind: detail`), or what made
    it usable ("ran: 3 rows")."""

    usable: bool
    reason: str
    key: str = ""
    answer: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckContext:
    """What the checks may read besides the answer and its row."""

    resources: Mapping[str, Path]
    labels: Sequence[str] | None = None


Check = Callable[[str, Example, CheckContext], Checked]
AnswerCheck = Callable[[str, Example], Checked]


def _drop(reason: str) -> Checked:
    return Checked(False, reason)


def _as_text(prediction: str, _example: Example, _ctx: CheckContext) -> Checked:
    key = normalize_text(prediction)
    if not key:
        return _drop("empty answer")
    return Checked(True, "non-empty answer", key, prediction.strip())


def _sql_runs(prediction: str, example: Example, ctx: CheckContext) -> Checked:
    from tailorlm.metrics import resolve_db
    from tailorlm.metrics.sql_exec import result_key, run_sql, unusable_result

    result = run_sql(resolve_db(example, ctx.resources), prediction)
    if result.rows is None:
        return _drop(result.error or "error")
    problem = unusable_result(result.rows)
    if problem:
        return _drop(problem)
    rows = len(result.rows)
    return Checked(True, f"ran: {rows} row{'s' * (rows != 1)}", result_key(result.rows), prediction)


def _sql_parses(prediction: str, _example: Example, _ctx: CheckContext) -> Checked:
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(prediction, read="sqlite")
    except SqlglotError as exc:
        return _drop(f"not SQL: {str(exc).splitlines()[0][:200]}")
    if not isinstance(tree, sqlglot.exp.Query):
        return _drop("not a query: no SELECT statement")
    return Checked(True, "parses as SQL", normalize_sql(prediction), prediction)


def _code_runs(prediction: str, example: Example, ctx: CheckContext) -> Checked:
    from tailorlm.metrics.analyst import data_file
    from tailorlm.metrics.pandas_exec import run_code

    if not prediction.strip():
        return _drop("empty answer")
    parse_dates = tuple(example.meta.get("parse_dates", ()))
    run = run_code(prediction, data_file(example, ctx.resources), parse_dates=parse_dates)
    if run.blocked:
        return _drop(f"blocked: {run.blocked[0]}")
    if not run.ok:
        kind = run.error.split(":", 1)[0]
        return _drop(run.error if kind in ("timeout", "crashed") else f"error: {run.error}")
    key = json.dumps(run.result, sort_keys=True, default=str)
    return Checked(True, "ran: set result", key, prediction, {"result": run.result})


def _in_labels(prediction: str, example: Example, ctx: CheckContext) -> Checked:
    if not ctx.labels:
        return _as_text(prediction, example, ctx)
    found = extract_label(prediction, ctx.labels)
    if found is None:
        return _drop("not a label: no single one of the task's labels")
    label = next(lb for lb in ctx.labels if normalize_text(lb) == found)
    return Checked(True, "one of the labels", found, label)


def _has_fields(prediction: str, _example: Example, _ctx: CheckContext) -> Checked:
    from tailorlm.metrics.fields import parse_gold

    try:
        pairs = parse_gold(prediction)
    except MetricError:
        return _drop("no fields: no `key: value` pairs")
    answer = "; ".join(f"{k}: {v}" for k, v in pairs.items())
    key = "; ".join(f"{k}: {v}" for k, v in sorted(pairs.items()))
    return Checked(True, f"{len(pairs)} field{'s' * (len(pairs) != 1)}", key, answer)


def _has_bullets(prediction: str, example: Example, ctx: CheckContext) -> Checked:
    lines = [line for line in prediction.splitlines() if line.lstrip().startswith("- ")]
    if not lines:
        return _drop("no bullets: no line starts with '- '")
    return Checked(True, f"{len(lines)} bullets", normalize_text(prediction), prediction.strip())


def _is_json(prediction: str, _example: Example, _ctx: CheckContext) -> Checked:
    try:
        value = json.loads(prediction)
    except json.JSONDecodeError:
        return _drop("not JSON: no JSON object")
    if not isinstance(value, dict):
        return _drop("not JSON: not an object")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return Checked(True, "a JSON object", text, text)


# What each metric can check on its own; a metric not listed falls back to its output type.
BY_METRIC: dict[str, Check] = {
    "sql_execution": _sql_runs,
    "sql_exact_match": _sql_parses,
    "pandas_execution": _code_runs,
    "classification": _in_labels,
    "label_fields": _has_fields,
    "report_bullets": _has_bullets,
}
BY_OUTPUT_TYPE: dict[str, Check] = {
    "sql": _sql_parses,
    "label": _in_labels,
    "json": _is_json,
    "code": _as_text,
    "text": _as_text,
}


def answer_check(
    metric: str,
    output_type: str,
    *,
    resources: Mapping[str, Path],
    labels: Sequence[str] | None = None,
    filtered: bool = True,
) -> AnswerCheck:
    """The check for a task's answers: `check(prediction, example) -> Checked`. Not
    `filtered`: any non-empty answer is kept (to measure what the filter buys)."""
    check = (
        (BY_METRIC.get(metric) or BY_OUTPUT_TYPE.get(output_type, _as_text))
        if filtered
        else _as_text
    )
    ctx = CheckContext(resources, labels)
    return lambda prediction, example: check(prediction, example, ctx)


__all__ = ["BY_METRIC", "BY_OUTPUT_TYPE", "CheckContext", "Checked", "answer_check"]
