"""Per-request latency, measured the way an interactive user meets it: one request at a time on
a small sample (batched evaluation times whole batches, which says nothing about a single
request). Stored as a `latency` run keyed by config + data hash, so a rerun reuses it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from tailorlm.backends import engine_of
from tailorlm.backends.base import Backend
from tailorlm.config import run_config
from tailorlm.prompting.requests import build_messages, overhead_tokens
from tailorlm.store import RunStore
from tailorlm.store.steps import artifact, open_step
from tailorlm.system import System
from tailorlm.tasks import Task
from tailorlm.types import Example, GenerationOptions

KIND = "latency"
FILE = artifact(KIND, "latency")
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
    system: System,
    examples: list[Example],
    options: GenerationOptions,
    store: RunStore,
) -> LatencyProbe:
    """Time `examples` one request at a time (after the model is loaded); reuse a stored probe."""
    program, backend = system.program, system.backend
    options = program.generation_options(replace(options, batch_size=1))
    config = run_config(
        KIND,
        task.ref,
        backend.name,
        options.seed,
        engine=engine_of(backend),
        program=program.to_dict(),
        examples=[ex.id for ex in examples],
        generation=asdict(options),
    )
    opened = open_step(
        store,
        KIND,
        config,
        task.data_hash(),
        name=program.name,
        task=task.name,
        model=backend.name,
        resume=False,  # a few seconds of timings: measured again rather than continued
    )
    with opened as step:
        if step.record is not None:
            stored = step.record.read_json(FILE)
            return LatencyProbe(**{k: stored[k] for k in _FIELDS}, reused=True)
        _warm_up(backend)
        resources = task.resources()
        seconds = [
            _one_request(backend, build_messages(program, ex, resources), options)
            for ex in examples
        ]
        added = overhead_tokens(program, backend, examples, resources)
        probe = LatencyProbe(
            run_id=step.run_id,
            n=len(seconds),
            p50_s=float(np.percentile(seconds, 50)),
            p95_s=float(np.percentile(seconds, 95)),
            overhead_tokens=float(added),
            reused=False,
        )
        step.out.write_json(FILE, {**asdict(probe), "seconds": seconds})
        step.out.set_summary({"n": probe.n, "latency_p50_s": probe.p50_s})
    return probe


def _warm_up(backend: Backend) -> None:
    """A lazily loaded model loads now, so its load time is not counted as latency."""
    getattr(backend, "loaded", None)


def _one_request(backend: Backend, messages: Any, options: GenerationOptions) -> float:
    started = time.perf_counter()
    backend.generate([messages], options)
    return time.perf_counter() - started
