"""Each analyst task evaluated end to end with the real packaged SmolLM2-135M (4 examples)."""

from __future__ import annotations

import pytest

from tailorlm.backends import load_backend
from tailorlm.experiments import run_eval
from tailorlm.store import RunStore
from tailorlm.types import GenerationOptions

pytestmark = pytest.mark.slow

# (task, strategy, max new tokens): the task's engineered prompt, short generations.
CASES = [
    ("ticket-triage", "schema-role", 16),
    ("report-bullets", "schema-role", 72),
    ("explain-result", "schema-role", 64),
    ("pandas-code", "schema-role", 64),
]


@pytest.fixture(scope="module")
def backend():
    return load_backend("smollm2-135m")


@pytest.mark.parametrize(("task", "strategy", "tokens"), CASES)
def test_default_model_end_to_end(backend, task, strategy, tokens):
    options = GenerationOptions(max_new_tokens=tokens, batch_size=4, seed=0)
    outcome = run_eval(task, strategy=strategy, limit=4, options=options, model=backend)
    assert outcome.summary.n == 4 and 0.0 <= outcome.summary.quality <= 1.0
    rows = RunStore().get(outcome.run_id).read_jsonl("examples.jsonl")
    assert len(rows) == 4 and all(r["output"].strip() for r in rows)
    assert all(r["score"] == 1.0 or r["reason"] for r in rows)  # every miss says why
