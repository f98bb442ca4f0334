"""Run a system (backend + prompt program) over examples and measure it (L3).

Pure of storage: `iter_results` yields one row per example, batch by batch, so a caller can
persist rows as they come (and resume after an interruption); `summarize` turns rows into the
numbers every report shows: quality with a 95% bootstrap CI, tokens, latency, throughput."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tailorlm.backends.base import Backend
from tailorlm.metrics import corpus_metrics, get_metric
from tailorlm.metrics.stats import bootstrap_ci
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.scoring import Scored, score_batch
from tailorlm.types import Example, GenerationOptions, Score

# Rows are persisted after each chunk: the most work an interruption can lose. A chunk is a
# whole number of generation batches (see `chunk_rows`).
CHUNK_SIZE = 16


@dataclass(frozen=True)
class ItemResult:
    id: str
    inputs: Mapping[str, Any]
    gold: str
    output: str
    prediction: str
    score: float
    reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = dict(self.inputs)
        return data


@dataclass(frozen=True)
class EvalSummary:
    n: int
    quality: float
    ci_low: float
    ci_high: float
    prompt_tokens_mean: float
    completion_tokens_mean: float
    latency_p50_s: float
    latency_p95_s: float
    throughput_tokens_s: float
    wall_s: float
    failure_reasons: Mapping[str, int]
    corpus: Mapping[str, Any] = field(default_factory=dict)  # run-level: macro-F1, score parts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_reasons"] = dict(self.failure_reasons)
        data["corpus"] = dict(self.corpus)
        return data


def iter_results(
    examples: Sequence[Example],
    program: PromptProgram,
    backend: Backend,
    *,
    metric_name: str,
    resources: Mapping[str, Path],
    options: GenerationOptions,
    chunk_size: int | None = None,
) -> Iterator[list[ItemResult]]:
    """Yield scored rows chunk by chunk (each chunk is one `generate` call on the backend)."""
    chunk_size = chunk_size or chunk_rows(options.batch_size)
    metric_fn = get_metric(metric_name)

    def metric(prediction: str, ex: Example) -> Score:
        return metric_fn(prediction, ex, resources)

    for start in range(0, len(examples), chunk_size):
        chunk = examples[start : start + chunk_size]
        scored = score_batch(
            program, chunk, backend.generate, metric, resources=resources, options=options
        )
        yield [_item(s) for s in scored]


def _item(s: Scored) -> ItemResult:
    ex, comp = s.example, s.completion
    return ItemResult(
        ex.id,
        ex.inputs,
        ex.output,
        comp.text,
        s.prediction,
        s.score.value,
        s.score.reason,
        comp.prompt_tokens,
        comp.completion_tokens,
        comp.latency_s,
    )


def chunk_rows(batch_size: int) -> int:
    """At least CHUNK_SIZE rows, rounded up to whole batches: a chunk that splits a batch would
    run a second decoding loop for the remainder (40 rows in batches of 20 as chunks of 16 took
    three loops instead of two, and each loop decodes until its longest answer ends)."""
    return batch_size * -(-CHUNK_SIZE // batch_size)


def summarize(
    rows: Iterable[Mapping[str, Any]], wall_s: float, *, seed: int = 0, metric: str | None = None
) -> EvalSummary:
    rows = list(rows)
    scores = np.array([r["score"] for r in rows], dtype=float)
    quality, low, high = bootstrap_ci(scores.tolist(), seed=seed)
    latencies = np.array([r["latency_s"] for r in rows], dtype=float)
    completion = np.array([r["completion_tokens"] for r in rows], dtype=float)
    reasons = Counter(_reason_kind(r["reason"]) for r in rows if r["score"] < 1.0)
    return EvalSummary(
        n=len(rows),
        quality=float(quality),
        ci_low=float(low),
        ci_high=float(high),
        prompt_tokens_mean=float(np.mean([r["prompt_tokens"] for r in rows])),
        completion_tokens_mean=float(completion.mean()),
        latency_p50_s=float(np.percentile(latencies, 50)),
        latency_p95_s=float(np.percentile(latencies, 95)),
        throughput_tokens_s=float(completion.sum() / wall_s) if wall_s > 0 else 0.0,
        wall_s=wall_s,
        failure_reasons=dict(reasons.most_common()),
        corpus=corpus_metrics(metric, rows) if metric else {},
    )


def _reason_kind(reason: str) -> str:
    return (reason or "wrong").split(":", 1)[0].strip() or "wrong"
