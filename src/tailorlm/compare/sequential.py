"""`tailor compare --until-decided`: evaluate more test rows, chunk by chunk, until the key pair
(the best prompt system vs the best fine-tuned or combined one) is decided - significantly
different, or within +-margin of each other - or the test split runs out. Each look is an
ordinary compare run on a longer prefix of the same shuffled test split; the evaluations start
from the rows already stored (experiments.run_eval), so no row is generated twice. The error
budget is spent across looks as metrics/sequential.py describes (Lan-DeMets, O'Brien-Fleming
type), so peeking does not inflate the false-positive rate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tailorlm.backends import ModelLike
from tailorlm.compare.presets import Preset, get_preset
from tailorlm.compare.runner import CompareOutcome, run_compare
from tailorlm.metrics.sequential import MARGIN, Look, look
from tailorlm.store import RunStore
from tailorlm.tasks import Task, load_task
from tailorlm.types import EventFn


def run_until_decided(
    task: str | Path | Task,
    *,
    model: ModelLike = None,
    preset: str | Preset = "quick",
    budget: int | None = None,
    limit: int | None = None,
    systems: str | list[str] | tuple[str, ...] | None = None,
    teacher: str | None = None,
    teacher_prompt: str | Path | None = None,
    chunk: int | None = None,
    margin: float = MARGIN,
    store: RunStore | None = None,
    progress: EventFn | None = None,
) -> CompareOutcome:
    """The last look's comparison, with the looks and the decision under "sequential"."""
    task = task if isinstance(task, Task) else load_task(task)
    chosen = get_preset(preset).with_overrides(budget=budget, limit=limit, systems=systems)
    n_max = len(task.split("test"))
    n = min(n_max, chosen.test_limit or n_max)
    step = chunk or n
    looks: list[dict[str, Any]] = []
    spent = 0.0
    while True:
        outcome = run_compare(
            task,
            model=model,
            preset=chosen,
            limit=n,
            teacher=teacher,
            teacher_prompt=teacher_prompt,
            store=store,
            progress=progress,
        )
        pair = key_pair(outcome.comparison)
        if pair is None:
            return _with(
                outcome,
                looks,
                "undecided: the comparison has no prompt system and "
                "fine-tuned system that both ran",
                margin,
            )
        current = look(
            *_scores(outcome.comparison, pair), n_max=n_max, spent_before=spent, margin=margin
        )
        looks.append({"a": pair[0], "b": pair[1], "run_id": outcome.run_id, **asdict(current)})
        spent = current.spent
        if current.stop:
            return _with(outcome, looks, _words(current, pair, margin), margin)
        n = min(n_max, n + step)


def key_pair(comparison: dict[str, Any]) -> tuple[str, str] | None:
    """(best fine-tuned or combined system, best prompt system) by quality, among those that
    ran; the baseline counts as a prompt system only when no other one ran."""
    ok = [s for s in comparison["systems"] if s["status"] == "ok"]

    def best(systems: list[dict[str, Any]]) -> str | None:
        scored = [s for s in systems if s["quality"]["score"] is not None]
        return max(scored, key=lambda s: s["quality"]["score"])["id"] if scored else None

    prompts = [s for s in ok if s["approach"] == "prompt"]
    engineered = [s for s in prompts if s["id"] != comparison.get("baseline")]
    prompt = best(engineered) or best(prompts)
    tuned = best([s for s in ok if s["approach"] != "prompt"])
    return (tuned, prompt) if tuned and prompt else None


def _scores(comparison: dict[str, Any], pair: tuple[str, str]) -> tuple[list[float], list[float]]:
    rows = [it["outputs"] for it in comparison["items"]]
    both = [o for o in rows if pair[0] in o and pair[1] in o]
    return [o[pair[0]]["score"] for o in both], [o[pair[1]]["score"] for o in both]


def _words(current: Look, pair: tuple[str, str], margin: float) -> str:
    a, b = pair
    if current.decision == "different":
        better = a if current.diff > 0 else b
        return (
            f"decided after {current.n} rows: {better} is better ({100 * current.diff:+.1f} points)"
        )
    if current.decision == "equivalent":
        return (
            f"decided after {current.n} rows: {a} and {b} are within +-{100 * margin:g} points "
            "of each other"
        )
    return f"undecided: the test split ran out after {current.n} rows"


def _with(
    outcome: CompareOutcome, looks: list[dict[str, Any]], decision: str, margin: float
) -> CompareOutcome:
    outcome.comparison["sequential"] = {
        "method": "group-sequential paired test, Lan-DeMets O'Brien-Fleming-type alpha "
        "spending (alpha 0.05), equivalence by two one-sided tests",
        "margin": margin,
        "looks": looks,
        "decision": decision,
    }
    return outcome
