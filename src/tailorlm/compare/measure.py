"""From built systems and their stored runs to the `comparison.json` pieces (see
docs/comparison-schema.md): one entry per system, paired tests, per-example items, curves.
Missing measurements are None (null), never 0 or a guess."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tailorlm.backends import api_model_of
from tailorlm.compare.latency import LatencyProbe
from tailorlm.compare.registry import registered
from tailorlm.compare.systems import BASELINE, SystemRun, SystemSpec
from tailorlm.metrics.stats import mcnemar, paired_bootstrap
from tailorlm.prompting.demos import query_text
from tailorlm.store import RunStore
from tailorlm.types import Example

Rows = dict[str, dict[str, Any]]  # example id -> stored eval row
# A system that did not run keeps every measurement key, each null.
_PARTS = {
    "quality": ("score", "ci", "n", "passed"),
    "setup": ("wall_s", "device", "model_calls", "train_tokens", "flops", "teacher"),
    "per_request": (
        "prompt_tokens",
        "completion_tokens",
        "latency_p50_s",
        "latency_p95_s",
        "latency_n",
        "throughput_rps",
    ),
    "artifacts": ("prompt_tokens", "prompt_bytes", "adapter_bytes"),
    "change": ("action", "wall_s"),
}


def eval_rows(store: RunStore, run: SystemRun) -> Rows:
    rows = store.get(run.eval.run_id).read_jsonl("examples.jsonl")
    return {row["id"]: row for row in rows}


def system_entry(
    spec: SystemSpec,
    run: SystemRun | None,
    *,
    status: str,
    reason: str | None,
    rows: Rows | None,
    probe: LatencyProbe | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": spec.id,
        "label": spec.label,
        "approach": spec.approach,
        "status": status,
        "reason": reason,
        "runs": {"eval": None, "setup": None},
        "reused": False,
        "description": spec.description,
        "builds_on": list(spec.builds_on),
        "texts": spec.shown_texts.to_dict(),
        **{part: dict.fromkeys(keys) for part, keys in _PARTS.items()},
        "api_model": None,
    }
    if run is None or rows is None:
        return entry
    latency_run = {"latency": probe.run_id} if probe else {}
    return {
        **entry,
        "runs": {"eval": run.eval.run_id, **run.runs, **latency_run},
        "reused": run.eval.reused,
        "description": run.description,
        "quality": _quality(run, rows),
        "setup": _setup(run),
        "per_request": _per_request(run, probe),
        "artifacts": _artifacts(run, probe),
        "change": {"action": run.setup.change_action, "wall_s": run.setup.change_wall_s},
        # Served by an API: the report prices it at that model's prices in every scenario.
        "api_model": api_model_of(run.system.backend),
    }


def _quality(run: SystemRun, rows: Rows) -> dict[str, Any]:
    s = run.eval.summary
    passed = sum(1 for row in rows.values() if row["score"] >= 1.0)
    return {"score": s.quality, "ci": [s.ci_low, s.ci_high], "n": s.n, "passed": passed}


def _setup(run: SystemRun) -> dict[str, Any]:
    s = run.setup
    return {
        "wall_s": s.wall_s,
        "device": s.device,
        "model_calls": s.model_calls,
        "train_tokens": s.train_tokens,
        "flops": s.flops,
        "teacher": asdict(s.teacher) if s.teacher is not None else None,
    }


def _per_request(run: SystemRun, probe: LatencyProbe | None) -> dict[str, Any]:
    s = run.eval.summary
    return {
        "prompt_tokens": s.prompt_tokens_mean,
        "completion_tokens": s.completion_tokens_mean,
        "latency_p50_s": probe.p50_s if probe else None,
        "latency_p95_s": probe.p95_s if probe else None,
        "latency_n": probe.n if probe else None,
        "throughput_rps": s.n / s.wall_s if s.wall_s > 0 else None,
    }


def _artifacts(run: SystemRun, probe: LatencyProbe | None) -> dict[str, Any]:
    program = json.dumps(run.system.program.to_dict(), sort_keys=True, default=str)
    return {
        "prompt_tokens": probe.overhead_tokens if probe else None,
        "prompt_bytes": len(program.encode("utf-8")),
        "adapter_bytes": adapter_bytes(run.system.adapter_dir),
    }


def adapter_bytes(folder: Path | None) -> int | None:
    """The adapter's weights and config: what must be kept and shipped with the base model (the
    tokenizer copy beside them is the base model's, unchanged)."""
    if folder is None or not folder.is_dir():
        return None
    return sum(p.stat().st_size for p in folder.glob("adapter_*") if p.is_file())


# ---------------------------------------------------------------------------- paired tests


def comparisons(
    rows: Mapping[str, Rows],
    example_ids: Sequence[str],
    specs: Sequence[SystemSpec] | None = None,
) -> list[dict[str, Any]]:
    """Each system against the baseline, then the extra pairs, on the examples both have."""
    # Besides "each system vs the baseline": the pairs registrations ask for, and each system
    # against the systems it builds on.
    specs = registered() if specs is None else specs
    extra = [(s.id, o) for s in specs for o in (*s.pairs_with, *s.builds_on)]
    pairs = [(sid, BASELINE) for sid in rows if sid != BASELINE] + extra
    out = []
    for a, b in dict.fromkeys(pairs):
        if a in rows and b in rows and (test := paired(rows[a], rows[b], example_ids)):
            out.append({"a": a, "b": b, **test})
    return out


def paired(a: Rows, b: Rows, example_ids: Sequence[str]) -> dict[str, Any] | None:
    ids = [i for i in example_ids if i in a and i in b]
    if not ids:
        return None
    score_a, score_b = [a[i]["score"] for i in ids], [b[i]["score"] for i in ids]
    boot = paired_bootstrap(score_a, score_b)
    exact = mcnemar([s >= 1.0 for s in score_a], [s >= 1.0 for s in score_b])
    return {
        "diff": boot["diff"],
        "ci": [boot["low"], boot["high"]],
        "p_value": boot["p_value"],
        "test": "paired_bootstrap",
        "mcnemar_p": exact["p_value"],
    }


# ---------------------------------------------------------------------------- items and curves


def items(examples: Sequence[Example], rows: Mapping[str, Rows]) -> list[dict[str, Any]]:
    """Per example: the question, the gold answer and every system's output and verdict."""
    out = []
    for ex in examples:
        outputs = {
            sid: {
                "output": r["output"],
                "pass": r["score"] >= 1.0,
                "score": r["score"],
                "reason": r["reason"],
            }
            for sid, by_id in rows.items()
            if (r := by_id.get(ex.id)) is not None
        }
        out.append(
            {"id": ex.id, "input": query_text(ex.inputs), "gold": ex.output, "outputs": outputs}
        )
    return out


def loss_curve(store: RunStore, finetune_run: str | None) -> dict[str, Any] | None:
    """[step, loss] pairs of the fine-tuning run's train and dev logs."""
    if finetune_run is None:
        return None
    record = store.get(finetune_run)
    train = [[r["step"], r["loss"]] for r in record.read_jsonl("train_log.jsonl")]
    dev = [[r["step"], r["dev_loss"]] for r in record.read_jsonl("dev_log.jsonl")]
    return {"train": train, "dev": dev}
