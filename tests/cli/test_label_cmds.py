"""`tailor data label` end to end, with `tailor serve` (a FakeBackend behind it) as the
teacher's API: nothing leaves the machine."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tailorlm.backends import FakeBackend
from tailorlm.cli.app import app
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tests.server.helpers import build_app, live_server
from tests.test_labelling import COUNT, gold_responder, small_sales

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def sales(tmp_path):
    return small_sales(tmp_path / "sales", train=30, test=20)


@pytest.fixture
def teacher(sales):
    """A served `gpt-4o-mini` (so it is priced) that knows the gold answers of `sales`."""
    backend = FakeBackend(responder=gold_responder(load_task(sales)))
    app_, _ = build_app(backend=backend, model="gpt-4o-mini", api_key="k")
    with live_server(app_) as url:
        yield f"openai:gpt-4o-mini@{url}", backend


def label(teacher_spec, *args):
    return invoke("data", "label", "--teacher", teacher_spec, "--api-key", "k", *args)


def test_label_a_tasks_inputs_into_a_valid_task(sales, teacher, tmp_path):
    spec, backend = teacher
    out = tmp_path / "labelled"
    result = label(spec, "--from-task", sales, "--task", out, "-s", "schema-role")
    assert result.exit_code == 0, result.output
    assert "estimate: 30 inputs x 1 vote(s)" in result.output  # an API teacher: priced first
    assert "at gpt-4o-mini list prices" in result.output
    assert "kept 30 of 30 answers; dropped: none" in result.output
    assert "cost: $0.0" in result.output
    assert f"wrote 30 labelled rows to {out}/" in result.output
    validated = invoke("data", "validate", out)
    assert validated.exit_code == 0, validated.output
    assert "valid" in validated.output
    rows = load_task(out).split("train") + load_task(out).split("dev")
    assert rows[0].meta["labelling"]["teacher"] == spec and len(rows) == 30
    again = label(spec, "--from-task", sales, "--task", out, "-s", "schema-role")
    assert again.exit_code == 0 and "(reused)" in again.output, again.output
    assert "nothing new" in again.output and "nothing new" not in result.output
    assert len(backend.calls) == 30  # the second command asked the teacher nothing


def test_dry_run_prints_the_estimate_and_asks_nothing(sales, teacher, tmp_path):
    spec, backend = teacher
    args = ["--from-task", sales, "--task", tmp_path / "o", "-s", "schema-role"]
    result = label(spec, *args, "--dry-run", "--votes", "3")
    assert result.exit_code == 0, result.output
    assert "estimate: 30 inputs x 3 vote(s)" in result.output and "$" in result.output
    assert backend.calls == [] and not (tmp_path / "o").exists()
    assert RunStore().list(kind="label") == []


def test_mostly_unusable_answers_stop_before_writing(sales, tmp_path):
    answers = FakeBackend(answers={"Electronics": COUNT}, default="Sorry, I can't help.")
    app_, _ = build_app(backend=answers, model="m")
    with live_server(app_) as url:
        args = ["--from-task", sales, "--task", tmp_path / "o", "-s", "schema-role"]
        result = label(f"openai:m@{url}", *args)
    assert result.exit_code == 1
    assert "Error: only " in result.output and "fewer than --min-kept 20" in result.output
    assert "syntax/runtime error" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_a_wrong_key_is_one_line_and_leaves_a_resumable_run(sales, teacher, tmp_path):
    spec, _ = teacher
    result = invoke("data", "label", "--teacher", spec, "--api-key", "nope", "--from-task", sales,
                    "--task", tmp_path / "o", "-s", "schema-role")  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "HTTP 401" in result.output and "the same command resumes" in result.output
    assert "Hint: set OPENAI_API_KEY" in result.output
    assert [r.status for r in RunStore().list(kind="label")] == ["failed"]
    assert not (tmp_path / "o").exists()


def test_label_files_into_a_new_classification_task(tmp_path):
    rows = ["I was charged twice", "The app crashes on start", "Please add dark mode"] * 9
    lines = [f"{i},{text} (#{i})" for i, text in enumerate(rows)]
    (tmp_path / "tickets.csv").write_text("id,text\n" + "\n".join(lines) + "\n", "utf-8")
    answers = {"charged": "billing", "crashes": "Bug.", "dark mode": "feature_request"}
    app_, _ = build_app(backend=FakeBackend(answers), model="m")
    out = tmp_path / "tickets"
    args = [tmp_path / "tickets.csv", "--task", out, "--type", "classification", "--input",
            "text", "--labels", "billing,bug,feature_request", "--similarity", "1"]  # fmt: skip
    with live_server(app_) as url:
        refused = label(f"openai:m@{url}", *args)
        assert refused.exit_code == 1 and "no test split" in refused.output
        result = label(f"openai:m@{url}", *args, "--test", "0.2")
    assert result.exit_code == 0, result.output
    assert "kept 27 of 27 answers" in result.output and "cost: not priced" in result.output
    task = load_task(out)
    assert task.config.labels == ["billing", "bug", "feature_request"]
    assert {ex.output for ex in task.split("train")} <= {"billing", "bug", "feature_request"}
    assert invoke("data", "validate", out).exit_code == 0
