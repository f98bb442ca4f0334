"""Labels with several fields, e.g. a ticket's category and priority.

The gold answer is one line of `key: value` pairs, `category: billing; priority: high`. A
prediction is read leniently, as a person would: keys and values in any case, separated by
anything, in any order ("Priority: High. Category: Billing" is right). A
prediction without keys ("billing, high") is read by position. Each field right earns an equal
share of the score; corpus-level accuracy and macro-F1 per field come from `corpus_report`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailorlm.errors import MetricError
from tailorlm.metrics.classification import macro_f1
from tailorlm.metrics.text import normalize_text
from tailorlm.types import Score

# Keys and values are single words (hyphens and underscores allowed: `how-to`).
_PAIR = re.compile(r"([A-Za-z][\w-]*)\s*[:=]\s*\**\s*([\w-]+)")
_WORDS = re.compile(r"[\w-]+")


def parse_gold(gold: str) -> dict[str, str]:
    """The `key: value` pairs of a gold answer, normalized; MetricError when there are none."""
    pairs = _pairs(gold)
    if not pairs:
        raise MetricError(
            f"gold answer {gold!r} has no `key: value` fields",
            hint="write answers as `category: billing; priority: high`",
        )
    return pairs


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _PAIR.findall(text):
        out.setdefault(_norm(key), _norm(value))
    return out


def _norm(text: str) -> str:
    return normalize_text(text).strip("-_")


def parse_prediction(prediction: str, keys: Sequence[str]) -> dict[str, str]:
    """The prediction's value for each key: by name where it names keys, else by position."""
    named = {k: v for k, v in _pairs(prediction).items() if k in keys}
    if named:
        return named
    parts = [_norm(p) for p in _WORDS.findall(prediction) if _norm(p)]
    return dict(zip(keys, parts))


def fields_match(prediction: str, gold: str) -> Score:
    """Share of the gold fields the prediction gets right (case and spacing ignored)."""
    expected = parse_gold(gold)
    found = parse_prediction(prediction, list(expected))
    wrong = [k for k, v in expected.items() if found.get(k) != v]
    value = (len(expected) - len(wrong)) / len(expected)
    if not wrong:
        return Score(1.0, details={"fields": found})
    missing = [k for k in wrong if k not in found]
    kind = "no " + ", ".join(missing) if len(missing) == len(wrong) else "wrong " + ", ".join(wrong)
    got = "; ".join(f"{k}={found.get(k, '-')}" for k in expected)
    return Score(value, reason=f"{kind}: {got}"[:200], details={"fields": found})


def corpus_report(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per field: accuracy and macro-F1 over stored rows (`prediction`, `gold`), plus `all`
    (share of rows with every field right). Works on a run's examples.jsonl rows."""
    golds, preds = [], []
    for row in rows:
        gold = parse_gold(str(row["gold"]))
        golds.append(gold)
        preds.append(parse_prediction(str(row["prediction"]), list(gold)))
    if not golds:
        raise MetricError("No rows to report on", hint="evaluate at least one example")
    report = {}
    for key in golds[0]:
        g = [x.get(key, "") for x in golds]
        p = [x.get(key, "") for x in preds]
        labels = sorted(set(g))
        accuracy = sum(a == b for a, b in zip(p, g)) / len(g)
        report[key] = {"accuracy": accuracy, "macro_f1": macro_f1(p, g, labels=labels)}
    exact = sum(all(p.get(k) == v for k, v in g.items()) for p, g in zip(preds, golds))
    report["all"] = {"accuracy": exact / len(golds)}
    return report
