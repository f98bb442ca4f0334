"""Prompt optimizer (L3, pure of storage): successive halving over candidate prompt programs on
dev minibatches, within a hard budget of model calls.

    optimizer = PromptOptimizer(backend, task=task, budget=150, seed=0)
    best = optimizer.compile(student, trainset=train, valset=dev, metric=metric)
    optimizer.result.trials  # every candidate tried: program, per-example scores, cost

The schedule is fixed before any call is made (it depends only on counts, never on scores), so
the budget is known to hold: rung k evaluates the surviving candidates on the first n_k examples
of the shuffled dev set (the same examples for all, so scores are paired), and keeps the best
1/eta. What is left of the budget goes to the last rung. Candidates are ranked by the task
metric; "answer well-formed but wrong" (e.g. SQL that runs) only breaks ties, then fewer added
tokens. Bootstrapped demos (train examples the model already answers correctly) and proposer
instructions are optional and paid from the same budget."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tailorlm.backends.base import Backend
from tailorlm.errors import TailorError
from tailorlm.metrics.stats import paired_bootstrap
from tailorlm.prompting.demos import query_text, similarity_in_use
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.proposer import Failure, proposal_request, propose
from tailorlm.prompting.requests import request_tokens
from tailorlm.prompting.schedule import Rung, plan
from tailorlm.prompting.scoring import Scored, score_batch
from tailorlm.prompting.space import SEED_SPECS, Candidate, candidate_pool
from tailorlm.prompting.strategies import TaskLike, task_config
from tailorlm.prompting.trials import ItemOutcome, OptimizationResult, Trial
from tailorlm.types import Example, GenerationOptions, Messages, Metric, ProgressFn

log = logging.getLogger(__name__)
INCUMBENT_ALPHA = 0.05


# ---------------------------------------------------------------------------- the optimizer


class _Meter:
    """Every model call (student or proposer) goes through here; exceeding the budget is a bug
    in the schedule, so it fails loudly instead of quietly spending more."""

    def __init__(self, budget: int, progress: ProgressFn | None) -> None:
        self.budget, self.used, self.progress = budget, 0, progress

    def generate(self, backend: Any, batch: Sequence[Messages], options: GenerationOptions) -> Any:
        if self.used + len(batch) > self.budget:
            raise RuntimeError(f"budget exceeded: {self.used} + {len(batch)} > {self.budget}")
        self.used += len(batch)
        out = backend.generate(list(batch), options)
        if self.progress:
            self.progress(self.used, self.budget)
        return out


@dataclass
class _State:
    candidate: Candidate
    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)
    rung: int = 0
    wall_s: float = 0.0


class PromptOptimizer:
    """Successive halving over prompt programs. Hyper-parameters here; data in `compile`."""

    def __init__(
        self,
        backend: Backend,
        *,
        task: TaskLike,
        budget: int,
        resources: Mapping[str, Path] | None = None,
        options: GenerationOptions | None = None,
        minibatch: int = 8,
        eta: int = 2,
        seed: int = 0,
        seeds: Sequence[str] = SEED_SPECS,
        max_candidates: int = 48,
        similarity: str = "embedding",
        bootstrap: int = 0,
        proposer: Backend | None = None,
        proposals: int = 2,
        progress: ProgressFn | None = None,
        select_rows: int = 32,
        incumbent: bool = False,
    ) -> None:
        if budget < 1 or minibatch < 1 or eta < 2:
            raise TailorError("budget and minibatch must be >= 1, eta >= 2")
        self.backend, self.task, self.budget = backend, task, budget
        self.resources = dict(resources or {})
        self.options = options or GenerationOptions(seed=seed)
        self.minibatch, self.eta, self.seed, self.seeds = minibatch, eta, seed, tuple(seeds)
        self.max_candidates, self.similarity, self.bootstrap = max_candidates, similarity, bootstrap
        self.proposer, self.proposals = proposer, proposals if proposer is not None else 0
        self.progress = progress
        # The winner is chosen on at least `select_rows` dev rows (all of dev if fewer); with
        # `incumbent` the student stays to the end and is replaced only by a candidate that
        # beats it there by a paired test (p < INCUMBENT_ALPHA).
        self.select_rows, self.incumbent = select_rows, incumbent
        self.result: OptimizationResult | None = None

    def check_budget(self, n_train: int, n_val: int) -> None:
        """Raise now, before any work, if the budget cannot evaluate even one candidate."""
        self.plan(1, n_train, max(1, n_val))

    def plan(self, available: int, n_train: int, n_val: int) -> tuple[int, list[Rung]]:
        """(candidates to start with, schedule), after reserving bootstrap and proposer calls."""
        reserve = min(self.bootstrap, n_train) + self.proposals
        return plan(
            self.budget - reserve,
            available,
            minibatch=self.minibatch,
            eta=self.eta,
            n_val=n_val,
            extra=self.proposals,
            keep=1 if self.incumbent else 0,
            select_rows=self.select_rows,
        )

    def compile(
        self,
        student: PromptProgram,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        metric: Metric,
    ) -> PromptProgram:
        """A new program: the best candidate found (the student itself if nothing beats it)."""
        self.result = self.run(student, trainset=trainset, valset=valset, metric=metric)
        return self.result.program

    def run(
        self,
        student: PromptProgram,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        metric: Metric,
    ) -> OptimizationResult:
        if not valset:
            raise TailorError("The dev split is empty", hint="add examples to dev.jsonl")
        return _Search(self, list(trainset), list(valset), metric).run(student)


class _Search:
    """One optimization: the mutable state of a `PromptOptimizer.run` call."""

    def __init__(
        self, opt: PromptOptimizer, train: list[Example], val: list[Example], metric: Metric
    ) -> None:
        self.opt, self.train, self.metric = opt, train, metric
        self.val = val[:]
        random.Random(f"{opt.seed}:dev").shuffle(self.val)
        self.meter = _Meter(opt.budget, opt.progress)
        self.states: list[_State] = []
        self.bootstrap_info: dict[str, Any] = {"tried": 0, "passed": []}

    def run(self, student: PromptProgram) -> OptimizationResult:
        started = time.perf_counter()
        opt = self.opt
        pool = candidate_pool(
            opt.task,
            student,
            seed=opt.seed,
            seeds=opt.seeds,
            similarity=opt.similarity,
            limit=opt.max_candidates,
        )
        n, rungs = opt.plan(len(pool), len(self.train), len(self.val))
        pool = self._with_bootstrapped(pool, n)
        self.states = [_State(c) for c in pool[:n]]
        alive = list(range(len(self.states)))
        for k, rung in enumerate(rungs):
            batch = self.val[: rung.examples]
            log.debug(
                "rung %d/%d: %d candidates on %d dev examples",
                k + 1,
                len(rungs),
                len(alive),
                len(batch),
            )
            for i in alive:
                self._evaluate(i, batch, k)
                log.debug("  %-60s %s", self.states[i].candidate.name, self._rank_key(i, batch))
            if k == 0 and opt.proposals:
                alive += self._propose(alive, batch)
            alive = sorted(alive, key=lambda i: self._rank_key(i, batch))
            if k + 1 < len(rungs):
                alive = self._survivors(alive, rungs[k + 1].candidates)
        winner, decision = self._decide(alive, self.val[: rungs[-1].examples])
        return self._result(winner, rungs, time.perf_counter() - started, decision)

    def _survivors(self, ranked: list[int], n: int) -> list[int]:
        """The best `n` (the incumbent, index 0, among them whatever its rank)."""
        if not self.opt.incumbent or 0 in ranked[:n]:
            return ranked[:n]
        return [*ranked[: n - 1], 0]

    def _decide(self, ranked: list[int], rows: Sequence[Example]) -> tuple[int, dict[str, Any]]:
        """The best candidate; with an incumbent, it only if significantly better on `rows`."""
        best = ranked[0]
        if not self.opt.incumbent or best == 0:
            return best, {"rule": "best on dev" if not self.opt.incumbent else "incumbent best"}
        a = [self.states[best].outcomes[ex.id].score for ex in rows]
        b = [self.states[0].outcomes[ex.id].score for ex in rows]
        test = paired_bootstrap(a, b, seed=self.opt.seed)
        decision = {
            "rule": f"replace the incumbent only if significantly better (p < {INCUMBENT_ALPHA})",
            "challenger": self.states[best].candidate.name,
            "diff": test["diff"],
            "p_value": test["p_value"],
            "rows": len(rows),
        }
        replaced = test["diff"] > 0 and test["p_value"] < INCUMBENT_ALPHA
        return (best if replaced else 0), {**decision, "replaced": replaced}

    # -- evaluation

    def _evaluate(self, i: int, examples: Sequence[Example], rung: int) -> None:
        state = self.states[i]
        state.rung = rung
        todo = [ex for ex in examples if ex.id not in state.outcomes]
        if not todo:
            return
        started = time.perf_counter()
        for outcome in self._outcomes(state.candidate.program, todo):
            state.outcomes[outcome.id] = outcome
        state.wall_s += time.perf_counter() - started

    def _outcomes(self, program: PromptProgram, examples: Sequence[Example]) -> list[ItemOutcome]:
        opt = self.opt

        def generate(requests: list[Messages], options: GenerationOptions) -> Any:
            return self.meter.generate(opt.backend, requests, options)

        scored = score_batch(
            program,
            examples,
            generate,
            self.metric,
            resources=opt.resources,
            options=opt.options,
            pool=self.train,
        )
        return [self._outcome(s) for s in scored]

    def _outcome(self, s: Scored) -> ItemOutcome:
        backend, score, comp = self.opt.backend, s.score, s.completion
        added = request_tokens(backend, s.request) - backend.count_tokens(
            query_text(s.example.inputs)
        )
        return ItemOutcome(
            s.example.id,
            score.value,
            float(score.has_form),
            score.reason,
            s.prediction,
            comp.text,
            comp.prompt_tokens,
            comp.completion_tokens,
            added,
        )

    def _rank_key(self, i: int, batch: Sequence[Example]) -> tuple[float, float, float, int]:
        outcomes = [self.states[i].outcomes[ex.id] for ex in batch]
        n = len(outcomes)
        return (
            -sum(o.score for o in outcomes) / n,
            -sum(o.well_formed for o in outcomes) / n,
            sum(o.overhead_tokens for o in outcomes) / n,
            i,
        )

    # -- bootstrapped demos

    def _with_bootstrapped(self, pool: list[Candidate], n: int) -> list[Candidate]:
        """Put a bootstrapped-demo candidate right after the seed strategies (if any passed)."""
        teacher = next((c for c in pool[:n] if c.program.demo_selector is not None), None)
        size = min(self.opt.bootstrap, len(self.train))
        if teacher is None or size == 0 or n < 2:
            return pool
        sample = random.Random(f"{self.opt.seed}:bootstrap").sample(self.train, size)
        outcomes = self._outcomes(teacher.program, sample)
        passed = tuple(o.id for o in outcomes if o.score >= 1.0)
        self.bootstrap_info = {"teacher": teacher.name, "tried": size, "passed": list(passed)}
        if not passed:
            return pool
        selector = teacher.program.demo_selector
        assert selector is not None
        program = replace(
            teacher.program,
            demo_selector=replace(selector, ids=passed, k=min(selector.k, len(passed))),
        )
        boot = Candidate(f"{teacher.name}+bootstrapped", program, "bootstrap")
        at = min(n - 1, 1 + len(self.opt.seeds))
        return [*pool[:at], boot, *pool[at:]]

    # -- proposer

    def _propose(self, alive: list[int], batch: Sequence[Example]) -> list[int]:
        """New candidates: the best program so far with proposer-written instructions."""
        opt = self.opt
        assert opt.proposer is not None
        best = min(alive, key=lambda i: self._rank_key(i, batch))
        state = self.states[best]
        failures = [
            Failure(query_text(ex.inputs), ex.output, state.outcomes[ex.id].output)
            for ex in batch
            if state.outcomes[ex.id].score < 1.0
        ] or [Failure(query_text(ex.inputs), ex.output, "(correct)") for ex in batch[:2]]
        rng = random.Random(f"{opt.seed}:propose")
        description = task_config(opt.task).description
        quality = -self._rank_key(best, batch)[0]
        requests = [
            proposal_request(
                description,
                state.candidate.program.instruction,
                quality,
                rng.sample(failures, min(4, len(failures))),
                v,
            )
            for v in range(opt.proposals)
        ]
        texts = self.meter.generate(_ProposerCall(opt.proposer, opt.seed), requests, opt.options)
        return self._add_proposals(state.candidate, texts, batch)

    def _add_proposals(
        self, base: Candidate, texts: Sequence[str], batch: Sequence[Example]
    ) -> list[int]:
        known = {s.candidate.program.instruction for s in self.states}
        added = []
        for v, text in enumerate(texts):
            if not text or text in known:
                continue
            known.add(text)
            program = replace(base.program, instruction=text)
            self.states.append(
                _State(Candidate(f"{base.name}+proposed{v + 1}", program, "proposer"))
            )
            added.append(len(self.states) - 1)
            self._evaluate(added[-1], batch, 0)
        return added

    # -- result

    def _result(
        self, winner: int, rungs: list[Rung], wall_s: float, decision: dict[str, Any]
    ) -> OptimizationResult:
        trials = tuple(
            Trial(
                i,
                s.candidate.name,
                s.candidate.origin,
                s.candidate.program,
                tuple(s.outcomes.values()),
                s.rung,
                s.wall_s,
            )
            for i, s in enumerate(self.states)
        )
        best = trials[winner]
        meta = {
            **dict(best.program.meta),
            "optimized": {
                "candidate": best.name,
                "origin": best.origin,
                "dev_quality": best.quality,
                "dev_n": best.n,
                "seed": self.opt.seed,
                "budget": self.opt.budget,
                "decision": decision,
            },
        }
        program = replace(best.program, name=f"optimized({best.name})", meta=meta)
        return OptimizationResult(
            program,
            winner,
            trials,
            tuple(rungs),
            self.meter.used,
            self.opt.budget,
            self.opt.seed,
            similarity_in_use(self.opt.similarity),
            self.bootstrap_info,
            wall_s,
        )


class _ProposerCall:
    """Adapts `propose` to the meter: one call per request, replies already cleaned."""

    def __init__(self, proposer: Backend, seed: int) -> None:
        self.proposer, self.seed = proposer, seed

    def generate(self, batch: Sequence[Messages], options: GenerationOptions) -> list[str]:
        return propose(self.proposer, batch, seed=self.seed)
