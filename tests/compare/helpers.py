"""Small presets and a fake model for the comparison tests."""

from __future__ import annotations

from dataclasses import replace

from tailorlm.backends import FakeBackend
from tailorlm.compare.presets import PRESETS, Preset
from tailorlm.finetune import FinetuneConfig
from tailorlm.optimize import OptimizeSettings
from tailorlm.tasks import Task

SEARCH = OptimizeSettings(
    budget=12, minibatch=2, bootstrap=0, proposals=0, similarity="lexical", select_rows=4
)

# Lexical k-NN: the embedding model would cost seconds per test for no extra coverage.
TINY = replace(
    PRESETS["quick"],
    name="tiny",
    test_limit=6,
    max_new_tokens=None,  # the fake model counts words; real-model tests lower it
    optimize=SEARCH,
    optimize_finetuned=replace(SEARCH, budget=8),
    finetune=FinetuneConfig(
        train_size=24,
        dev_limit=8,
        batch_size=4,
        max_steps=4,
        eval_every=2,
        save_every=2,
        metric_limit=0,
    ),
    latency_sample=2,
    best_prompt="role+context+format+few-shot:similarity=lexical",
    systems=None,  # every registered system (quick leaves the optimized prompt to standard)
)


def tiny(**changes) -> Preset:
    return replace(TINY, **changes)


def schema_and_demos_fake(task: Task) -> FakeBackend:
    """Right only with the schema and demos in the prompt; SQL that runs but is wrong with the
    schema alone; prose otherwise."""
    gold = {
        ex.inputs["question"]: ex.output for s in ("train", "dev", "test") for ex in task.split(s)
    }

    def respond(messages):
        question = messages[-1]["content"].removeprefix("Write one SQLite query that answers: ")
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        if "Database schema" in system and len(messages) > 3:
            return f"{gold.get(question, 'SELECT 1')};"
        return "SELECT name FROM products" if "Database schema" in system else "I think so."

    return FakeBackend(responder=respond)
