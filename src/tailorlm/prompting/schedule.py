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


def plan_rungs(n: int, *, minibatch: int, eta: int, n_val: int, keep: int = 0) -> list[Rung]:
    """`keep` candidates (the incumbent) stay in every rung; the others are cut to the best
    1/eta per rung, down to one challenger."""
    rungs, c, e = [], n, min(minibatch, n_val)
    while True:
        rungs.append(Rung(c, e))
        if keep:
            nxt = min(c, max(1, (c - keep) // eta) + keep)
            done = nxt >= c
        else:
            nxt = max(1, c // eta)
            done = nxt == 1
        if done or e >= n_val:
            return rungs
        c, e = nxt, min(n_val, e * eta)


def plan_cost(rungs: Sequence[Rung]) -> int:
    return sum(r.candidates * (r.examples - prev) for r, prev in zip(rungs, _previous(rungs)))


def _previous(rungs: Sequence[Rung]) -> list[int]:
    return [0] + [r.examples for r in rungs[:-1]]


def plan(
    budget: int,
    available: int,
    *,
    minibatch: int,
    eta: int,
    n_val: int,
    extra: int = 0,
    keep: int = 0,
    select_rows: int = 0,
) -> tuple[int, list[Rung]]:
    """(candidates to start with, schedule): the most candidates whose schedule (with `extra`
    ones joining the first rung, `keep` ones staying to the end) fits `budget`, the leftover
    spent on the last rung, which must score at least `select_rows` dev rows (all of dev
    where it is smaller): the winner is chosen on that many."""
    final = min(select_rows, n_val)
    for n in range(available, 0, -1):
        rungs = plan_rungs(n + extra, minibatch=minibatch, eta=eta, n_val=n_val, keep=keep)
        cost = plan_cost(rungs)
        if cost <= budget:
            last = rungs[-1]
            grown = min(n_val, last.examples + (budget - cost) // last.candidates)
            if grown >= final:
                return n, [*rungs[:-1], Rung(last.candidates, grown)]
    need = (1 + extra + keep) * max(final, min(minibatch, n_val))
    raise TailorError(
        f"A budget of {budget} model calls cannot evaluate even one candidate on the {final} "
        f"dev rows a winner is chosen on (needs about {need} after bootstrapping and proposals)",
        hint="raise --budget, or lower --select-rows / --minibatch / --bootstrap / --proposals",
    )
