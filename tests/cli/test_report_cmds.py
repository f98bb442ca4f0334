from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tailorlm.cli.app import app
from tailorlm.store import RunStore
from tests.report.conftest import FIXTURE

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def compare_run() -> str:
    comparison = json.loads(FIXTURE.read_text())
    writer = RunStore().start(
        "compare",
        name="quick",
        task="sql-sales",
        model="smollm2-135m",
        config={"preset": "quick"},
        data_hash="d",
    )
    with writer:
        writer.write_json("comparison.json", comparison)
    return writer.id


def test_report_rerenders_from_the_store(compare_run):
    result = invoke("report", compare_run[:20])
    assert result.exit_code == 0, result.output
    assert "Break-even volume" in result.output and "Recommendation: fine-tuning" in result.output
    folder = RunStore().get(compare_run).dir
    assert {"report.html", "report.json", "report.md"} <= {p.name for p in folder.iterdir()}


def test_report_chosen_formats_and_prices(compare_run, tmp_path):
    prices = tmp_path / "p.yaml"
    prices.write_text("hardware: {cpu: 4.0}\n")
    out = tmp_path / "out"
    result = invoke(
        "report", compare_run, "--md", "--json", "--out", str(out), "--prices", str(prices)
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
    assert json.loads((out / "report.json").read_text())["prices"]["hardware"]["cpu"] == 4.0


def test_report_errors_are_one_line(compare_run, tmp_path):
    result = invoke("report", "nope")
    assert result.exit_code == 1 and "No run 'nope'" in result.output
    bad = tmp_path / "p.yaml"
    bad.write_text("hardwre: {}\n")
    result = invoke("report", compare_run, "--prices", str(bad))
    assert result.exit_code == 1 and "field 'hardwre'" in result.output
    assert "Traceback" not in result.output


def test_report_refuses_other_run_kinds():
    writer = RunStore().start("eval", name="x", task="t", model="m", config={}, data_hash="d")
    with writer:
        pass
    result = invoke("report", writer.id)
    assert result.exit_code == 1 and "not a comparison" in result.output


def test_advise_from_flags_without_a_comparison():
    result = invoke("advise", "--api-only", "--requests-per-day", "100000")
    assert result.exit_code == 0, result.output
    assert "Recommendation: prompt engineering" in result.output
    assert "only an API" in result.output and "tailor compare" in result.output


def test_advise_uses_the_task_comparison_and_says_measurements_win(compare_run):
    result = invoke(
        "advise", "--task", "sql-sales", "--requests-per-day", "20", "--changes", "daily", "--json"
    )
    assert result.exit_code == 0, result.output
    advice = json.loads(result.output)
    assert advice["answer"] == "finetune" and advice["contradicted"]
    assert any(compare_run in line for line in advice["evidence"])
    assert any("measurements win" in r for r in advice["reasons"])


def test_advise_without_comparison_for_task_says_so():
    result = invoke("advise", "--task", "ticket-triage", "--examples", "20")
    assert result.exit_code == 0
    assert "No comparison run for task 'ticket-triage'" in result.output


def test_advise_interactive_asks_for_what_is_missing():
    answers = "\n".join(["y", "many", "2000", "60000", "", "", "rarely", "y"]) + "\n"
    result = invoke("advise", "--interactive", "--json", input=answers)
    assert result.exit_code == 0, result.output
    assert "try again" in result.output  # "many" is not a number
    advice = json.loads(result.output[result.output.index("{") :])
    assert advice["answer"] == "finetune"


def test_advise_rejects_bad_change_frequency():
    result = invoke("advise", "--changes", "hourly")
    assert result.exit_code == 1 and "--changes 'hourly'" in result.output


def test_advise_holds_a_comparison_to_its_stored_bar(compare_run):
    store = RunStore()
    path = store.get(compare_run).dir / "comparison.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "target": 0.99}))
    held = json.loads(invoke("advise", "--run", compare_run, "--json").output)
    assert held["answer"] == "none"  # nothing reaches 99%: no method recommended
    free = json.loads(invoke("advise", "--run", compare_run, "--target", "0.1", "--json").output)
    assert free["answer"] != "none"
