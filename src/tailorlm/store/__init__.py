"""The run store: every run's config, outputs and metrics, indexed in SQLite (see runs.py)."""

from tailorlm.store.runs import (
    CANCELLED,
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
    "CANCELLED",
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
