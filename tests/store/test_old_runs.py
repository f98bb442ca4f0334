"""Run folders written by the code before the stored-step service, the ModelSpec and the system
registrations (commit 0b9a974: an eval and a prompt-only compare with a FakeBackend, made by
running that commit's code) still load, render and are reused by the same steps today."""

from __future__ import annotations

import shutil
from pathlib import Path

from tailorlm.backends import FakeBackend
from tailorlm.compare import run_compare
from tailorlm.experiments import run_eval
from tailorlm.report import build_report
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tests.compare.helpers import TINY, schema_and_demos_fake

OLD_RUNS = Path(__file__).parent / "fixtures" / "runs-0b9a974"


def _old_store(home: Path) -> RunStore:
    shutil.copytree(OLD_RUNS, home / "runs")
    return RunStore()


def test_old_runs_are_listed_and_their_comparison_renders(_tailor_home):
    store = _old_store(_tailor_home)
    runs = store.list()
    assert len(runs) == 7 and all(r.is_complete for r in runs)
    compare = store.list(kind="compare")[0]
    report = build_report(compare.read_json("comparison.json"))
    assert report.criteria()  # texts and builds_on were not stored then: the registry fills in


def test_the_same_steps_today_reuse_the_old_runs(_tailor_home):
    store = _old_store(_tailor_home)
    task = load_task("sql-sales")
    fake = FakeBackend(default="SELECT 1")
    again = run_eval(task, model=fake, strategy="schema-role", limit=3)
    assert again.reused and again.run_id == store.list(kind="eval")[-1].id
    assert fake.calls == []


def test_a_compare_today_reuses_every_old_step_whose_rule_did_not_change(_tailor_home):
    """The evaluations and latency probes of the prompt systems are reused as they are. The
    prompt search is not: since then a search chooses its winner on at least `select_rows`
    dev rows (and the preset names its systems), a change of what is measured."""
    store = _old_store(_tailor_home)
    old = {r.id for r in store.list()}
    task = load_task("sql-sales")
    compared = run_compare(task, preset=TINY, model=schema_and_demos_fake(task))
    assert not compared.reused
    systems = {s["id"]: s for s in compared.comparison["systems"]}
    for sid in ("zero-shot", "best-prompt"):
        assert systems[sid]["reused"] and systems[sid]["runs"]["eval"] in old
        assert systems[sid]["runs"]["latency"] in old
    new = [r for r in store.list() if r.id not in old]
    assert {r.kind for r in new} <= {"optimize", "eval", "latency", "compare"}
    assert systems["optimized-prompt"]["runs"]["setup"] not in old  # searched anew
