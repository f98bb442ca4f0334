"""Running one call in several threads at once, for tests of concurrent identical work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(work: Callable[[], Any], n: int = 2, timeout_s: float = 60) -> tuple[list, list]:
    """(results, exceptions) of `work` run in `n` threads started together."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except Exception as exc:  # noqa: BLE001 - collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return results, errors
