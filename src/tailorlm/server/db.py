"""SQLite persistence of uploaded files, fine-tuning jobs, their events and checkpoints
(`<home>/jobs.sqlite`), so jobs survive a server restart. Schema changes are appended
migrations, as in the run store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tailorlm.store.db import connect, transaction


def m001_files_jobs(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE files (id TEXT PRIMARY KEY, filename TEXT, bytes INTEGER, created_at "
        "INTEGER, purpose TEXT, status TEXT, path TEXT, examples INTEGER, tokens INTEGER)"
    )
    conn.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, created_at INTEGER, model TEXT, base TEXT, "
        "training_file TEXT, validation_file TEXT, suffix TEXT, seed INTEGER, "
        "hyperparameters_json TEXT, method_json TEXT, metadata_json TEXT, status TEXT, "
        "fine_tuned_model TEXT, finished_at INTEGER, trained_tokens INTEGER, error_json TEXT, "
        "run_id TEXT, cancel_requested INTEGER DEFAULT 0)"
    )
    conn.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, job_id TEXT, created_at INTEGER, "
        "level TEXT, message TEXT, type TEXT, data_json TEXT)"
    )
    conn.execute(
        "CREATE TABLE checkpoints (id TEXT PRIMARY KEY, job_id TEXT, created_at INTEGER, "
        "step_number INTEGER, metrics_json TEXT, fine_tuned_model_checkpoint TEXT)"
    )
    conn.execute("CREATE INDEX events_by_job ON events (job_id)")


MIGRATIONS = [m001_files_jobs]


class JobsDB:
    """Short-lived connections per call: the API threads and the training worker share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as conn, transaction(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            done = {r["name"] for r in conn.execute("SELECT name FROM _migrations")}
            for fn in MIGRATIONS:
                if fn.__name__ not in done:
                    fn(conn)
                    conn.execute(
                        "INSERT INTO _migrations VALUES (?, ?)", (fn.__name__, str(time.time()))
                    )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def insert(self, table: str, row: dict[str, Any]) -> None:
        cols = ",".join(row)
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(row))})",
                [_cell(v) for v in row.values()],
            )

    def update(self, table: str, ident: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as conn:
            conn.execute(
                f"UPDATE {table} SET {sets} WHERE id = ?",
                [*(_cell(v) for v in values.values()), ident],
            )

    def get(self, table: str, ident: str) -> dict[str, Any] | None:
        rows = self.select(table, "id = ?", [ident])
        return rows[0] if rows else None

    def select(
        self, table: str, where: str = "", params: Sequence[Any] = (), order: str = "rowid"
    ) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "") + f" ORDER BY {order}"
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(sql, list(params)).fetchall()]

    def page(
        self, table: str, after: str | None, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; `after` is the id of the last row of the previous page."""
        clauses, args = ([where] if where else []), list(params)
        if after:
            clauses.append(f"rowid < (SELECT rowid FROM {table} WHERE id = ?)")
            args.append(after)
        sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        with self._connect() as conn:
            rows = conn.execute(f"{sql} ORDER BY rowid DESC LIMIT ?", [*args, limit + 1])
            found = [dict(r) for r in rows.fetchall()]
        return found[:limit], len(found) > limit

    def delete(self, table: str, ident: str) -> None:
        with self._connect() as conn:
            conn.execute(f"DELETE FROM {table} WHERE id = ?", [ident])


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None
