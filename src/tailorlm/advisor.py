"""Prompt engineering, fine-tuning, or both? Pure rules over a stated situation and, when a
comparison was run on the task, over its measurements.

The rules of thumb (prompting for one-off, interactive, changing or API-only use; fine-tuning
for repeated, standardized, high-volume use backed by enough data) give a first answer. When
measured evidence exists it decides instead: a significant quality gap first, then cost
(break-even volume against the stated volume within the window before requirements change),
then the stated latency and budget limits. Where the two disagree the measurements win and
the advice says so. Nothing here calls a model or reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tailorlm import verdict
from tailorlm.metrics.power import Power

Answer = Literal["prompt", "finetune", "both"]
Verdict = Literal["prompt", "finetune", "both", "none"]  # "none": no approach to recommend
Change = Literal["never", "rarely", "monthly", "weekly", "daily"]
CHANGES: tuple[Change, ...] = ("never", "rarely", "monthly", "weekly", "daily")
ANSWER_TEXT = {
    "prompt": "prompt engineering",
    "finetune": "fine-tuning",
    "both": "both",
    "none": "none of the approaches",
}
# Days a fine-tune must pay back in: it is retrained whenever the requirements change.
CHANGE_WINDOW_DAYS = {"never": 365, "rarely": 180, "monthly": 30, "weekly": 7, "daily": 1}
ALPHA = 0.05
MIN_FINETUNE_EXAMPLES = 100  # below this, examples serve better as few-shot demos and test data
HIGH_VOLUME, LOW_VOLUME = 10_000, 100  # requests per day


@dataclass(frozen=True)
class Situation:
    """What the user says about their use; None means "not stated"."""

    weights_access: bool | None = None  # can access and retrain the weights (False: API-only)
    n_labelled: int | None = None
    requests_per_day: float | None = None
    max_latency_s: float | None = None  # per request, p95
    budget_per_1000: float | None = None  # money per 1,000 requests
    change_frequency: Change | None = None
    standardized_output: bool | None = None
    target: float | None = None  # the quality bar the task must reach (0-1)


@dataclass(frozen=True)
class Measured:
    """One side of a comparison (the best prompt system or the best fine-tuned one)."""

    system: str
    label: str
    approach: Answer
    quality: float
    ci: tuple[float, float] | None = None
    latency_p95_s: float | None = None
    cost_per_1000: float | None = None
    latency_n: int | None = None  # requests the latency was timed on (None: not recorded)


@dataclass(frozen=True)
class Result:
    """One measured system: its quality and whether it beats the baseline (paired test)."""

    system: str
    label: str
    approach: Answer
    quality: float
    ci: tuple[float, float] | None = None
    p_vs_baseline: float | None = None  # None: the baseline itself, or no test


@dataclass(frozen=True)
class CurvePoint:
    n_train: int
    score: float
    ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Evidence:
    """What a comparison run measured, reduced to what the advice needs."""

    run_id: str | None
    task: str
    prompt: Measured | None
    finetune: Measured | None
    finetune_unavailable: str | None = None  # why fine-tuning could not run
    gap: float | None = None  # finetune quality - prompt quality
    gap_ci: tuple[float, float] | None = None
    p_value: float | None = None
    test: str | None = None
    break_even: float | None = None  # requests, under `scenario`; None: never pays back
    break_even_reason: str = ""
    scenario: str = "self-hosted"
    currency: str = "USD"
    model: str | None = None
    baseline: str | None = None
    results: tuple[Result, ...] = ()  # every system that ran, in table order
    power: Power | None = None  # of the key pair (best fine-tuned vs best prompt)
    curve: tuple[CurvePoint, ...] = ()  # fine-tuning quality vs labelled rows
    test_rows: int | None = None  # rows of the test split each system was measured on
    split_rows: int | None = None  # rows in the whole test split (None: not recorded)


@dataclass(frozen=True)
class Advice:
    answer: Verdict
    basis: Literal["rules", "measurements"]
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    rule_of_thumb: Answer | None = None
    contradicted: bool = False
    notes: tuple[str, ...] = field(default=())
    summary: str | None = None  # the headline when there is no method to recommend

    @property
    def headline(self) -> str:
        if self.summary:
            return self.summary
        text = f"Recommendation: {ANSWER_TEXT[self.answer]}"
        return text + (" (measured on your task)" if self.basis == "measurements" else "")


def _family(answer: Answer) -> str:
    return "prompt" if answer == "prompt" else "finetune"


def rule_of_thumb(s: Situation) -> tuple[Answer, list[str]]:
    """The usual advice from the situation alone, with the reasons that drove it."""
    if s.weights_access is False:
        return "prompt", ["only an API is available: the weights cannot be retrained"]
    if s.n_labelled is not None and s.n_labelled < MIN_FINETUNE_EXAMPLES:
        return "prompt", [
            f"{s.n_labelled} labelled examples are too few to fine-tune on; use them as "
            "few-shot examples and to evaluate prompts"
        ]
    for_ft, for_prompt = _votes(s)
    if len(for_ft) > len(for_prompt):
        answer: Answer = "both" if for_prompt else "finetune"
        return answer, for_ft + for_prompt
    return "prompt", for_prompt + for_ft


def _votes(s: Situation) -> tuple[list[str], list[str]]:
    ft: list[str] = []
    pr: list[str] = []
    if s.change_frequency in ("weekly", "daily"):
        pr.append(
            f"requirements change {s.change_frequency}: a prompt edit is minutes, "
            "a retrain is hours"
        )
    elif s.change_frequency in ("never", "rarely"):
        ft.append(f"requirements change {s.change_frequency}: a trained model stays valid")
    rpd = s.requests_per_day
    if rpd is not None and rpd >= HIGH_VOLUME:
        ft.append(f"{rpd:,.0f} requests/day: a long prompt is paid on every request")
    elif rpd is not None and rpd <= LOW_VOLUME:
        pr.append(f"{rpd:,.0f} requests/day: a training cost is unlikely to pay back")
    if s.standardized_output:
        ft.append("output must be consistent and standardized, which training instils")
    elif s.standardized_output is False:
        pr.append("output is free-form or interactive, which instructions steer well")
    if s.n_labelled is not None and s.n_labelled >= 500:
        ft.append(f"{s.n_labelled} labelled examples are enough to fine-tune on")
    if s.max_latency_s is not None and s.max_latency_s < 1.0:
        ft.append(f"a {s.max_latency_s:g} s latency limit favours short prompts")
    return ft, pr


def _significant(e: Evidence) -> bool:
    if e.p_value is not None:
        return e.p_value < ALPHA
    return e.gap_ci is not None and (e.gap_ci[0] > 0 or e.gap_ci[1] < 0)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _quality_line(m: Measured) -> str:
    ci = f" (95% CI {_pct(m.ci[0])}-{_pct(m.ci[1])})" if m.ci else ""
    return f"{m.label}: quality {_pct(m.quality)}{ci}"


def _gap_line(e: Evidence) -> str:
    assert e.gap is not None
    ci = f", 95% CI {100 * e.gap_ci[0]:+.1f} to {100 * e.gap_ci[1]:+.1f}" if e.gap_ci else ""
    p = f", p={e.p_value:.3g} ({e.test})" if e.p_value is not None else ""
    return f"fine-tuned minus prompt: {100 * e.gap:+.1f} points{ci}{p}"


def _break_even_line(e: Evidence) -> str:
    if e.break_even is None:
        return f"break-even ({e.scenario}): none — {e.break_even_reason}"
    return f"break-even ({e.scenario}): fine-tuning is cheaper after {e.break_even:,.0f} requests"


def _evidence_lines(e: Evidence) -> list[str]:
    lines = [f"comparison run {e.run_id or '(unsaved)'} on task {e.task}"]
    lines += [_quality_line(m) for m in (e.prompt, e.finetune) if m is not None]
    if e.finetune_unavailable:
        lines.append(f"fine-tuning not possible: {e.finetune_unavailable}")
    if e.gap is not None:
        lines.append(_gap_line(e))
    if e.finetune is not None:
        lines.append(_break_even_line(e))
    if e.prompt is not None and e.finetune is not None:
        sig = e.gap is not None and _significant(e)
        lines += verdict.power_lines(e.power, e.prompt.label, e.finetune.label, sig, e.split_rows)
    return lines


def _window_days(s: Situation) -> int:
    return CHANGE_WINDOW_DAYS[s.change_frequency or "never"]


def _by_cost(s: Situation, e: Evidence, ft: Answer) -> tuple[Answer, str]:
    """Quality is a tie: the cheaper system over the time the fine-tune stays valid wins."""
    if e.break_even is None:
        return "prompt", f"fine-tuning never becomes cheaper ({e.break_even_reason})"
    if s.requests_per_day is None:
        return "prompt", (
            f"without a stated volume the cheaper start wins; fine-tuning pays back only after "
            f"{e.break_even:,.0f} requests, so choose it if you expect more before the task changes"
        )
    days = e.break_even / max(s.requests_per_day, 1e-9)
    window = _window_days(s)
    if days <= window:
        return ft, (
            f"at {s.requests_per_day:,.0f} requests/day fine-tuning pays back in {days:,.1f} "
            f"days, within the {window}-day window before requirements change"
        )
    return "prompt", (
        f"at {s.requests_per_day:,.0f} requests/day fine-tuning would pay back only after "
        f"{days:,.0f} days, longer than the {window}-day window before requirements change"
    )


def _by_quality(s: Situation, e: Evidence) -> tuple[Answer, list[str]]:
    assert e.finetune is not None and e.gap is not None
    ft = e.finetune.approach
    if _significant(e):
        if e.gap > 0:
            return ft, [f"{e.finetune.label} is significantly better ({100 * e.gap:+.1f} points)"]
        return "prompt", [f"the prompt is significantly better ({100 * -e.gap:+.1f} points)"]
    p = f" (p={e.p_value:.2g})" if e.p_value is not None else ""
    answer, why = _by_cost(s, e, ft)
    return answer, [f"the quality difference is not significant{p}", why]


def _constraints(s: Situation, e: Evidence, answer: Answer) -> tuple[Answer, list[str]]:
    """Switch when the chosen system breaks a stated limit that the other one meets."""
    chosen, other = (e.prompt, e.finetune) if answer == "prompt" else (e.finetune, e.prompt)
    if chosen is None or other is None:
        return answer, []
    for name, limit, attr in (
        ("p95 latency", s.max_latency_s, "latency_p95_s"),
        (f"cost per 1,000 requests ({e.currency})", s.budget_per_1000, "cost_per_1000"),
    ):
        mine, theirs = getattr(chosen, attr), getattr(other, attr)
        if limit is None or mine is None or theirs is None:
            continue
        if mine > limit >= theirs:
            why = (
                f"{chosen.label} breaks your {name} limit ({mine:.3g} > {limit:g}); "
                f"{other.label} meets it ({theirs:.3g})"
            )
            if attr == "latency_p95_s":
                why += _timed_on(chosen.latency_n, other.latency_n)
            return other.approach, [why]
    return answer, []


def _timed_on(*counts: int | None) -> str:
    """How many requests a latency figure rests on, when it is too few for a p95."""
    known = [n for n in counts if n is not None]
    if not known or min(known) >= 20:
        return ""
    n = min(known)
    return f" (timed on {n} request{'s' * (n != 1)} only: a rough p95)"


def _measured(s: Situation, e: Evidence) -> tuple[Answer, list[str]]:
    if e.finetune is None or e.prompt is None or e.gap is None:
        missing = e.finetune_unavailable or "the comparison has no fine-tuned result"
        return "prompt", [f"fine-tuning could not be measured: {missing}"]
    answer, reasons = _by_quality(s, e)
    switched, why = _constraints(s, e, answer)
    return switched, reasons + why


def _no_method(s: Situation, e: Evidence) -> Advice | None:
    """Nothing reaches the bar (with a target), or nothing works (without one): said first,
    with no method recommended."""
    if not e.results:
        return None
    lines = _evidence_lines(e)
    if s.target is not None:
        meets, point, _ = verdict.bar_lines(e.results, s.target)
        if meets or point:
            return None
        best = max(e.results, key=lambda r: r.quality)
        summary = (
            f"No system reaches your bar of {verdict.pct(s.target)}: the best, {best.label}, "
            f"scores {verdict.pct(best.quality)}"
        )
        closers = ("what would most likely close the gap:", *verdict.gap_closers(e, s.target, best))
        return Advice("none", "measurements", closers, tuple(lines), summary=summary)
    why = verdict.nothing_works(e.results, e.baseline)
    if why is None:
        return None
    notes = (
        "no method is recommended: none works measurably better on this model and task",
        *verdict.without_a_method(e),
    )
    return Advice("none", "measurements", notes, tuple(lines), summary=why)


def _within_bar(target: float, e: Evidence, answer: Answer) -> tuple[Answer, list[str]]:
    """Which systems meet the bar; when the chosen side reaches it on nothing and the other
    side does, the other side is chosen."""
    meets, point, lines = verdict.bar_lines(e.results, target)
    reaching = meets or point
    if any(_family(r.approach) == _family(answer) for r in reaching):
        return answer, lines
    other = max(reaching, key=lambda r: r.quality)
    lines.append(
        f"{ANSWER_TEXT[answer]} reaches your bar with none of its systems; "
        f"{other.label} does, so {ANSWER_TEXT[other.approach]} it is"
    )
    return other.approach, lines


def advise(situation: Situation, evidence: Evidence | None = None) -> Advice:
    rule, rule_reasons = rule_of_thumb(situation)
    if evidence is None:
        reasons = rule_reasons or [
            "nothing you stated points either way: start with a prompt, it is cheapest to try"
        ]
        notes = ("no comparison run for this task: run `tailor compare TASK` to measure",)
        return Advice(rule, "rules", tuple(reasons), rule_of_thumb=rule, notes=notes)
    if situation.weights_access is False:
        # Measurements cannot make the weights retrainable: a feasibility limit, not a preference.
        note = "you stated API-only access, so fine-tuning is out whatever was measured"
        return Advice("prompt", "rules", (note,), tuple(_evidence_lines(evidence)), rule)
    first = _no_method(situation, evidence)
    if first is not None:
        return first
    answer, reasons = _measured(situation, evidence)
    if situation.target is not None:
        answer, bar = _within_bar(situation.target, evidence, answer)
        reasons = bar + reasons
    contradicted = bool(rule_reasons) and _family(rule) != _family(answer)
    if contradicted:
        reasons.append(
            f"the rule of thumb says {ANSWER_TEXT[rule]} ({'; '.join(rule_reasons)}), "
            f"but the measurements on your task say {ANSWER_TEXT[answer]}: the measurements win"
        )
    return Advice(
        answer, "measurements", tuple(reasons), tuple(_evidence_lines(evidence)), rule, contradicted
    )
