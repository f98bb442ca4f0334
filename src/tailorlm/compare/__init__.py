"""The comparison (L4): zero-shot, best hand-built prompt, optimized prompt, fine-tuned, and
fine-tuned + optimized prompt, measured side by side on one frozen test subset and stored as a
`compare` run holding `comparison.json` (docs/comparison-schema.md).

    from tailorlm.compare import run_compare
    outcome = run_compare("sql-sales", preset="quick")
    outcome.comparison["systems"][0]["quality"]
"""

from tailorlm.compare.presets import PRESETS, Preset, get_preset
from tailorlm.compare.runner import CompareOutcome, run_compare
from tailorlm.compare.systems import SPECS, NotPossible

__all__ = [
    "PRESETS",
    "SPECS",
    "CompareOutcome",
    "NotPossible",
    "Preset",
    "get_preset",
    "run_compare",
]
