"""The comparison (L4): zero-shot, best hand-built prompt, optimized prompt, fine-tuned, and
fine-tuned + optimized prompt, measured side by side on one frozen test subset and stored as a
`compare` run holding `comparison.json` (docs/comparison-schema.md). Each compared system is a
registration (compare/registry.py, one module per system under compare/systems/).

    from tailorlm.compare import run_compare
    outcome = run_compare("sql-sales", preset="quick")
    outcome.comparison["systems"][0]["quality"]

Names load on first use, so the report can read the registry without the runner's imports."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PRESETS": "tailorlm.compare.presets",
    "Preset": "tailorlm.compare.presets",
    "get_preset": "tailorlm.compare.presets",
    "CompareOutcome": "tailorlm.compare.runner",
    "run_compare": "tailorlm.compare.runner",
    "SPECS": "tailorlm.compare.systems",
    "NotPossible": "tailorlm.compare.systems",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tailorlm.compare' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
