"""The run store: every run's config, outputs and metrics, indexed in SQLite (see runs.py)."""

from tailorlm.store.runs import (
    COMPLETE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    RunRecord,
    RunStore,
    RunWriter,
    canonical_json,
    config_hash,
)

__all__ = [
    "COMPLETE",
    "FAILED",
    "INTERRUPTED",
    "RUNNING",
    "RunRecord",
    "RunStore",
    "RunWriter",
    "canonical_json",
    "config_hash",
]
