"""Task context for prompts: the schema of a SQLite database, compact or as CREATE statements."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=32)
def sqlite_schema(db_path: str, style: str = "compact") -> str:
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        if style == "create":
            return "\n".join(f"{sql};" for _, sql in rows)
        return "\n".join(_compact_table(conn, name) for name, _ in rows)
    finally:
        conn.close()


def _compact_table(conn: sqlite3.Connection, table: str) -> str:
    cols = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    fks = {row[3]: f"{row[2]}.{row[4]}" for row in conn.execute(f'PRAGMA foreign_key_list("{table}")')}
    parts = []
    for _, name, col_type, _, _, pk in cols:
        extra = " PK" if pk else (f" -> {fks[name]}" if name in fks else "")
        parts.append(f"{name} {col_type.lower()}{extra}".strip())
    return f"{table}({', '.join(parts)})"
