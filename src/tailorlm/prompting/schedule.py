"""Successive-halving schedules for the prompt optimizer: which candidates see how many dev
examples. A schedule depends only on counts, never on scores, so its cost in model calls is
known before the first call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailorlm.errors import TailorError


@dataclass(frozen=True)
class Rung:
    candidates: int
    examples: int  # evaluated on the first `examples` dev examples (cumulative)


def plan_rungs(n: int, *, minibatch: int, eta: int, n_val: int) -> list[Rung]:
    rungs, c, e = [], n, min(minibatch, n_val)
    while True:
        rungs.append(Rung(c, e))
        nxt = max(1, c // eta)
        if nxt == 1 or e >= n_val:
            return rungs
        c, e = nxt, min(n_val, e * eta)


def plan_cost(rungs: Sequence[Rung]) -> int:
    return sum(r.candidates * (r.examples - prev) for r, prev in zip(rungs, _previous(rungs)))


def _previous(rungs: Sequence[Rung]) -> list[int]:
    return [0] + [r.examples for r in rungs[:-1]]


def plan(
    budget: int, available: int, *, minibatch: int, eta: int, n_val: int, extra: int = 0
) -> tuple[int, list[Rung]]:
    """(candidates to start with, schedule): the most candidates whose schedule (with `extra`
    ones joining the first rung) fits `budget`, the leftover spent on the last rung."""
    for n in range(available, 0, -1):
        rungs = plan_rungs(n + extra, minibatch=minibatch, eta=eta, n_val=n_val)
        cost = plan_cost(rungs)
        if cost <= budget:
            last = rungs[-1]
            grown = min(n_val, last.examples + (budget - cost) // last.candidates)
            return n, [*rungs[:-1], Rung(last.candidates, grown)]
    need = (1 + extra) * min(minibatch, n_val)
    raise TailorError(
        f"A budget of {budget} model calls cannot evaluate even one candidate "
        f"(needs {need} after bootstrapping and proposals)",
        hint="raise --budget, or lower --minibatch / --bootstrap / --proposals",
    )
