"""Label scorers: one prediction against its label, and corpus-level accuracy / macro F1."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tailorlm.errors import MetricError
from tailorlm.metrics.text import normalize_text
from tailorlm.types import Score


def _mentions(text: str, label: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text) is not None


def extract_label(prediction: str, labels: Sequence[str]) -> str | None:
    """The one normalized label the prediction names, e.g. "Category: billing." -> "billing".

    A label contained in another mentioned label ("spam" in "not spam") yields to the longer
    one; None when no label, or several, are mentioned.
    """
    text = normalize_text(prediction)
    candidates = [normalize_text(label) for label in labels]
    if text in candidates:
        return text
    found = {label for label in candidates if label and _mentions(text, label)}
    found = {label for label in found if not any(label != o and _mentions(o, label) for o in found)}
    return found.pop() if len(found) == 1 else None


def label_match(prediction: str, gold: str, labels: Sequence[str] | None = None) -> Score:
    """1.0 when the (normalized, and if `labels` given, extracted) label equals the gold one."""
    pred, target = normalize_text(prediction), normalize_text(gold)
    if labels:
        extracted = extract_label(prediction, labels)
        if extracted is None:
            return Score(0.0, reason="no single label found", details={"prediction": pred[:200]})
        pred = extracted
    if pred == target:
        return Score(1.0, details={"label": pred})
    return Score(0.0, "mismatch", {"label": pred[:200], "gold": target}, well_formed=True)


def _normalized_pairs(preds: Sequence[str], golds: Sequence[str]) -> list[tuple[str, str]]:
    if len(preds) != len(golds):
        raise MetricError(f"Got {len(preds)} predictions for {len(golds)} gold labels")
    if not golds:
        raise MetricError("No predictions to score", hint="evaluate at least one example")
    return [(normalize_text(p), normalize_text(g)) for p, g in zip(preds, golds, strict=False)]


def accuracy(preds: Sequence[str], golds: Sequence[str]) -> float:
    """Share of predictions equal to their gold label after `normalize_text`."""
    pairs = _normalized_pairs(preds, golds)
    return sum(p == g for p, g in pairs) / len(pairs)


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def per_label_report(
    preds: Sequence[str], golds: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per label (0.0 where a ratio is undefined).

    Without `labels`, every label seen in golds or predictions gets a row (as scikit-learn).
    """
    pairs = _normalized_pairs(preds, golds)
    names = [normalize_text(x) for x in labels] if labels else sorted({x for p in pairs for x in p})
    report = {}
    for name in names:
        tp = sum(p == g == name for p, g in pairs)
        predicted = sum(p == name for p, _ in pairs)
        support = sum(g == name for _, g in pairs)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        report[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": support,
        }
    return report


def macro_f1(
    preds: Sequence[str], golds: Sequence[str], labels: Sequence[str] | None = None
) -> float:
    """Unweighted mean of per-label F1, so rare labels count as much as common ones."""
    report = per_label_report(preds, golds, labels)
    return sum(row["f1"] for row in report.values()) / len(report)
