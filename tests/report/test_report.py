from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from tailorlm.costs import API, API_CACHED, SELF_HOSTED, PriceTable
from tailorlm.errors import StoreError
from tailorlm.report import build_report, write_reports
from tailorlm.report.html import chart_data
from tests.report.conftest import not_possible, system

CRITERIA = [
    "Quality (95% CI, significance)",
    "Model access needed",
    "Technical effort",
    "Setup time & compute",
    "Time to implement",
    "Tokens per request",
    "Latency per request",
    "Cost per 1,000 requests",
    "Break-even volume",
    "Personalization",
    "Fitting use case",
    "Maintenance: artifacts & change cost",
    "Reuse for repetitive work",
]


def text_of(renderable) -> str:
    console = Console(width=220, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_criteria_table_one_row_per_criterion_one_cell_per_system(comparison):
    report = build_report(comparison)
    rows = report.criteria()
    assert [r.name for r in rows] == CRITERIA
    ids = [s["id"] for s in comparison["systems"]]
    for row in rows:
        assert list(row.cells) == ids
        assert row.winners <= {"zero-shot", "best-prompt", "optimized-prompt", "finetuned"}


def test_measured_values_and_winners(comparison):
    rows = {r.name: r for r in build_report(comparison).criteria()}
    quality = rows["Quality (95% CI, significance)"]
    assert quality.winners == {"finetuned"}
    assert quality.cells["finetuned"].startswith("80.0% [60.0%–95.0%] · 16/20")
    assert "+70.0 pts vs Zero-shot, p=0.0005 ✓" in quality.cells["finetuned"]
    # the paired test against the best prompt is computed from the items (none was stored)
    assert "vs Optimized prompt" in quality.cells["finetuned"]
    assert quality.cells["finetuned-optimized"].startswith("not possible: the quick preset")
    assert rows["Latency per request"].winners == {"finetuned"}
    assert rows["Tokens per request"].cells["best-prompt"] == "1,184 in + 45 out"
    assert rows["Cost per 1,000 requests"].winners == {"finetuned"}
    assert rows["Break-even volume"].cells["optimized-prompt"] == "reference (best prompt)"
    assert "requests (self-hosted)" in rows["Break-even volume"].cells["finetuned"]
    assert "adapter 3.5 MB" in rows["Maintenance: artifacts & change cost"].cells["finetuned"]
    for row in rows.values():
        if row.name != CRITERIA[0]:
            assert row.cells["finetuned-optimized"] == "—"


def test_costs_and_break_even_follow_the_measurements(comparison):
    report = build_report(comparison)
    assert report.prompt_ref == "optimized-prompt" and report.scenario == SELF_HOSTED
    prices = PriceTable.load()
    ft = report.cost("finetuned")
    # 2.38 requests/s on a CPU at the default $/h
    assert ft.per_request == pytest.approx(prices.hourly("cpu") / 3600 / 2.38)
    be = report.break_evens["finetuned"][SELF_HOSTED]
    ref = report.cost("optimized-prompt")
    assert ref.total(be.volume) == pytest.approx(ft.total(be.volume))
    # the optimized prompt's 1,345-token prefix is long enough to be cached by the provider
    assert report.cost("optimized-prompt", API_CACHED).per_request < ref_api(report)
    assert set(report.break_evens["finetuned"]) == {SELF_HOSTED, API, API_CACHED}


def ref_api(report):
    return report.cost("optimized-prompt", API).per_request


def test_prices_change_the_numbers_without_rerunning(comparison, tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("hardware: {cpu: 10.0}\n")
    cheap, dear = build_report(comparison), build_report(comparison, PriceTable.load(path))
    assert dear.cost("finetuned").per_request == pytest.approx(
        100 * cheap.cost("finetuned").per_request
    )
    assert str(path) in dear.to_dict()["prices"]["sources"]


def test_recommendation_cites_the_evidence(comparison):
    report = build_report(comparison)
    assert report.advice.answer == "finetune" and report.advice.basis == "measurements"
    text = "\n".join(report.advice.evidence)
    assert comparison["run_id"] in text and "Optimized prompt: quality 45.0%" in text
    assert "break-even (self-hosted)" in text


def test_terminal_renders_table_then_recommendation(comparison):
    out = text_of(build_report(comparison).terminal())
    for name in ("Quality (95% CI", "Break-even volume", "Reuse for repetitive work"):
        assert name in out
    assert "★ 80.0%" in out
    assert out.index("Reuse for repetitive work") < out.index("Recommendation: fine-tuning")


def test_api_only_model_both_finetunes_not_possible(comparison):
    for sid in ("finetuned", "finetuned-optimized"):
        not_possible(comparison, sid, "gpt-4o-mini is an API-only model")
    comparison["learning_curve"], comparison["loss_curve"] = [], None
    report = build_report(comparison)
    assert report.break_evens == {} and report.advice.answer == "prompt"
    assert "fine-tuning could not be measured" in report.advice.reasons[0]
    assert "not possible: gpt-4o-mini" in report.criteria()[0].cells["finetuned"]
    assert "<html" in report.html() and report.markdown().count("not possible: gpt-4o-mini") == 2


def test_combined_system_wins_when_it_ran(comparison):
    combo = system(comparison, "finetuned-optimized")
    tuned = system(comparison, "finetuned")
    combo.update({k: v for k, v in tuned.items() if k not in ("id", "label", "approach")})
    combo["quality"] = {"score": 0.9, "ci": [0.75, 1.0], "n": 20, "passed": 18}
    for item in comparison["items"]:
        item["outputs"]["finetuned-optimized"] = dict(item["outputs"]["finetuned"], score=1.0)
        item["outputs"]["finetuned-optimized"]["pass"] = True
    report = build_report(comparison)
    assert report.advice.answer == "both"  # 20/20 vs 16/20: significant
    assert "finetuned-optimized" in report.break_evens


def test_combined_system_must_be_significantly_better_than_the_plain_fine_tune(comparison):
    combo, tuned = system(comparison, "finetuned-optimized"), system(comparison, "finetuned")
    combo.update({k: v for k, v in tuned.items() if k not in ("id", "label", "approach")})
    combo["quality"] = {"score": 0.85, "ci": [0.65, 1.0], "n": 20, "passed": 17}
    flipped = False
    for item in comparison["items"]:
        out = dict(item["outputs"]["finetuned"])
        if not out["pass"] and not flipped:
            out.update({"pass": True, "score": 1.0}, reason=None)
            flipped = True
        item["outputs"]["finetuned-optimized"] = out
    report = build_report(comparison)
    assert report.evidence.finetune.system == "finetuned"
    assert report.advice.answer == "finetune"


def test_bad_comparison_names_the_field(comparison):
    comparison["systems"][1]["approach"] = "magic"
    with pytest.raises(StoreError, match=r"systems\.1\.approach"):
        build_report(comparison)


def test_write_reports_all_formats(comparison, tmp_path):
    report = build_report(comparison)
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"html", "md", "json"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.html",
        "report.json",
        "report.md",
    ]  # no temp files left behind
    exported = json.loads(paths["json"].read_text())
    assert exported["comparison"] == comparison
    assert [c["name"] for c in exported["criteria"]] == CRITERIA
    assert exported["recommendation"]["answer"] == "finetune"
    md = paths["md"].read_text()
    assert "| criterion | Zero-shot |" in md and "**★ 80.0%" in md
    assert "## Learning curve" in md and "| 581 | 80.0% |" in md
    assert "## Examples the systems disagree on" in md


def test_write_reports_some_formats(comparison, tmp_path):
    paths = write_reports(build_report(comparison), tmp_path, ["md"])
    assert list(paths) == ["md"]
    with pytest.raises(StoreError):
        write_reports(build_report(comparison), tmp_path, ["pdf"])


def test_html_is_self_contained(comparison):
    page = build_report(comparison).html()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "cdn" not in page.lower()
    assert 'data-charts-expected="4"' in page
    for svg in ("chart-scatter", "chart-volume", "chart-learning", "chart-loss"):
        assert f'id="{svg}"' in page


def test_html_escapes_untrusted_text(comparison):
    comparison["items"][0]["input"] = "</script><script>alert(1)</script>"
    comparison["systems"][0]["label"] = "<b>zero</b>"
    page = build_report(comparison).html()
    assert "</script><script>alert(1)" not in page
    assert "&lt;b&gt;zero&lt;/b&gt;" in page
    data = chart_data(build_report(comparison))
    assert data["items"][0]["input"].startswith("</script>")  # intact once parsed


def test_api_model_comparison_is_priced_at_that_models_api_prices(comparison):
    comparison["model"] = "openai:gpt-4.1-mini@http://localhost:8000/v1"
    for sid in ("finetuned", "finetuned-optimized"):
        not_possible(comparison, sid, "an API-only model")
    report = build_report(comparison)
    assert report.scenario == API and report.prices.api_model == "gpt-4.1-mini"
    assert report.cost("best-prompt", SELF_HOSTED).per_request is None
    api = report.prices.api()
    expected = (1184.5 * api.input + 44.9 * api.output) / 1e6
    assert report.cost("best-prompt").per_request == pytest.approx(expected)
    assert report.criteria()[7].winners == {"zero-shot"}


def test_narrow_terminal_gets_one_card_per_system(comparison):
    report = build_report(comparison)
    console = Console(width=80, record=True, color_system=None)
    console.print(report.terminal())
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80
    for s in report.comparison.systems:
        assert s.label in out
    assert out.count("Reuse for repetitive work") == len(report.comparison.systems)
    assert "★ 80.0%" in out and "Recommendation: fine-tuning" in out
