"""`--until-decided`: more test rows chunk by chunk until the key pair is decided; each longer
evaluation starts from the rows already stored."""

from __future__ import annotations

from tailorlm.compare import sequential
from tailorlm.compare.sequential import run_until_decided
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tests.compare.helpers import TINY, schema_and_demos_fake


def test_looks_until_the_pair_differs_and_no_row_is_generated_twice(monkeypatch):
    # The fake cannot be fine-tuned: test the loop on the prompt pair it separates.
    monkeypatch.setattr(sequential, "key_pair", lambda c: ("best-prompt", "zero-shot"))
    task = load_task("sql-sales")
    fake = schema_and_demos_fake(task)
    outcome = run_until_decided(task, model=fake, preset=TINY, limit=6, chunk=6)
    seq = outcome.comparison["sequential"]
    assert [lk["n"] for lk in seq["looks"]] == [6, 12]
    assert [lk["decision"] for lk in seq["looks"]] == ["continue", "different"]
    assert "best-prompt is better" in seq["decision"] and "Lan-DeMets" in seq["method"]
    assert outcome.comparison["n_examples"] == 12
    evals = RunStore().list(kind="eval")
    longer = [r for r in evals if r.load_config()["limit"] == 12]
    assert longer and all(r.summary.get("seeded_from") for r in longer)
    # zero-shot's requests: 6 rows at the first look, 6 more at the second, none twice (besides
    # the latency probe's one-at-a-time requests, measured once and reused).
    zero_shot = [c for c in fake.calls if len(c) == 1]
    asked = [c[-1]["content"] for c in zero_shot]
    test_questions = {ex.inputs["question"] for ex in task.split("test")[:12]}
    asked_test = [q for q in asked if q in test_questions]
    assert len(set(asked_test)) == 12 and len(asked_test) == 12 + TINY.latency_sample


def test_without_a_fine_tuned_system_it_stops_undecided():
    task = load_task("sql-sales")
    outcome = run_until_decided(task, model=schema_and_demos_fake(task), preset=TINY, limit=4)
    assert outcome.comparison["sequential"]["decision"].startswith("undecided")
