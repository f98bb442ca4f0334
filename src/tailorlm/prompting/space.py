"""The optimizer's search space: candidate prompt programs for a task.

Candidates come from strategy specs, so every one can be rebuilt by name: first the student
(the program being improved), then a few built-in strategies that usually matter (seeds), then
combinations of instruction variant x persona x context option x format x demo set, shuffled
by the seed. Candidates that render identically are kept once."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.strategies import TaskLike, get_strategy

SEED_SPECS: tuple[str, ...] = (
    "schema-role",
    "role+context+format+few-shot",
    "zero-shot",
    "few-shot",
    "role+context+format",
)
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "persona": ("", "role"),
    "instruction": ("", "instruct:variant=rules", "instruct:variant=generic"),
    "context": ("", "context", "context:schema=create", "context:rows=2"),
    "format": ("", "format", "cot"),
    "demos": (
        "",
        "few-shot:k=1",
        "few-shot",
        "few-shot:k=5",
        "few-shot:method=random",
        "few-shot:method=balanced",
    ),
}


@dataclass(frozen=True)
class Candidate:
    name: str
    program: PromptProgram
    origin: str  # student | strategy | grid | bootstrap | proposer

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "program": self.program.to_dict()}


def grid_specs(seed: int) -> list[str]:
    """Every combination of the dimensions as a strategy spec, in a seeded random order."""
    specs = [
        "+".join(p for p in combo if p) or "zero-shot"
        for combo in itertools.product(*DIMENSIONS.values())
    ]
    random.Random(seed).shuffle(specs)
    return specs


def candidate_pool(
    task: TaskLike,
    student: PromptProgram,
    *,
    seed: int = 0,
    seeds: Sequence[str] = SEED_SPECS,
    similarity: str = "embedding",
    limit: int | None = None,
) -> list[Candidate]:
    """Student, seed strategies, then grid combinations; at most `limit`, distinct programs."""
    out = [Candidate(student.name, student, "student")]
    seen = {_fingerprint(student)}
    specs = [(s, "strategy") for s in seeds] + [(s, "grid") for s in grid_specs(seed)]
    for spec, origin in specs:
        if limit is not None and len(out) >= limit:
            break
        program = tune(get_strategy(spec)(task), seed=seed, similarity=similarity)
        if _fingerprint(program) not in seen:
            seen.add(_fingerprint(program))
            out.append(Candidate(spec, program, origin))
    return out


def tune(program: PromptProgram, *, seed: int, similarity: str) -> PromptProgram:
    """The optimizer's seed and similarity for a program's demo selector."""
    if program.demo_selector is None:
        return program
    selector = replace(program.demo_selector, seed=seed, similarity=similarity)  # type: ignore[arg-type]
    return replace(program, demo_selector=selector)


def _fingerprint(program: PromptProgram) -> str:
    import json

    data = program.to_dict()
    data.pop("name")
    return json.dumps(data, sort_keys=True, default=str)
