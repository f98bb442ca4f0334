"""The report renders what `tailor compare` really writes (a fake model, seconds), not only the
hand-written fixture."""

from __future__ import annotations

import pytest

from tailorlm.report import load_report, write_reports
from tests.report.conftest import body_of, browser

compare = pytest.importorskip("tailorlm.compare")


@pytest.fixture(scope="module")
def api_only_run(tmp_path_factory):
    """One comparison for the module, in its own TAILOR_HOME (the per-test one comes later)."""
    from tailorlm.tasks import load_task
    from tests.compare.helpers import TINY, schema_and_demos_fake

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_HOME", str(tmp_path_factory.mktemp("home")))
        task = load_task("sql-sales")
        fake = schema_and_demos_fake(task)
        fake.spec = "openai:gpt-4o-mini"  # stands in for an API model: priced as one
        outcome = compare.run_compare(task, preset=TINY, model=fake)
        yield outcome.run_id, load_report(outcome.run_id)


def test_report_of_a_real_comparison(api_only_run, tmp_path):
    run_id, report = api_only_run
    assert report.comparison.run_id == run_id
    assert report.advice.answer == "prompt"
    assert "API-only" in report.advice.reasons[0]
    rows = report.criteria()
    assert rows[0].cells["finetuned"].startswith("not possible:")
    paths = write_reports(report, tmp_path)
    assert paths["html"].stat().st_size > 5000


def test_real_comparison_in_the_browser(api_only_run, chromium, tmp_path):
    _, report = api_only_run
    page = write_reports(report, tmp_path, ["html"])["html"]
    body = body_of(browser(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout)
    assert body["data-errors"] == "0", body.get("data-error-messages")
    # no fine-tune: cost charts only; the curves say why they are empty
    assert body["data-charts"] == body["data-charts-expected"] == "2"
