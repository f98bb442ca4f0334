"""The comparison report: pure rendering of a stored `comparison.json` plus the price file.

    report = build_report(comparison_dict)          # costs, break-even, criteria, advice
    rich.print(report.terminal())                   # the criteria table + the recommendation
    paths = write_reports(report, Path("out"))      # {'html': ..., 'md': ..., 'json': ...}
    report = load_report("20261125-1723")           # a compare run from the store, re-rendered

It never calls a model and never imports torch, so it re-renders instantly after a price edit.
"""

from tailorlm.costs import PriceTable
from tailorlm.report.build import Report, build_report
from tailorlm.report.io import (
    COMPARISON_FILE,
    FORMATS,
    evidence_for,
    find_compare_run,
    load_report,
    write_reports,
)

__all__ = [
    "COMPARISON_FILE",
    "FORMATS",
    "PriceTable",
    "Report",
    "build_report",
    "evidence_for",
    "find_compare_run",
    "load_report",
    "write_reports",
]
