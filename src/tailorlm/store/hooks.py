"""What runs when a stored run completes: callbacks that a higher layer registers (e.g.
`tailorlm.tracking`, which logs each finished run to MLflow when the user opts in), so the
store can tell them without importing them.

A callback that raises is logged as a warning and the run stays complete: following a run is
never a reason for the run to fail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # runs.py imports this module to call `completed`
    from tailorlm.store.runs import RunRecord

log = logging.getLogger(__name__)
OnComplete = Callable[["RunRecord"], None]
_on_complete: dict[str, OnComplete] = {}


def on_complete(name: str, callback: OnComplete) -> None:
    """Call `callback(record)` after each run completes; a second one of the same name
    replaces the first (so registering at every command start is safe)."""
    _on_complete[name] = callback


def remove(name: str) -> None:
    _on_complete.pop(name, None)


def registered() -> tuple[str, ...]:
    return tuple(_on_complete)


def completed(record: RunRecord) -> None:
    """Tell every callback that `record` just completed (RunWriter.complete calls this)."""
    for name, callback in list(_on_complete.items()):
        try:
            callback(record)
        except Exception as exc:  # a follower's failure must not fail the run
            log.warning("%s could not follow run %s: %s", name, record.id, exc)
