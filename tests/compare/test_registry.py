"""Compared systems are registrations: a new one is a module that registers a SystemSpec; the
runner, comparison.json, the report and the advisor pick it up from there."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tailorlm.compare import registry, run_compare
from tailorlm.compare.registry import APPROACH_TEXTS, SystemSpec, register_system, registered
from tailorlm.compare.systems import SPECS
from tailorlm.compare.systems.base import prompt_system
from tailorlm.report import build_report
from tailorlm.report.criteria import criteria_rows
from tailorlm.tasks import load_task
from tests.compare.helpers import TINY, schema_and_demos_fake


def test_the_built_in_systems_are_registered_in_table_order():
    assert [s.id for s in SPECS] == [
        "zero-shot",
        "best-prompt",
        "optimized-prompt",
        "finetuned",
        "finetuned-optimized",
        "prompted-finetune",
        "prompted-finetune-optimized",
    ]
    assert {s.approach for s in SPECS} == {"prompt", "finetune", "both"}
    assert dict((s.id, s.builds_on) for s in SPECS)["finetuned-optimized"] == ("finetuned",)


@pytest.fixture
def extra_systems(monkeypatch):
    monkeypatch.setattr(registry, "_SYSTEMS", dict(registry._SYSTEMS))

    def build(ctx):
        run = prompt_system(ctx, "role-only", ctx.base, strategy="role+format")
        return replace(run, description="a role and a format, no schema")

    register_system(
        SystemSpec(
            "role-only",
            "Role only",
            "prompt",
            "a role and a format",
            build,
            order=25,
            builds_on=("best-prompt",),
            texts=replace(APPROACH_TEXTS["prompt"], effort="write two sentences"),
        )
    )
    register_system(
        SystemSpec(
            "on-the-finetune", "On the fine-tune", "both", "x", build, builds_on=("finetuned",)
        )
    )


def test_a_registered_system_runs_is_stored_and_reported(extra_systems):
    task = load_task("sql-sales")
    outcome = run_compare(task, preset=TINY, model=schema_and_demos_fake(task))
    systems = {s["id"]: s for s in outcome.comparison["systems"]}
    assert [s["id"] for s in outcome.comparison["systems"]] == [s.id for s in registered()]
    role = systems["role-only"]
    assert role["status"] == "ok" and role["builds_on"] == ["best-prompt"]
    assert role["texts"]["effort"] == "write two sentences"
    # A system whose base did not run keeps its row, with the reason.
    waiting = systems["on-the-finetune"]
    assert (
        waiting["status"] == "not_possible" and "needs the fine-tuned (lora)" in waiting["reason"]
    )
    # Each system is tested against what it builds on.
    assert ("role-only", "best-prompt") in {
        (c["a"], c["b"]) for c in outcome.comparison["comparisons"]
    }
    report = build_report(outcome.comparison)
    effort = next(r for r in criteria_rows(report) if r.name == "Technical effort")
    assert effort.cells["role-only"] == "write two sentences"
