"""What synth-sql needs to know about a user's SQLite database: tables, column roles (measure,
category, date, label), foreign keys and real values sampled from the data, plus the English
names questions use for them. The database is opened read-only; it is never changed."""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.errors import DataError
from tailorlm.tasks.loader import display_path

MAX_CATEGORIES = 25  # more distinct values than this and a text column is not a category
SAMPLE_VALUES = 8  # values sampled per column for filters
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LABEL_NAMES = ("name", "title", "label", "full_name", "description")
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = {"order", "group", "select", "from", "where", "table", "index", "key", "values"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "measure" (number), "category" (few text values), "date", "label", "key", "text"
    values: tuple[Any, ...]  # real values sampled from the data (categories, labels, years)


@dataclass(frozen=True)
class Table:
    name: str
    pk: str | None
    columns: tuple[Column, ...]
    rows: int

    def of_kind(self, kind: str) -> list[Column]:
        return [c for c in self.columns if c.kind == kind]

    @property
    def label(self) -> Column | None:
        labels = self.of_kind("label")
        return labels[0] if labels else None


@dataclass(frozen=True)
class ForeignKey:
    child: str
    child_col: str
    parent: str
    parent_col: str


@dataclass(frozen=True)
class Schema:
    tables: dict[str, Table]
    fks: tuple[ForeignKey, ...]


def connect_readonly(db: Path) -> sqlite3.Connection:
    """A read-only connection, or DataError for a missing, non-SQLite or locked file."""
    if not db.is_file():
        raise DataError("database file not found", path=display_path(db))
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise database_error(db, exc) from None
    return conn


def database_error(db: Path, exc: sqlite3.Error) -> DataError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another program holds a write lock on it: close it, or copy the file and retry"
        return DataError("database is locked", path=display_path(db), hint=hint)
    if "not a database" in text or "malformed" in text:
        hint = "synth-sql reads SQLite database files (.sqlite, .db)"
        return DataError(f"not a SQLite database ({text})", path=display_path(db), hint=hint)
    return DataError(f"cannot read the database: {text}", path=display_path(db))


def read_schema(db: Path, seed: int = 0) -> Schema:
    conn = connect_readonly(db)
    rng = random.Random(seed)
    try:
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        names = [r[0] for r in conn.execute(sql)]
        tables = {n: _table(conn, n, rng) for n in names}
        fks = tuple(fk for n in names for fk in _foreign_keys(conn, n, tables))
    except sqlite3.Error as exc:
        raise database_error(db, exc) from None
    finally:
        conn.close()
    if not any(t.rows for t in tables.values()):
        raise DataError("the database has no tables with rows", path=display_path(db))
    return Schema(tables, fks)


def _table(conn: sqlite3.Connection, name: str, rng: random.Random) -> Table:
    info = conn.execute(f"PRAGMA table_info({q(name)})").fetchall()
    fk_cols = {r[3] for r in conn.execute(f"PRAGMA foreign_key_list({q(name)})")}
    pk = next((r[1] for r in info if r[5] == 1), None)
    rows = conn.execute(f"SELECT COUNT(*) FROM {q(name)}").fetchone()[0]
    columns = [_column(conn, name, r[1], r[2], r[1] == pk or r[1] in fk_cols, rng) for r in info]
    labels = [c for c in columns if c.kind == "label"]
    named = [c for c in labels if c.name.lower() in _LABEL_NAMES]
    # One label per table: the column a person would call the row by.
    keep = (named or labels)[:1]
    columns = [c if c.kind != "label" or c in keep else Column(c.name, "text", ()) for c in columns]
    return Table(name, pk, tuple(columns), rows)


def _column(
    conn: sqlite3.Connection, table: str, name: str, decl: str, key: bool, rng: random.Random
) -> Column:
    if key or name.lower() == "id" or name.lower().endswith("_id"):
        return Column(name, "key", ())
    sql = f"SELECT DISTINCT {q(name)} FROM {q(table)} WHERE {q(name)} IS NOT NULL LIMIT 200"
    sample = [r[0] for r in conn.execute(sql)]
    if not sample:
        return Column(name, "text", ())
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sample):
        return Column(name, "measure", ())
    texts = [v for v in sample if isinstance(v, str)]
    if len(texts) < len(sample):
        return Column(name, "text", ())
    if all(_DATE.match(v) for v in texts):
        years = sorted({v[:4] for v in texts})
        return Column(name, "date", tuple(years))
    picked = tuple(rng.sample(texts, min(SAMPLE_VALUES, len(texts))))
    if len(texts) <= MAX_CATEGORIES and len(texts) < 200 and _repeats(conn, table, name):
        return Column(name, "category", picked)
    return Column(name, "label", picked)


def _repeats(conn: sqlite3.Connection, table: str, name: str) -> bool:
    # A category's values repeat across rows; a name column's values mostly do not.
    total, distinct = conn.execute(
        f"SELECT COUNT({q(name)}), COUNT(DISTINCT {q(name)}) FROM {q(table)}"
    ).fetchone()
    return bool(distinct) and total >= 2 * distinct


def _foreign_keys(
    conn: sqlite3.Connection, table: str, tables: dict[str, Table]
) -> list[ForeignKey]:
    out = []
    for row in conn.execute(f"PRAGMA foreign_key_list({q(table)})"):
        parent, child_col, parent_col = row[2], row[3], row[4]
        if parent_col is None and parent in tables:
            parent_col = tables[parent].pk  # `REFERENCES parent` alone means its primary key
        if parent in tables and parent_col is not None:
            out.append(ForeignKey(table, child_col, parent, parent_col))
    return out


# ---------------------------------------------------------------------------- SQL and English


def q(name: str) -> str:
    """An identifier as SQLite needs it: bare when simple, double-quoted otherwise."""
    if _SIMPLE.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def words(name: str) -> str:
    """`order_items` -> `order items`, `unitPrice` -> `unit price`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return " ".join(spaced.lower().split())


def singular(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "ches", "shes", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return f"{head} {last}".strip()


def plural(phrase: str) -> str:
    one = singular(phrase)
    head, _, last = one.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}".strip()
