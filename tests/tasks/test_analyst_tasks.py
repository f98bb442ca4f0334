"""The packaged analyst tasks: valid, reproducible from their generators, a test split that is
not a copy of train, gold answers that score 1, and `tailor eval` end to end with a fake model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tailorlm
from tailorlm.backends import FakeBackend
from tailorlm.experiments import run_eval
from tailorlm.metrics import get_metric
from tailorlm.tasks import load_task, validate_task

BUILTIN = Path(tailorlm.__file__).parent / "tasks/builtin"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TASKS = {
    # name: (generator, (min train, min dev, min test), families only in test)
    "ticket-triage": ("build_ticket_triage.py", (300, 80, 100), set()),
    "report-bullets": ("build_report_bullets.py", (300, 80, 100), set()),
    "explain-result": (
        "build_explain_result.py",
        (300, 80, 100),
        {"yoy_region", "distinct_customers"},
    ),
    "pandas-code": ("build_pandas_code.py", (300, 80, 100), {"pivot", "best_month", "order_value"}),
}


def rows(task: str, split: str) -> list[dict]:
    text = (BUILTIN / task / f"{split}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("name", list(TASKS))
def test_task_validates_with_expected_sizes(name):
    report = validate_task(name)
    assert report.ok and not report.warnings, report.errors
    minimum = dict(zip(("train", "dev", "test"), TASKS[name][1]))
    for split, n in minimum.items():
        assert n <= report.counts[split] <= 600
    assert report.overlap == {"train/test": 0, "dev/test": 0}


@pytest.mark.parametrize("name", list(TASKS))
def test_generator_reproduces_the_packaged_files(name, tmp_path):
    script = SCRIPTS / TASKS[name][0]
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True)
    for path in sorted((BUILTIN / name).iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("name", list(TASKS))
def test_test_split_holds_out_families_and_phrasings(name):
    test, train = rows(name, "test"), rows(name, "train") + rows(name, "dev")
    held = {r["meta"]["held_out"] for r in test}
    assert held - {"none"}, "every test split holds something out"
    families = {r["meta"].get("family") for r in test} - {r["meta"].get("family") for r in train}
    assert families == TASKS[name][2]
    train_outputs = {r["output"] for r in train}
    if name != "ticket-triage":  # triage answers are labels: they repeat by design
        assert not {r["output"] for r in test} & train_outputs


@pytest.mark.parametrize("name", ["ticket-triage", "report-bullets", "explain-result"])
def test_gold_answers_score_one(name):
    task = load_task(name)
    metric = get_metric(task.config.metric)
    for example in task.split("test")[:15] + task.split("train")[:5]:
        score = metric(example.output, example, task.resources())
        assert score.value == pytest.approx(1.0), (example.id, score.reason)


def test_pandas_gold_code_reproduces_its_stored_result():
    task = load_task("pandas-code")
    metric = get_metric("pandas_execution")
    by_family = {}
    for example in task.split("test"):
        by_family.setdefault(example.meta["family"], example)
    for example in list(by_family.values())[:4]:
        score = metric(example.output, example, task.resources())
        assert score.value == 1.0, (example.id, score.reason)


# ---------------------------------------------------------------------------- eval end to end


def _by_last_user(task, answer):
    def respond(messages):
        last = messages[-1]["content"]
        for ex in task.split("test"):
            if all(str(v) in last for v in ex.inputs.values()):
                return answer(ex)
        return ""

    return respond


@pytest.mark.parametrize(
    ("name", "strategy", "answer", "quality"),
    [
        ("ticket-triage", "zero-shot", lambda ex: ex.output.upper(), 1.0),
        ("ticket-triage", "role+format", lambda ex: "category: bug; priority: low", None),
        ("report-bullets", "format", lambda ex: "Summary:\n" + ex.output, 1.0),
        ("report-bullets", "zero-shot", lambda ex: ex.output.replace("\n- ", " "), 0.0),
        ("explain-result", "role+context+format", lambda ex: ex.output, 1.0),
        ("pandas-code", "format", lambda ex: f"```python\n{ex.output}\n```", 1.0),
    ],
)
def test_eval_end_to_end_with_a_fake_model(name, strategy, answer, quality):
    task = load_task(name)
    fake = FakeBackend(responder=_by_last_user(task, answer), name="fake")
    outcome = run_eval(task, model=fake, strategy=strategy, limit=2)
    assert outcome.summary.n == 2
    if quality is not None:
        assert outcome.summary.quality == pytest.approx(quality)
    else:
        assert 0.0 <= outcome.summary.quality < 1.0


def test_prompt_optimizer_finds_the_format_that_works_on_triage():
    from tailorlm.optimize import OptimizeSettings, optimize_prompt

    task = load_task("ticket-triage")
    gold = {ex.inputs["body"]: ex.output for s in ("dev", "test") for ex in task.split(s)}

    def respond(messages):
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        answer = next((g for body, g in gold.items() if body in messages[-1]["content"]), "")
        return answer if "priority: <high|low|medium>" in system else "I think it is a bug."

    settings = OptimizeSettings(
        budget=40, minibatch=4, bootstrap=0, similarity="lexical", select_rows=8
    )
    fake = FakeBackend(responder=respond)
    outcome = optimize_prompt(task, settings=settings, model=fake, test_limit=4)
    assert "priority: <high|low|medium>" in outcome.program.output_format
    assert outcome.test is not None and outcome.test.summary.quality == 1.0


@pytest.mark.parametrize("name", list(TASKS))
def test_finetune_runs_on_each_task_with_a_tiny_model(name, tiny_model_dir, monkeypatch):
    import torch

    from tailorlm.finetune import FinetuneConfig
    from tailorlm.training import run_finetune

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = FinetuneConfig(
            train_size=12, dev_limit=4, batch_size=4, max_steps=2, eval_every=2, save_every=2,
            metric_limit=2, max_length=1024,
        )  # fmt: skip
        outcome = run_finetune(name, model=str(tiny_model_dir), config=config)
    finally:
        torch.set_num_threads(before)
    from tailorlm.store import RunStore

    record = RunStore().get(outcome.run_id)
    assert record.is_complete and (record.dir / "adapter").is_dir()
