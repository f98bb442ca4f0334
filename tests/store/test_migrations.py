from __future__ import annotations

import sqlite3

import pytest

from tailorlm.store import RunStore, db


def migrations_table(store: RunStore) -> list[tuple[str, str]]:
    with sqlite3.connect(store.db_path) as conn:
        return conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()


def columns(store: RunStore, table: str) -> list[str]:
    with sqlite3.connect(store.db_path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_fresh_store_applies_every_migration_in_order():
    store = RunStore()
    assert [name for name, _ in migrations_table(store)] == [f.__name__ for f in db.MIGRATIONS]
    assert "summary_json" in columns(store, "runs") and "parent_id" in columns(store, "runs")


def test_reopening_is_idempotent():
    first = migrations_table(RunStore())
    assert migrations_table(RunStore()) == first


def test_index_uses_wal_so_processes_can_share_it():
    store = RunStore()
    with db.connect(store.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_appended_migration_is_applied_once(monkeypatch):
    store = RunStore()
    calls = []

    def m999_add_notes(conn):
        calls.append(1)
        conn.execute("ALTER TABLE runs ADD COLUMN notes TEXT")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, m999_add_notes])
    RunStore(store.root)
    RunStore(store.root)
    assert calls == [1]
    assert migrations_table(store)[-1][0] == "m999_add_notes"
    assert "notes" in columns(store, "runs")
    run = store.start("eval", name="n", task="t", model="m", config={}, data_hash="d")
    assert store.get(run.complete().id).status == "complete"  # records ignore unknown columns


def test_failed_migration_leaves_no_trace(monkeypatch):
    store = RunStore()

    def m999_broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("bug in migration")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, m999_broken])
    with pytest.raises(RuntimeError):
        RunStore(store.root)
    assert "m999_broken" not in [name for name, _ in migrations_table(store)]
    with sqlite3.connect(store.db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


def test_migrate_reports_what_it_applied(tmp_path):
    conn = db.connect(tmp_path / "index.sqlite")
    assert db.migrate(conn) == [f.__name__ for f in db.MIGRATIONS]
    assert db.migrate(conn) == []
    conn.close()
