"""Systems a task brings (systems.yaml) or the command brings (--teacher): checked like task
files, measured beside the built-in systems under every preset, keyed by their prompt's
content, and priced at their provider's API prices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tailorlm.compare import run_compare
from tailorlm.compare.systems.brought import teacher_entry
from tailorlm.errors import ConfigError
from tailorlm.report import build_report
from tailorlm.store import RunStore
from tailorlm.tasks import load_task, validate_task
from tailorlm.tasks.validate import check_systems

from .helpers import schema_and_demos_fake, tiny

BUILTIN = Path(load_task("sql-sales").root)
PROGRAM = {"name": "their-prompt", "system": "You write SQLite for the sales database."}


@pytest.fixture
def task_dir(tmp_path) -> Path:
    root = tmp_path / "sales"
    shutil.copytree(BUILTIN, root)
    return root


def _bring(root: Path, entries: str) -> None:
    (root / "systems.yaml").write_text(entries, encoding="utf-8")


def test_systems_yaml_problems_name_the_entry_and_field(task_dir):
    _bring(
        task_dir,
        "- id: Bad Id\n  model: openai:gpt-4o\n"
        "- id: ok\n  model: openai:gpt-4o\n  promt: p.yaml\n"
        "- id: ft\n  model: openai:ft:gpt-4o-mini:acme::x\n  prompt: missing.yaml\n",
    )
    _, errors = check_systems(task_dir)
    text = "\n".join(str(e) for e in errors)
    assert "systems.yaml: field '[0].id'" in text
    assert "field '[1].promt': unknown key" in text and "prompt" in text
    assert "field '[2].prompt': file not found: missing.yaml" in text
    report = validate_task(task_dir)
    assert any("systems.yaml" in str(e) for e in report.errors)
    with pytest.raises(ConfigError):
        load_task(task_dir).brought_systems()


def test_a_brought_system_runs_under_every_preset_and_keys_on_its_prompt(task_dir, tiny_model_dir):
    (task_dir / "theirs.json").write_text(json.dumps(PROGRAM), encoding="utf-8")
    _bring(
        task_dir,
        f"- id: their-model\n  label: Their model\n  model: {tiny_model_dir}\n"
        "  prompt: theirs.json\n  approach: finetune\n",
    )
    task = load_task(task_dir)
    preset = tiny(systems=("zero-shot",), max_new_tokens=4, latency_sample=1)
    fake = schema_and_demos_fake(task)
    first = run_compare(task, preset=preset, model=fake)
    by_id = {s["id"]: s for s in first.comparison["systems"]}
    theirs = by_id["their-model"]
    assert theirs["status"] == "ok" and theirs["label"] == "Their model"
    assert theirs["approach"] == "finetune" and theirs["setup"]["wall_s"] is None
    assert theirs["texts"]["effort"] == "made elsewhere (not measured here)"
    assert by_id["best-prompt"]["status"] == "skipped"  # the preset's choice still holds
    assert any(
        p["a"] == "their-model" and p["b"] == "zero-shot" for p in first.comparison["comparisons"]
    )
    record = first.run_dir.parent / first.run_id
    config = json.loads((record / "config.json").read_text())
    assert config["brought"][0]["id"] == "their-model" and len(config["brought"][0]["prompt"]) == 64
    # An edited prompt is another comparison; the same prompt reuses it.
    assert run_compare(task, preset=preset, model=fake).reused
    (task_dir / "theirs.json").write_text(json.dumps({**PROGRAM, "system": "Changed."}))
    assert not run_compare(load_task(task_dir), preset=preset, model=fake).reused


def test_a_teacher_is_a_brought_prompt_system(tmp_path):
    prompt = tmp_path / "teacher.json"
    prompt.write_text(json.dumps(PROGRAM))
    entry = teacher_entry("openai:gpt-4o@http://127.0.0.1:9/v1", prompt)
    assert entry.id == "teacher" and entry.approach == "prompt"
    assert entry.label == "Teacher (gpt-4o, prompted)" and Path(entry.prompt).is_absolute()
    with pytest.raises(ConfigError, match="--teacher-prompt"):
        run_compare("sql-sales", preset=tiny(), teacher="openai:gpt-4o", teacher_prompt="nope.json")


def test_a_system_served_by_an_api_is_priced_at_its_api_prices():
    fixture = Path(__file__).parents[1] / "report" / "comparison.json"
    data = json.loads(fixture.read_text(encoding="utf-8"))
    tuned = next(s for s in data["systems"] if s["id"] == "finetuned")
    tuned["api_model"] = "ft:gpt-4o-mini:acme::abc123"
    report = build_report(data)
    costs = report.costs["finetuned"]
    per = tuned["per_request"]
    ft_prices = (0.30, 1.20)  # prices.yaml: gpt-4o-mini fine-tuned at the provider
    expected = (per["prompt_tokens"] * ft_prices[0] + per["completion_tokens"] * ft_prices[1]) / 1e6
    assert costs["self-hosted"].per_request == pytest.approx(expected)
    assert "served by the provider's API" in costs["self-hosted"].note
    assert costs["api"].per_request == pytest.approx(expected)
    tuned["api_model"] = "some-unlisted-model"
    unlisted = build_report(data).costs["finetuned"]["self-hosted"]
    assert unlisted.per_request is None and "no price for some-unlisted-model" in unlisted.note


def test_the_student_learns_from_the_teachers_labels_not_the_gold(
    tmp_path, tiny_model_dir, monkeypatch
):
    from tailorlm.backends import FakeBackend
    from tests.server.helpers import build_app, live_server
    from tests.test_labelling import small_sales

    task = load_task(small_sales(tmp_path / "sales", train=30, test=10))
    gold = {ex.inputs["question"]: ex.output for ex in task.split("train")}

    def teacher(messages):  # right on train, and marks its answers so the student's rows show it
        asked = messages[-1]["content"]
        sql = next((sql for q, sql in gold.items() if q in asked), "SELECT 1")
        return f"SELECT * FROM ({sql.rstrip().rstrip(';')}) AS teacher"  # same result

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    app, _ = build_app(backend=FakeBackend(responder=teacher), model="gpt-4o-mini", api_key="k")
    preset = tiny(systems=("zero-shot",), max_new_tokens=4, latency_sample=1)
    with live_server(app) as url:
        outcome = run_compare(
            task, preset=preset, model=str(tiny_model_dir), teacher=f"openai:gpt-4o-mini@{url}"
        )
    c = outcome.comparison
    by_id = {s["id"]: s for s in c["systems"]}
    assert by_id["teacher"]["status"] == "ok", by_id["teacher"]["reason"]
    student = by_id["distilled"]
    assert student["status"] == "ok", student["reason"]
    assert student["builds_on"] == ["teacher"] and student["approach"] == "finetune"
    spent = student["setup"]["teacher"]
    assert spent["api_model"] == "gpt-4o-mini" and spent["prompt_tokens"] > 0
    assert any(p["a"] == "distilled" and p["b"] == "teacher" for p in c["comparisons"])
    # The student's training rows are the teacher's answers, never the train split's gold.
    store = RunStore()
    label_run = student["runs"]["label"]
    derived = load_task(store.root / ".derived" / label_run)
    rows = derived.split("train") + derived.split("dev")
    assert rows and all(ex.output.endswith(") AS teacher") for ex in rows)
    assert [ex.id for ex in derived.split("test")] == [ex.id for ex in task.split("test")]
    # The labelling is part of the student's setup cost; the teacher is priced at its API.
    report = build_report(c)
    with_labels = report.costs["distilled"]["self-hosted"].setup
    c_free = json.loads(json.dumps(c))
    next(s for s in c_free["systems"] if s["id"] == "distilled")["setup"]["teacher"] = None
    assert with_labels > build_report(c_free).costs["distilled"]["self-hosted"].setup
    assert "served by the provider's API" in report.costs["teacher"]["self-hosted"].note
