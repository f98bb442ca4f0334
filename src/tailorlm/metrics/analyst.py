"""Registry adapters for the analyst tasks' metrics: `(prediction, example, resources) -> Score`.

They pick what each scorer needs from the row: the input texts (the table, question and SQL a
stated number may come from), the key facts in `meta`, the data file among the resources."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tailorlm.errors import MetricError
from tailorlm.metrics.bullets import report_bullets_score
from tailorlm.metrics.explain import explanation_score
from tailorlm.metrics.fields import fields_match
from tailorlm.metrics.pandas_exec import pandas_execution as run_and_compare
from tailorlm.types import Example, Score


def input_texts(example: Example) -> list[str]:
    """Everything the model was shown for this row: its input fields, or its prompt turns."""
    texts = [str(v) for v in example.inputs.values()]
    texts += [m["content"] for m in example.messages or ()]
    return texts


def meta_facts(example: Example, key: str) -> list[list[str]] | None:
    """`meta[key]` as a list of facts (each a list of parts); None when the row has none."""
    raw: Any = example.meta.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(f, (list, str)) for f in raw):
        raise MetricError(
            f"Example {example.id!r}: meta.{key} must be a list of facts",
            hint='e.g. [["West", "4512.5"], ["East"]]: each fact lists the words/numbers it needs',
        )
    return [[str(p) for p in f] if isinstance(f, list) else [f] for f in raw]


def label_fields(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return fields_match(prediction, example.output)


def report_bullets(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    sources = input_texts(example)
    return report_bullets_score(prediction, example.output, sources, meta_facts(example, "facts"))


def explanation(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    facts = meta_facts(example, "key_facts")
    return explanation_score(prediction, example.output, input_texts(example), facts)


def data_file(example: Example, resources: Mapping[str, Path]) -> Path:
    """The row's data file: `meta.data` (a resource name or an absolute path), else
    resources["data"]."""
    name = example.meta.get("data", "data")
    if str(name) in resources:
        return Path(resources[str(name)])
    if Path(str(name)).is_absolute() and Path(str(name)).is_file():
        return Path(str(name))
    raise MetricError(
        f"Example {example.id!r}: no data file for pandas_execution (meta.data = {name!r})",
        hint="add `resources: {data: file.csv}` to task.yaml (known: "
        f"{', '.join(sorted(resources)) or 'none'})",
    )


def pandas_execution(prediction: str, example: Example, resources: Mapping[str, Path]) -> Score:
    return run_and_compare(
        prediction,
        example.output,
        data_file(example, resources),
        gold=example.meta.get("result"),
        parse_dates=tuple(example.meta.get("parse_dates", ())),
        ordered=bool(example.meta.get("ordered", False)),
    )


_PART = re.compile(r"\b([a-z_]+)=([0-9]*\.?[0-9]+)")


def part_means(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Mean of each score part (`faithfulness=0.50 ...` in the rows' reasons) over a run's
    examples.jsonl rows, e.g. {"faithfulness": 0.91, "coverage": 0.4, "similarity": 0.77}."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        for name, value in _PART.findall(str(row.get("reason", ""))):
            sums.setdefault(name, []).append(float(value))
    return {name: sum(v) / len(v) for name, v in sums.items()}


ANALYST_METRICS: dict[str, Any] = {
    "label_fields": label_fields,
    "report_bullets": report_bullets,
    "explanation": explanation,
    "pandas_execution": pandas_execution,
}
__all__: Sequence[str] = ["ANALYST_METRICS", "input_texts", "meta_facts", "part_means"]
