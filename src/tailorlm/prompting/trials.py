"""What an optimization produces: per-example outcomes, one trial per candidate, the result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.schedule import Rung


@dataclass(frozen=True)
class ItemOutcome:
    id: str
    score: float
    well_formed: float  # secondary signal: 1 when the answer had the task's form (Score.has_form)
    reason: str
    prediction: str
    output: str
    prompt_tokens: int
    completion_tokens: int
    overhead_tokens: int


@dataclass(frozen=True)
class Trial:
    index: int
    name: str
    origin: str
    program: PromptProgram
    outcomes: tuple[ItemOutcome, ...]
    rung: int  # the last rung it was evaluated in
    wall_s: float

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def calls(self) -> int:
        return len(self.outcomes)

    def mean(self, name: str, ids: Sequence[str] | None = None) -> float:
        keep = None if ids is None else set(ids)
        rows = [o for o in self.outcomes if keep is None or o.id in keep]
        return sum(getattr(o, name) for o in rows) / len(rows) if rows else 0.0

    @property
    def quality(self) -> float:
        return self.mean("score")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "origin": self.origin,
            "rung": self.rung,
            "n": self.n,
            "calls": self.calls,
            "quality": self.quality,
            "well_formed": self.mean("well_formed"),
            "overhead_tokens_mean": self.mean("overhead_tokens"),
            "prompt_tokens_mean": self.mean("prompt_tokens"),
            "completion_tokens_mean": self.mean("completion_tokens"),
            "wall_s": self.wall_s,
            "program": self.program.to_dict(),
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


@dataclass(frozen=True)
class OptimizationResult:
    program: PromptProgram
    winner: int
    trials: tuple[Trial, ...]
    rungs: tuple[Rung, ...]
    calls: int
    budget: int
    seed: int
    similarity: str
    bootstrap: Mapping[str, Any]
    wall_s: float

    @property
    def best(self) -> Trial:
        return self.trials[self.winner]

    def summary(self) -> dict[str, Any]:
        return {
            "winner": self.best.name,
            "winner_index": self.winner,
            "dev_quality": self.best.quality,
            "dev_n": self.best.n,
            "dev_well_formed": self.best.mean("well_formed"),
            "overhead_tokens": self.best.mean("overhead_tokens"),
            "calls": self.calls,
            "budget": self.budget,
            "candidates": len(self.trials),
            "wall_s": self.wall_s,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "seed": self.seed,
            "similarity": self.similarity,
            "rungs": [r.__dict__ for r in self.rungs],
            "bootstrap": dict(self.bootstrap),
            "trials": [t.to_dict() for t in self.trials],
        }
