"""From a stored comparison plus prices to a `Report`: costs under each scenario, break-even
volumes, the criteria table and the recommendation. Pure: never calls a model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tailorlm.advisor import Advice, Evidence, Situation, advise
from tailorlm.costs import (
    API,
    API_CACHED,
    SCENARIOS,
    SELF_HOSTED,
    BreakEven,
    Cost,
    PriceTable,
    Usage,
    break_even,
    system_cost,
    tokens_cost,
)
from tailorlm.report.evidence import evidence_of, paired_test, significant
from tailorlm.report.schema import Comparison, System, parse_comparison


@dataclass(frozen=True)
class Report:
    """Everything every view shows; views (terminal, Markdown, HTML, JSON) only format it."""

    comparison: Comparison
    raw: dict[str, Any]
    prices: PriceTable
    costs: dict[str, dict[str, Cost]]  # system id -> scenario -> cost
    break_evens: dict[str, dict[str, BreakEven]]  # fine-tuned system id -> scenario -> vs ref
    prompt_ref: str | None  # the prompt system fine-tuning is priced against
    scenario: str  # the scenario the table's cost rows and winners use
    evidence: Evidence
    advice: Advice

    @property
    def ok_systems(self) -> list[System]:
        return [s for s in self.comparison.systems if s.ok]

    def cost(self, system_id: str, scenario: str | None = None) -> Cost | None:
        return self.costs.get(system_id, {}).get(scenario or self.scenario)

    def criteria(self) -> list[Any]:
        from tailorlm.report.criteria import criteria_rows

        return criteria_rows(self)

    def terminal(self) -> Any:
        from tailorlm.report.terminal import render_terminal

        return render_terminal(self)

    def markdown(self) -> str:
        from tailorlm.report.markdown import render_markdown

        return render_markdown(self)

    def html(self) -> str:
        from tailorlm.report.html import render_html

        return render_html(self)

    def to_dict(self) -> dict[str, Any]:
        from tailorlm.report.export import report_dict

        return report_dict(self)

    def to_pandas(self) -> Any:
        """One row per system: id, label, approach, status, quality, CI, n, latency p50, cost
        per 1,000 requests (primary scenario) and the reason a system did not run."""
        from tailorlm.report.notebook import systems_frame

        return systems_frame(self)

    def _repr_html_(self) -> str:
        from tailorlm.report.notebook import report_html

        return report_html(self)


def usage_of(comparison: Comparison, system: System, prices: PriceTable | None = None) -> Usage:
    # The combined system's setup already includes the training it builds on (compare adds it).
    per, art, setup = system.per_request, system.artifacts, system.setup
    return Usage(
        prompt_tokens=per.prompt_tokens,
        completion_tokens=per.completion_tokens,
        shared_prefix_tokens=art.prompt_tokens or 0.0,
        throughput_rps=per.throughput_rps,
        latency_p50_s=per.latency_p50_s,
        serve_device=comparison.device,
        setup_wall_s=setup.wall_s,
        setup_device=setup.device or comparison.device,
        setup_model_calls=setup.model_calls or 0,
        train_tokens=setup.train_tokens or 0,
        finetuned=system.approach != "prompt",
        setup_spend=_teacher_spend(setup, prices),
    )


def _teacher_spend(setup: Any, prices: PriceTable | None) -> float | None:
    """What a teacher's labelling cost at its list prices: 0 without a teacher or for a local
    one (its time is in the setup's wall time), None when the price file lacks its model."""
    teacher = setup.teacher
    if teacher is None or teacher.api_model is None or prices is None:
        return 0.0
    return tokens_cost(prices, teacher.api_model, teacher.prompt_tokens, teacher.completion_tokens)


def _best(systems: list[System], approaches: tuple[str, ...]) -> System | None:
    pool = [s for s in systems if s.approach in approaches and s.ok]
    # Ties go to the earlier (simpler) system: the five are listed from simplest to most complex.
    return max(pool, key=lambda s: s.quality.score or 0.0, default=None)


def prompt_reference(comparison: Comparison) -> System | None:
    """The best engineered prompt (zero-shot only if nothing better ran)."""
    engineered = [s for s in comparison.systems if s.id != comparison.baseline]
    return _best(engineered, ("prompt",)) or _best(comparison.systems, ("prompt",))


def _simpler_tuned(comparison: Comparison, combined: System) -> System | None:
    """The fine-tuned system a combined one is weighed against: the one it builds on, else
    the plain fine-tune (a prompted fine-tune builds on a prompt, not on weights)."""
    built = [comparison.system(i) for i in combined.built_from]
    tuned = [s for s in built if s is not None and s.approach != "prompt"]
    plain = [s for s in comparison.systems if s.approach == "finetune"]
    return next(iter(tuned or plain), None)


def best_finetuned(comparison: Comparison) -> System | None:
    """The best fine-tuned system; a combined one only if significantly better than the system
    it builds on, since it adds a prompt search to maintain."""
    best = _best(comparison.systems, ("finetune", "both"))
    if best is None or best.approach != "both":
        return best
    plain = _simpler_tuned(comparison, best)
    if plain is None or not plain.ok:
        return best
    return best if significant(paired_test(comparison, best.id, plain.id)) else plain


def _costs(parsed: Comparison, prices: PriceTable) -> dict[str, dict[str, Cost]]:
    costs = {
        s.id: {sc: system_cost(usage_of(parsed, s, prices), prices, sc) for sc in SCENARIOS}
        for s in parsed.systems
        if s.ok
    }
    for s in parsed.systems:
        if s.ok and s.api_model and s.api_model != parsed.api_model:
            costs[s.id] = _provider_costs(parsed, s, prices)
    if parsed.api_model:
        # Measured through a provider's API: there is no machine of the user's to price.
        unpriced = Cost(None, None, "the model is served by an API")
        for by_scenario in costs.values():
            by_scenario[SELF_HOSTED] = unpriced
    return costs


def _provider_costs(parsed: Comparison, s: System, prices: PriceTable) -> dict[str, Cost]:
    """A system served by a provider's API (a teacher, an OpenAI fine-tune) costs its API
    price in every scenario: there is no machine of the user's to serve it on."""
    found = prices.provider_model(s.api_model or "")
    if found is None:
        missing = Cost(None, None, f"no price for {s.api_model} in the price file")
        return dict.fromkeys(SCENARIOS, missing)
    key, finetuned = found
    usage = replace(usage_of(parsed, s, prices), finetuned=finetuned)
    own = prices.using(key)
    api, cached = system_cost(usage, own, API), system_cost(usage, own, API_CACHED)
    hosted = replace(api, note=f"{api.note} (served by the provider's API)")
    return {sc: {SELF_HOSTED: hosted, API_CACHED: cached}.get(sc, api) for sc in SCENARIOS}


def _primary_scenario(costs: dict[str, dict[str, Cost]]) -> str:
    priced = [c[SELF_HOSTED] for c in costs.values() if c[SELF_HOSTED].per_request is not None]
    return SELF_HOSTED if priced else API


def _break_evens(
    comparison: Comparison, costs: dict[str, dict[str, Cost]], ref: System | None
) -> dict[str, dict[str, BreakEven]]:
    if ref is None:
        return {}
    tuned = [s for s in comparison.systems if s.ok and s.approach != "prompt"]
    return {
        s.id: {sc: break_even(costs[ref.id][sc], costs[s.id][sc]) for sc in SCENARIOS}
        for s in tuned
    }


def _target(given: float | None, comparison: dict[str, Any]) -> float | None:
    stored = comparison.get("target")
    return given if given is not None else (float(stored) if stored is not None else None)


def build_report(
    comparison: dict[str, Any], prices: PriceTable | None = None, target: float | None = None
) -> Report:
    """The report of one `comparison.json` dict (docs/comparison-schema.md). `target`: the
    quality bar (0-1) the verdict holds the systems to; default: the one stored with the
    comparison (the task's `target:`), if any."""
    parsed = parse_comparison(comparison, comparison.get("run_id") or "comparison.json")
    prices = prices or PriceTable.load()
    # A comparison run against an API model is priced at that model's prices if listed.
    prices = prices.using(parsed.api_model or prices.api_model)
    costs = _costs(parsed, prices)
    ref = prompt_reference(parsed)
    break_evens = _break_evens(parsed, costs, ref)
    scenario = _primary_scenario(costs)
    evidence = evidence_of(
        parsed, costs, break_evens, ref, best_finetuned(parsed), scenario, prices.currency
    )
    return Report(
        comparison=parsed,
        raw=comparison,
        prices=prices,
        costs=costs,
        break_evens=break_evens,
        prompt_ref=ref.id if ref else None,
        scenario=scenario,
        evidence=evidence,
        advice=advise(Situation(target=_target(target, comparison)), evidence),
    )
