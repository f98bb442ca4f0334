"""SQLite connection and schema migrations for the run store index.

Schema changes are a list of small functions applied in order and recorded by name in
`_migrations`, as in simonw/llm: never edit a shipped migration, append a new one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from tailorlm.paths import FAILING, FULL, READ_ONLY, NotWritable

# Long enough to wait out another process's write (a training rank finishing a run while
# the server lists runs); writes here are tiny so real waits are milliseconds.
BUSY_TIMEOUT_S = 30.0


# SQLite's primary result codes (the low byte of `sqlite_errorcode`), and the messages it
# gives them, for errors raised without a code.
_DISK_ERRORS = {
    8: (READ_ONLY, "attempt to write a readonly database"),
    10: (FAILING, "disk i/o error"),
    13: (FULL, "database or disk is full"),
}
SQLITE_CANTOPEN = 14


def connect(path: Path) -> sqlite3.Connection:
    """Open the index in autocommit mode; callers group writes with `transaction()`."""
    with disk_errors(path):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open the index for reading only, creating nothing (a read-only or full disk).

    A WAL database opens read-only only while its -wal and -shm files exist; once the last
    writer closes, they are gone and the main file holds every row, which `immutable=1` reads
    without them. With a -wal file left, immutable would miss the rows in it, so not then."""
    uri = f"file:{quote(str(path))}?mode=ro"
    with disk_errors(path):
        try:
            return _probed(uri)
        except sqlite3.OperationalError:
            if Path(f"{path}-wal").exists():
                raise
        return _probed(f"{uri}&immutable=1")


def _probed(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("SELECT count(*) FROM sqlite_master")  # a missing -shm shows only here
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """Turns SQLite's "readonly database", "disk I/O error" and "disk is full" about the
    database at `path` into NotWritable, which names the folder and the fix."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        problem = _disk_problem(path, exc)
        if problem is None:
            raise
        raise NotWritable(path, problem) from exc


def _disk_problem(path: Path, exc: sqlite3.OperationalError) -> str | None:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == SQLITE_CANTOPEN or "unable to open database file" in str(exc):
        # Also a missing folder or a bad path; it's the disk only where the folder is read-only.
        return READ_ONLY if path.parent.is_dir() and not os.access(path.parent, os.W_OK) else None
    for known, (problem, message) in _DISK_ERRORS.items():
        if code == known or message in str(exc).lower():
            return problem
    return None


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL lets readers proceed while another process writes; the setting sticks to the file.
    Switching a new file to WAL needs it alone, and SQLite answers "database is locked" at once
    (no busy wait) when another process opens the same new file at that moment: two training
    ranks starting together did, now and then. So retry until the busy timeout, and skip the
    switch once the file is in WAL."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # IMMEDIATE takes the write lock up front, so two processes can't both read "not yet
    # applied" and then both apply the same change.
    with disk_errors(_file_of(conn)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # SQLite has already rolled back after a full disk or an I/O error; a second
            # ROLLBACK would fail and hide the error that matters.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _file_of(conn: sqlite3.Connection) -> Path:
    return Path(conn.execute("PRAGMA database_list").fetchone()[2])


def m001_runs(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT,
            task TEXT,
            model TEXT,
            status TEXT NOT NULL,
            config_hash TEXT,
            data_hash TEXT,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            summary_json TEXT,
            path TEXT,
            parent_id TEXT
        )
        """
    )


def m002_runs_lookup_indexes(conn: sqlite3.Connection) -> None:
    # find_reusable/resume_candidates look runs up by hashes; list() sorts by time.
    conn.execute("CREATE INDEX runs_by_hashes ON runs (kind, config_hash, data_hash, status)")
    conn.execute("CREATE INDEX runs_by_created ON runs (created_at)")


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = [m001_runs, m002_runs_lookup_indexes]


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()
    return [row["name"] for row in rows]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied this time."""
    applied_now = []
    with transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = set(applied_migrations(conn))
        for fn in MIGRATIONS:  # read at call time so tests can swap the list
            if fn.__name__ in done:
                continue
            fn(conn)
            now = datetime.now(timezone.utc).isoformat()
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (fn.__name__, now))
            applied_now.append(fn.__name__)
    return applied_now
