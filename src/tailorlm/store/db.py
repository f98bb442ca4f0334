"""SQLite connection and schema migrations for the run store index.

Schema changes are a list of small functions applied in order and recorded by name in
`_migrations`, as in simonw/llm: never edit a shipped migration, append a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

# Long enough to wait out another process's write (a training rank finishing a run while
# the server lists runs); writes here are tiny so real waits are milliseconds.
BUSY_TIMEOUT_S = 30.0


def connect(path: Path) -> sqlite3.Connection:
    """Open the index in autocommit mode; callers group writes with `transaction()`."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


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
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
