"""Latency reads the same in every view (fmt.latency): one request timed is one measurement,
with no p50 / p95 wording; a larger sample shows both percentiles and its size."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from tailorlm.report import build_report, write_reports
from tailorlm.report.fmt import latency

ONE = "1.21 s (1 request)"  # the fine-tuned system's p50 in the fixture
EIGHT = "p50 1.21 s / p95 1.63 s (8 requests)"


@pytest.mark.parametrize(
    ("p50", "p95", "n", "shown"),
    [
        (1.21, 1.21, 1, "1.21 s (1 request)"),
        (1.21, None, 1, "1.21 s (1 request)"),
        (1.21, 1.63, 8, "p50 1.21 s / p95 1.63 s (8 requests)"),
        (1.21, 1.63, None, "p50 1.21 s / p95 1.63 s"),  # a run from before the count was kept
        (1.21, None, 8, "p50 1.21 s / p95 ? (8 requests)"),
        (41.234, 57.9, 16, "p50 41.2 s / p95 57.9 s (16 requests)"),
        (None, None, None, "—"),
    ],
)
def test_latency_format(p50, p95, n, shown):
    assert latency(p50, p95, n) == shown


def timed(comparison: dict, n: int) -> dict:
    for s in comparison["systems"]:
        if s["status"] == "ok":
            s["per_request"]["latency_n"] = n
    return comparison


def views(comparison: dict, tmp_path) -> dict[str, str]:
    report = build_report(comparison)
    console = Console(width=400, record=True, color_system=None)
    console.print(report.terminal())
    narrow = Console(width=80, record=True, color_system=None)
    narrow.print(report.terminal())
    paths = write_reports(report, tmp_path)
    cells = json.loads(paths["json"].read_text())["criteria"]
    return {
        "criteria": next(r for r in report.criteria() if r.name.startswith("Latency")).cells[
            "finetuned"
        ],
        "terminal": console.export_text(),
        "cards": narrow.export_text(),
        "markdown": paths["md"].read_text(),
        "html": paths["html"].read_text(),
        "json": next(r for r in cells if r["name"].startswith("Latency"))["cells"]["finetuned"],
    }


def test_one_request_is_one_measurement_in_every_view(comparison, tmp_path):
    for name, text in views(timed(comparison, 1), tmp_path).items():
        flat = " ".join(text.split())  # the narrow cards wrap long cells
        assert ONE in flat, name
        assert "p50" not in text and "p95" not in text, name


def test_a_sample_shows_p50_p95_and_its_size_in_every_view(comparison, tmp_path):
    for name, text in views(timed(comparison, 8), tmp_path).items():
        assert EIGHT in text, name
        assert "(1 request)" not in text, name


def test_criteria_cell_keeps_the_batched_throughput_line(comparison):
    row = next(r for r in build_report(timed(comparison, 1)).criteria() if "Latency" in r.name)
    assert row.cells["finetuned"] == f"{ONE}\n2.38 req/s batched"
    assert row.winners == {"finetuned"}
