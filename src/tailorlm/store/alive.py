"""Which runs are still being written: a run's process holds a lock on its work folder's
ALIVE_FILE while it writes, and the OS drops that lock when the process dies, however it dies
(SIGKILL, out of memory, a power cut), so a killed run can be told from a live one."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tailorlm.errors import StoreError
from tailorlm.paths import writing

ALIVE_FILE = ".alive.lock"
_WAIT_S = 2.0  # how long a taker waits for a check that holds the lock a moment


def hold(folder: Path, run_id: str) -> int:
    """Take the lock of the run writing into `folder`; its descriptor, for `release`.
    StoreError if a live process still writes this run."""
    with writing(folder / ALIVE_FILE):
        fd = os.open(folder / ALIVE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + _WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise StoreError(
                    f"Run '{run_id}' is being written by another process",
                    hint="wait for it to finish, or stop that process first",
                ) from None
            time.sleep(0.05)


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


@contextmanager
def abandoned(folder: Path) -> Iterator[bool]:
    """Whether no process holds the lock of the run in `folder`, holding it for the block if
    so. A run without the file (its folder gone, or written before the lock existed) can't be
    told: False."""
    try:
        fd = os.open(folder / ALIVE_FILE, os.O_RDWR)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
