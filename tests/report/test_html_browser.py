"""Render the HTML report in a real headless Chromium: the charts draw, no JS error occurs and no
two chart labels overlap.

Needs the Debian package `chromium`; when it is missing the test installs it (as root) or skips.
The screenshots (the fixture's page and one with points close together) are kept as test
artifacts: their paths are printed (run pytest with -s to see them), and they are copied to
$TAILOR_TEST_ARTIFACTS when that is set (CI uploads that folder).
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

from tailorlm.report import build_report, write_reports
from tests.report.conftest import body_of as _body
from tests.report.conftest import browser as _browser
from tests.report.conftest import system


def close_points(comparison: dict) -> dict:
    """The fixture with two pairs of points close together: the combined system ran and sits on
    the plain fine-tune (so their break-even points meet too), and the optimized prompt has the
    best hand-built one's quality at a fifth less cost, its point a little less than a label's
    width away."""
    c = copy.deepcopy(comparison)
    tuned, both = system(c, "finetuned"), system(c, "finetuned-optimized")
    for key in ("quality", "setup", "per_request", "artifacts", "change"):
        both[key] = copy.deepcopy(tuned[key])
    both.update(status="ok", reason=None)
    both["quality"]["score"] += 0.01
    both["per_request"]["throughput_rps"] *= 1.02
    for item in c["items"]:
        item["outputs"]["finetuned-optimized"] = copy.deepcopy(item["outputs"]["finetuned"])
    hand, optimized = system(c, "best-prompt"), system(c, "optimized-prompt")
    per = hand["per_request"]
    optimized["per_request"] = {
        **per,
        "prompt_tokens": 0.8 * per["prompt_tokens"],
        "throughput_rps": per["throughput_rps"] / 0.8,
    }
    optimized["quality"]["score"] = hand["quality"]["score"] + 0.01
    return c


def _page(comparison: dict, folder: Path) -> Path:
    return write_reports(build_report(comparison), folder, ["html"])["html"]


@pytest.fixture
def page(comparison, tmp_path) -> Path:
    return _page(comparison, tmp_path / "report")


@pytest.fixture
def close_page(comparison, tmp_path) -> Path:
    return _page(close_points(comparison), tmp_path / "close")


def test_charts_draw_without_errors(chromium, page, tmp_path):
    result = _browser(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    body = _body(result.stdout)
    assert body.get("data-ready") == "1", result.stderr[-2000:]
    assert body["data-errors"] == "0", body.get("data-error-messages")
    assert body["data-charts"] == body["data-charts-expected"] == "4"
    assert body["data-items-shown"] == "20"
    assert result.stdout.count("<circle") >= 4 + 4  # scatter points, curve points
    assert body["data-label-overlaps"] == body["data-labels-outside"] == "0"


@pytest.mark.parametrize("scenario", ["self-hosted", "api", "api-cached"])
def test_labels_of_close_points_do_not_overlap(chromium, close_page, tmp_path, scenario):
    """The page counts, after layout, the pairs of label boxes that intersect in each chart
    and the labels that leave the plot; the old placement overlapped the close pairs' labels."""
    uri = f"{close_page.as_uri()}#scenario={scenario}"
    result = _browser(chromium, tmp_path / "profile", "--dump-dom", uri)
    body = _body(result.stdout)
    assert body.get("data-ready") == "1", result.stderr[-2000:]
    assert body["data-errors"] == "0", body.get("data-error-messages")
    assert body["data-charts"] == "4"
    assert result.stdout.count('class="label"') >= 5 + 1  # five systems, the best-prompt line
    assert body["data-label-overlaps"] == "0"
    assert body["data-labels-outside"] == "0"


def test_disagreement_filter(chromium, comparison, page, tmp_path):
    ids = [s["id"] for s in comparison["systems"] if s["status"] == "ok"]
    split = [
        it
        for it in comparison["items"]
        if len({it["outputs"][i]["pass"] for i in ids if i in it["outputs"]}) > 1
    ]
    uri = page.as_uri() + "#filter=disagree&scenario=api"
    body = _body(_browser(chromium, tmp_path / "profile", "--dump-dom", uri).stdout)
    assert body["data-errors"] == "0", body.get("data-error-messages")
    assert 0 < int(body["data-items-shown"]) == len(split) < len(comparison["items"])
    assert body["data-charts"] == "4"


@pytest.mark.parametrize("which", ["report", "report-close-points"])
def test_screenshot_artifact(chromium, comparison, tmp_path_factory, which):
    variant = close_points(comparison) if which == "report-close-points" else comparison
    page = _page(variant, tmp_path_factory.mktemp("report"))
    shot = tmp_path_factory.mktemp("artifacts") / f"{which}.png"
    profile = tmp_path_factory.mktemp("profile")
    args = ("--hide-scrollbars", "--window-size=1400,2600", f"--screenshot={shot}")
    result = _browser(chromium, profile, *args, page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("TAILOR_TEST_ARTIFACTS"):
        dest = Path(os.environ["TAILOR_TEST_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / shot.name)
    print(f"\nHTML report screenshot: {shot}")
