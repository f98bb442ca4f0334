from __future__ import annotations

from dataclasses import replace

import pytest

from tailorlm.advisor import Evidence, Measured, Situation, advise, rule_of_thumb

PROMPT = Measured("optimized-prompt", "Optimized prompt", "prompt", 0.45, (0.25, 0.65), 5.4, 0.06)
TUNED = Measured("finetuned", "Fine-tuned", "finetune", 0.80, (0.6, 0.95), 1.6, 0.012)


def evidence(**overrides) -> Evidence:
    base = Evidence(
        run_id="compare-1",
        task="sql-sales",
        prompt=PROMPT,
        finetune=TUNED,
        gap=0.35,
        gap_ci=(0.1, 0.6),
        p_value=0.01,
        test="paired_bootstrap",
        break_even=5_000.0,
        break_even_reason="setup cost paid back",
    )
    return replace(base, **overrides)


TIE = dict(gap=0.02, gap_ci=(-0.1, 0.14), p_value=0.7)


@pytest.mark.parametrize(
    "situation, answer, because",
    [
        (Situation(), "prompt", []),
        (Situation(weights_access=False, requests_per_day=1e6), "prompt", ["only an API"]),
        (Situation(n_labelled=30, standardized_output=True), "prompt", ["too few"]),
        (Situation(requests_per_day=20, change_frequency="daily"), "prompt", ["daily", "20"]),
        (
            Situation(
                requests_per_day=50_000,
                standardized_output=True,
                n_labelled=2000,
                change_frequency="rarely",
            ),
            "finetune",
            ["50,000", "standardized", "2000", "rarely"],
        ),
        (
            Situation(requests_per_day=50_000, standardized_output=True, change_frequency="weekly"),
            "both",
            ["weekly", "50,000"],
        ),
        (Situation(standardized_output=False), "prompt", ["free-form"]),
        (Situation(max_latency_s=0.5, n_labelled=800), "finetune", ["latency", "800"]),
    ],
)
def test_rules_of_thumb(situation, answer, because):
    got, reasons = rule_of_thumb(situation)
    assert got == answer
    for word in because:
        assert any(word in r for r in reasons), (word, reasons)
    advice = advise(situation)
    assert advice.answer == answer and advice.basis == "rules"
    assert "tailor compare" in advice.notes[0]


@pytest.mark.parametrize(
    "situation, ev, answer, contradicted, says",
    [
        # significant quality gain wins, even for a changing, low-volume use
        (
            Situation(requests_per_day=50, change_frequency="weekly"),
            evidence(),
            "finetune",
            True,
            "measurements win",
        ),
        # the prompt measured significantly better: beats the high-volume rule of thumb
        (
            Situation(requests_per_day=1e5, standardized_output=True, n_labelled=5000),
            evidence(gap=-0.2, gap_ci=(-0.35, -0.05), p_value=0.01),
            "prompt",
            True,
            "significantly better",
        ),
        # a tie on quality: cost decides; pays back in 5 days < 30-day change window
        (
            Situation(requests_per_day=1000, change_frequency="monthly"),
            evidence(**TIE),
            "finetune",
            False,
            "5.0 days",
        ),
        # a tie, same volume, but requirements change daily: a 5-day payback is too long
        (
            Situation(requests_per_day=1000, change_frequency="daily"),
            evidence(**TIE),
            "prompt",
            False,
            "1-day window",
        ),
        # a tie and high volume (rule: fine-tune) but fine-tuning never gets cheaper
        (
            Situation(requests_per_day=1e5, standardized_output=True, change_frequency="never"),
            evidence(**TIE, break_even=None, break_even_reason="never: costs more per request"),
            "prompt",
            True,
            "never becomes cheaper",
        ),
        # a tie and no stated volume: the cheaper start, with the break-even to act on
        (Situation(), evidence(**TIE), "prompt", False, "5,000 requests"),
        # no p-value stored: the CI decides significance
        (Situation(), evidence(p_value=None), "finetune", False, "significantly better"),
        # fine-tuning could not run
        (
            Situation(standardized_output=True, requests_per_day=1e5, n_labelled=900),
            evidence(finetune=None, gap=None, finetune_unavailable="API-only model"),
            "prompt",
            True,
            "API-only model",
        ),
        # the best fine-tuned system is the combined one
        (
            Situation(),
            evidence(finetune=replace(TUNED, approach="both", label="Fine-tuned + prompt")),
            "both",
            False,
            "Fine-tuned + prompt is significantly better",
        ),
        # latency limit: the prompt's p95 (5.4 s) breaks 2 s, the fine-tune meets it
        (Situation(max_latency_s=2.0), evidence(**TIE), "finetune", False, "latency limit"),
        # ... and when the figure rests on one timed request, the reason says so
        (
            Situation(max_latency_s=2.0),
            evidence(**TIE, prompt=replace(PROMPT, latency_n=1)),
            "finetune",
            False,
            "timed on 1 request only",
        ),
        # budget limit: fine-tune chosen on quality but the stated budget only fits the prompt
        (
            Situation(budget_per_1000=0.1),
            evidence(finetune=replace(TUNED, cost_per_1000=0.2), prompt=PROMPT),
            "prompt",
            False,
            "cost per 1,000",
        ),
    ],
)
def test_measurements_decide(situation, ev, answer, contradicted, says):
    advice = advise(situation, ev)
    assert advice.answer == answer, advice.reasons
    assert advice.basis == "measurements"
    assert advice.contradicted == contradicted
    assert any(says in r for r in advice.reasons + advice.evidence), advice.reasons
    assert any("compare-1" in line for line in advice.evidence)


def test_api_only_overrides_measurements_but_shows_them():
    advice = advise(Situation(weights_access=False), evidence())
    assert advice.answer == "prompt" and "API-only" in advice.reasons[0]
    assert any("fine-tuned minus prompt: +35.0 points" in e for e in advice.evidence)


def test_headline_says_what_it_is_based_on():
    assert advise(Situation()).headline == "Recommendation: prompt engineering"
    assert advise(Situation(), evidence()).headline.endswith("(measured on your task)")
