"""Render the HTML report in a real headless Chromium: the charts draw and no JS error occurs.

Needs the Debian package `chromium`; when it is missing the test installs it (as root) or skips.
The screenshot is kept as a test artifact: its path is printed (run pytest with -s to see it),
and it is copied to $TAILOR_TEST_ARTIFACTS when that is set (CI uploads that folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tailorlm.report import build_report, write_reports
from tests.report.conftest import body_of as _body
from tests.report.conftest import browser as _browser


@pytest.fixture
def page(comparison, tmp_path) -> Path:
    return write_reports(build_report(comparison), tmp_path / "report", ["html"])["html"]


def test_charts_draw_without_errors(chromium, page, tmp_path):
    result = _browser(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    body = _body(result.stdout)
    assert body.get("data-ready") == "1", result.stderr[-2000:]
    assert body["data-errors"] == "0", body.get("data-error-messages")
    assert body["data-charts"] == body["data-charts-expected"] == "4"
    assert body["data-items-shown"] == "20"
    assert result.stdout.count("<circle") >= 4 + 4  # scatter points, curve points


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


def test_screenshot_artifact(chromium, page, tmp_path_factory):
    shot = tmp_path_factory.mktemp("artifacts") / "report.png"
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
