"""The report's data as one JSON-ready dict: the comparison as stored plus everything derived
from it (costs per scenario, break-even volumes, the criteria table, the recommendation)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from tailorlm.report.criteria import criteria_rows

if TYPE_CHECKING:  # renderers read a Report; build.py imports them, not the reverse
    from tailorlm.report.build import Report

EXPORT_SCHEMA = 1


def _costs(report: Report) -> dict[str, Any]:
    return {
        sid: {
            sc: {
                "setup": c.setup,
                "per_request": c.per_request,
                "per_1000": c.per_1000,
                "note": c.note,
            }
            for sc, c in by_scenario.items()
        }
        for sid, by_scenario in report.costs.items()
    }


def _break_evens(report: Report) -> dict[str, Any]:
    return {
        sid: {sc: {"volume": be.volume, "reason": be.reason} for sc, be in table.items()}
        for sid, table in report.break_evens.items()
    }


def _criteria(report: Report) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "cells": r.cells, "winners": sorted(r.winners), "measured": r.measured}
        for r in criteria_rows(report)
    ]


def report_dict(report: Report) -> dict[str, Any]:
    advice = dataclasses.asdict(report.advice)
    advice["headline"] = report.advice.headline
    return {
        "report_schema": EXPORT_SCHEMA,
        "comparison": report.raw,
        "prices": {"sources": list(report.prices.sources), **report.prices.prices.model_dump()},
        "scenario": report.scenario,
        "prompt_reference": report.prompt_ref,
        "costs": _costs(report),
        "break_even": _break_evens(report),
        "criteria": _criteria(report),
        "evidence": dataclasses.asdict(report.evidence),
        "recommendation": advice,
    }
