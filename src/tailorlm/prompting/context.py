"""Task context for prompts: the schema of a SQLite database, compact or as CREATE statements,
optionally with foreign keys and a few sample rows per table."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path

_MAX_CELL = 40  # characters; a sample row shows the shape of values, not whole documents


@lru_cache(maxsize=64)
def sqlite_schema(db_path: str, style: str = "compact", rows: int = 0, fks: bool = True) -> str:
    """`compact`: one `table(col type PK, col type -> other.col)` line per table; `create`: the
    CREATE statements. `rows` > 0 appends that many sample rows per table."""
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        blocks = []
        for name, sql in tables:
            block = f"{sql};" if style == "create" else _compact_table(conn, name, fks)
            if rows > 0:
                block += "\n" + _sample_rows(conn, name, rows)
            blocks.append(block)
        return "\n".join(blocks)
    finally:
        conn.close()


def _compact_table(conn: sqlite3.Connection, table: str, fks: bool = True) -> str:
    cols = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    links = conn.execute(f'PRAGMA foreign_key_list("{table}")') if fks else []
    targets = {row[3]: f"{row[2]}.{row[4]}" for row in links}
    parts = []
    for _, name, col_type, _, _, pk in cols:
        extra = " PK" if pk else (f" -> {targets[name]}" if name in targets else "")
        parts.append(f"{name} {col_type.lower()}{extra}".strip())
    return f"{table}({', '.join(parts)})"


def _sample_rows(conn: sqlite3.Connection, table: str, n: int) -> str:
    # rowid order: deterministic, and the first rows of a table are what a person would look at.
    found = conn.execute(f'SELECT * FROM "{table}" LIMIT ?', (n,)).fetchall()
    shown = "\n".join("  " + ", ".join(_cell(v) for v in row) for row in found)
    return (
        f"-- {len(found)} sample row(s) of {table}:\n{shown}" if found else f"-- {table} is empty"
    )


def _cell(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."
