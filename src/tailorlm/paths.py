"""The user's home folder for tailorlm state (model cache, run store).

Like simonw/llm's LLM_USER_PATH: one folder, relocatable by an environment variable, which tests
point at a temp dir.

A home on a read-only or full disk is a setting to fix, not a bug: `NotWritable` says which
folder and what to do, and reading commands can go on without writing anything."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tailorlm.errors import StoreError

HOME_ENV = "TAILOR_HOME"
# The converted-model cache can live apart from the run store (tests share one across a session).
MODEL_CACHE_ENV = "TAILOR_MODEL_CACHE"

READ_ONLY, FULL, FAILING = "read-only", "full", "failing"
# What an OSError from a write says about the disk. EACCES/EPERM: read-only to this user.
WRITE_ERRNOS = {
    errno.EROFS: READ_ONLY,
    errno.EACCES: READ_ONLY,
    errno.EPERM: READ_ONLY,
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
}


class NotWritable(StoreError):
    """A folder tailor writes to is on a read-only, full or failing disk."""

    def __init__(self, path: Path | str, problem: str) -> None:
        label, env = _where(Path(path))
        place = f"point {env} at" if env else "use"
        fixes = {
            READ_ONLY: f"{label} is read-only: {place} a writable folder",
            FULL: f"{label} is on a full disk: free some space, or {place} a folder on another "
            "disk",
            FAILING: f"{label}: disk I/O error writing {path}: check the disk's free space, "
            f"or {place} a folder on another disk",
        }
        hint = None
        if problem == READ_ONLY and env == HOME_ENV:
            hint = "`tailor runs`, `tailor show` and `tailor report RUN --out FOLDER` still read it"
        super().__init__(fixes[problem], hint=hint)
        self.path, self.problem = Path(path), problem


def _where(path: Path) -> tuple[str, str | None]:
    """How to name the folder `path` lies in, and the setting that moves it."""
    settings = [(HOME_ENV, home_path())]
    if os.environ.get(MODEL_CACHE_ENV):
        settings.insert(0, (MODEL_CACHE_ENV, Path(os.environ[MODEL_CACHE_ENV]).expanduser()))
    for env, folder in settings:
        if path == folder or folder in path.parents:
            return f"{env} {folder}", env
    return str(path if path.is_dir() else path.parent), None


def home_path() -> Path:
    """Where the home is, whether or not it exists yet."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".tailor"


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turns an OSError that says the disk under `path` can't be written into NotWritable."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise NotWritable(path, WRITE_ERRNOS[exc.errno]) from exc


def disk_error(exc: OSError) -> NotWritable | None:
    """NotWritable for an OSError that can only come from writing (a read-only or full disk),
    wherever it was raised; None for any other error."""
    if exc.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    return NotWritable(exc.filename or home_path(), WRITE_ERRNOS[exc.errno])


def make_dir(path: Path) -> Path:
    # An existing folder needs no mkdir, which keeps reads off a read-only disk entirely.
    if not path.is_dir():
        with writing(path):
            path.mkdir(parents=True, exist_ok=True)
    return path


def home(*, create: bool = True) -> Path:
    path = home_path()
    return make_dir(path) if create else path


def model_cache_dir(*, create: bool = True) -> Path:
    env = os.environ.get(MODEL_CACHE_ENV)
    path = Path(env).expanduser() if env else home_path() / "models"
    return make_dir(path) if create else path


def runs_dir(*, create: bool = True) -> Path:
    path = home_path() / "runs"
    return make_dir(path) if create else path
