"""Per-request latency, measured the way an interactive user meets it: one request at a time on
a small sample (batched evaluation times whole batches, which says nothing about a single
request). Stored as a `latency` run keyed by config + data hash, so a rerun reuses it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from tailorlm import __version__
from tailorlm.backends import engine_of
from tailorlm.backends.base import Backend
from tailorlm.evaluation import build_request
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.requests import overhead_tokens
from tailorlm.store import RunStore, config_hash
from tailorlm.tasks import Task
from tailorlm.types import Example, GenerationOptions

KIND = "latency"
_FIELDS = ("run_id", "n", "p50_s", "p95_s", "overhead_tokens")


@dataclass(frozen=True)
class LatencyProbe:
    run_id: str
    n: int
    p50_s: float
    p95_s: float
    overhead_tokens: float  # tokens the program adds to a request on top of the bare question
    reused: bool


def measure_latency(
    task: Task,
    program: PromptProgram,
    backend: Backend,
    examples: list[Example],
    options: GenerationOptions,
    store: RunStore,
) -> LatencyProbe:
    """Time `examples` one request at a time (after the model is loaded); reuse a stored probe."""
    options = replace(options, batch_size=1)
    if program.stop:
        options = replace(options, stop=tuple(dict.fromkeys(options.stop + program.stop)))
    config = {
        "kind": KIND,
        "task": task.name if task.builtin else str(task.root),
        "model": backend.name,
        "engine": engine_of(backend),
        "program": program.to_dict(),
        "examples": [ex.id for ex in examples],
        "generation": asdict(options),
        "seed": options.seed,
        "tailorlm": __version__,
    }
    data_hash = task.data_hash()
    if done := store.find_reusable(KIND, config_hash(config), data_hash):
        stored = done.read_json("latency.json")
        return LatencyProbe(**{k: stored[k] for k in _FIELDS}, reused=True)
    writer = store.start(
        KIND,
        name=program.name,
        task=task.name,
        model=backend.name,
        config=config,
        data_hash=data_hash,
    )
    with writer:
        _warm_up(backend)
        resources = task.resources()
        seconds = [
            _one_request(backend, build_request(program, ex, resources), options) for ex in examples
        ]
        added = overhead_tokens(program, backend, examples, resources)
        probe = LatencyProbe(
            run_id=writer.id,
            n=len(seconds),
            p50_s=float(np.percentile(seconds, 50)),
            p95_s=float(np.percentile(seconds, 95)),
            overhead_tokens=float(added),
            reused=False,
        )
        writer.write_json("latency.json", {**asdict(probe), "seconds": seconds})
        writer.set_summary({"n": probe.n, "latency_p50_s": probe.p50_s})
    return probe


def _warm_up(backend: Backend) -> None:
    """A lazily loaded model loads now, so its load time is not counted as latency."""
    getattr(backend, "loaded", None)


def _one_request(backend: Backend, messages: Any, options: GenerationOptions) -> float:
    started = time.perf_counter()
    backend.generate([messages], options)
    return time.perf_counter() - started
