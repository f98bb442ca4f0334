"""What a comparison measured, reduced to the advisor's `Evidence`: the best prompt system,
the best fine-tuned system, their paired quality test and the break-even volume."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.advisor import ALPHA, CurvePoint, Evidence, Measured, Result
from tailorlm.costs import BreakEven, Cost
from tailorlm.metrics.power import Power, paired_power
from tailorlm.report.schema import Comparison, ItemOutput, PairedTest, System


def paired_test(comparison: Comparison, a: str, b: str) -> PairedTest | None:
    """The stored paired test of a vs b (turned round if stored as b vs a), else one computed
    from the per-example scores, which every view of the report can then cite."""
    for t in comparison.comparisons:
        if (t.a, t.b) == (a, b):
            return t
        if (t.a, t.b) == (b, a):
            ci = (-t.ci[1], -t.ci[0]) if t.ci else None
            return t.model_copy(update={"a": a, "b": b, "diff": -t.diff, "ci": ci})
    return _from_items(comparison, a, b)


def _from_items(comparison: Comparison, a: str, b: str) -> PairedTest | None:
    from tailorlm.metrics.stats import mcnemar, paired_bootstrap

    outs = [(it.outputs.get(a), it.outputs.get(b)) for it in comparison.items]
    pairs = [(x, y) for x, y in outs if x and y and x.score is not None and y.score is not None]
    if not pairs or len(pairs) < len(outs):
        return None  # a test on a subset would not be the test of the reported scores
    boot = paired_bootstrap([x.score or 0.0 for x, _ in pairs], [y.score or 0.0 for _, y in pairs])
    mc = mcnemar([_passed(x) for x, _ in pairs], [_passed(y) for _, y in pairs])
    return PairedTest(
        a=a,
        b=b,
        diff=boot["diff"],
        ci=(boot["low"], boot["high"]),
        p_value=boot["p_value"],
        test="paired_bootstrap (from items)",
        mcnemar_p=mc["p_value"],
    )


def _passed(out: ItemOutput) -> bool:
    return out.passed if out.passed is not None else (out.score or 0.0) >= 1.0


def significant(test: PairedTest | None) -> bool:
    return test is not None and test.p_value is not None and test.p_value < ALPHA


def _measured(system: System, cost: Cost | None) -> Measured:
    assert system.quality.score is not None
    return Measured(
        system=system.id,
        label=system.label,
        approach=system.approach,
        quality=system.quality.score,
        ci=system.quality.ci,
        latency_p95_s=system.per_request.latency_p95_s,
        latency_n=system.per_request.latency_n,
        cost_per_1000=cost.per_1000 if cost else None,
    )


def _unavailable(comparison: Comparison) -> str | None:
    # The first one's reason is the root cause; the combined system only "needs" it.
    failed = [s for s in comparison.systems if s.approach != "prompt" and not s.ok]
    return f"{failed[0].label}: {failed[0].reason or failed[0].status}" if failed else None


def evidence_of(
    comparison: Comparison,
    costs: dict[str, dict[str, Cost]],
    break_evens: dict[str, dict[str, BreakEven]],
    prompt: System | None,
    finetune: System | None,
    scenario: str,
    currency: str,
) -> Evidence:
    def side(system: System | None) -> Measured | None:
        return _measured(system, costs[system.id].get(scenario)) if system else None

    base = Evidence(
        run_id=comparison.run_id,
        task=comparison.task,
        prompt=side(prompt),
        finetune=side(finetune),
        finetune_unavailable=_unavailable(comparison) if finetune is None else None,
        scenario=scenario,
        currency=currency,
        model=comparison.model,
        baseline=comparison.baseline,
        test_rows=comparison.n_examples,
        split_rows=comparison.split_rows,
        results=tuple(_result(comparison, s) for s in comparison.systems if s.ok),
        curve=tuple(
            CurvePoint(p.n_train, p.score, p.ci)
            for p in comparison.learning_curve
            if p.score is not None
        ),
    )
    if prompt is None or finetune is None:
        return base
    base = replace(base, power=key_pair_power(comparison, finetune.id, prompt.id))
    test = paired_test(comparison, finetune.id, prompt.id)
    return _with_test(base, finetune, prompt, test, break_evens.get(finetune.id, {}).get(scenario))


def _result(comparison: Comparison, system: System) -> Result:
    assert system.quality.score is not None
    test = (
        None
        if system.id == comparison.baseline
        else paired_test(comparison, system.id, comparison.baseline)
    )
    return Result(
        system.id,
        system.label,
        system.approach,
        system.quality.score,
        system.quality.ci,
        test.p_value if test else None,
    )


def key_pair_power(comparison: Comparison, a: str, b: str) -> Power | None:
    """The power of the paired comparison of `a` and `b` on the rows both were scored on."""
    pairs = [(it.outputs.get(a), it.outputs.get(b)) for it in comparison.items]
    scores = [
        (x.score, y.score)
        for x, y in pairs
        if x and y and x.score is not None and y.score is not None
    ]
    if len(scores) < 2:
        return None
    return paired_power([x for x, _ in scores], [y for _, y in scores])


def _with_test(
    base: Evidence,
    finetune: System,
    prompt: System,
    test: PairedTest | None,
    be: BreakEven | None,
) -> Evidence:
    assert prompt.quality.score is not None and finetune.quality.score is not None
    return replace(
        base,
        gap=test.diff if test else finetune.quality.score - prompt.quality.score,
        gap_ci=test.ci if test else None,
        p_value=test.p_value if test else None,
        test=test.test if test else None,
        break_even=be.volume if be else None,
        break_even_reason=be.reason if be else "not priced",
    )
