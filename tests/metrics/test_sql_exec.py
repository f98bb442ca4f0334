from __future__ import annotations

import hashlib
import pickle
import resource
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tailorlm.errors import MetricError
from tailorlm.metrics import get_metric, resolve_db, sql_exec
from tailorlm.metrics.sql_exec import (
    SqlResult,
    is_ordered,
    run_sql,
    split_statements,
    sql_execution,
)
from tailorlm.types import Example


@pytest.fixture
def db(tmp_path: Path) -> Path:
    # A space in the folder name checks that the read-only URI is quoted properly.
    path = tmp_path / "my dbs" / "shop.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, price REAL, qty INTEGER);
        INSERT INTO t VALUES (1, 'apple', 0.5, 10), (2, 'pear', 0.75, 3),
                             (3, 'fig', 2.0, 7), (4, 'kiwi', 0.5, 3);
        """
    )
    conn.commit()
    conn.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


HOSTILE = [
    ("DROP TABLE t", "denied: schema change"),
    ("INSERT INTO t VALUES (9, 'x', 1.0, 1)", "denied: INSERT"),
    ("UPDATE t SET price = 0", "denied: UPDATE"),
    ("DELETE FROM t", "denied: DELETE"),
    ("WITH x AS (SELECT 1) DELETE FROM t", "denied: DELETE"),
    ("ATTACH DATABASE '{tmp}/evil.db' AS evil", "denied: ATTACH"),
    ("VACUUM INTO '{tmp}/copy.db'", "denied: ATTACH"),
    ("PRAGMA writable_schema=1", "denied: PRAGMA"),
    ("CREATE TABLE u (x)", "denied: schema change"),
    ("CREATE VIEW v AS SELECT 1", "denied: schema change"),
    ("CREATE TEMP TABLE u (x)", "denied: schema change"),
    ("BEGIN", "denied: TRANSACTION"),
    ("SELECT load_extension('evil')", "denied: FUNCTION"),
    ("SELECT 1; DROP TABLE t", "multiple statements"),
    ("SELECT 1; SELECT 2;", "multiple statements"),
]


@pytest.mark.parametrize(("sql", "expected"), HOSTILE)
def test_hostile_sql_is_refused_and_db_unchanged(db: Path, tmp_path: Path, sql, expected):
    before = _digest(db)
    result = run_sql(db, sql.format(tmp=tmp_path))
    assert result.rows is None
    assert result.error is not None and result.error.startswith(expected)
    assert _digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["shop.sqlite"]  # no journal/wal left
    assert not (tmp_path / "evil.db").exists() and not (tmp_path / "copy.db").exists()


def test_runaway_recursive_cte_is_stopped_by_timeout(db: Path):
    runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
    start = time.monotonic()
    result = run_sql(db, runaway, timeout_s=0.3)
    assert time.monotonic() - start < 3.0
    assert result.error is not None and result.error.startswith("timeout")


def _chars(n: int, char: str = "a") -> str:
    return f"printf('%.*c', {n}, '{char}')"


def _rows(n: int) -> str:
    return f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < {n}) "


# Single built-in calls the progress handler cannot interrupt, sized to take 3-8 s on the old
# in-process sandbox (2 cores at load 2), and the memory bombs. BENCHMARKS.md: "Sandboxes".
_LIKE = f"{_chars(80_000)} LIKE '%' || replace({_chars(24_000, 'x')}, 'x', 'a_') || 'b'"
RESOURCE_ATTACKS = {
    "printf precision": ("SELECT length(printf('%.*c', 1000000000, 'x'))", "timeout"),
    "printf x5": ("SELECT " + " + ".join([f"length({_chars(200_000_000)})"] * 5), "timeout"),
    "instr": (f"SELECT instr({_chars(1_000_000)}, {_chars(500_000)} || 'b')", "timeout"),
    "replace": (f"SELECT replace({_chars(1_000_000)}, {_chars(500_000)} || 'b', '')", "timeout"),
    "trim": (f"SELECT trim({_chars(60_000)}, {_chars(30_000, 'b')} || 'a')", "timeout"),
    "like": (f"SELECT {_LIKE}", "timeout"),
    "recursive cte": (_rows(10**12) + "SELECT count(*) FROM c", "timeout"),
    "cross join": (_rows(100_000) + "SELECT count(*) FROM c a, c b, c d", "timeout"),
    "group_concat": (_rows(10**9) + f"SELECT group_concat({_chars(1000)}) FROM c", "timeout"),
    "randomblob": ("SELECT randomblob(1000000000)", "limit: string or blob too big"),
    "zeroblob": ("SELECT zeroblob(1000000000)", "limit: string or blob too big"),
    "72 MB reply": (_rows(8) + "SELECT zeroblob(9000000) FROM c", "limit: result larger"),
    # ~1.5 s to fill the worker's 1 GiB here: on a slower machine the time limit comes first.
    "90 GB result": (
        _rows(10_000) + "SELECT zeroblob(9000000) FROM c",
        ("limit: out of", "timeout"),
    ),
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.mark.parametrize(("sql", "expected"), RESOURCE_ATTACKS.values(), ids=RESOURCE_ATTACKS)
def test_resource_attacks_stop_in_time_with_bounded_memory(db: Path, sql, expected):
    assert run_sql(db, "SELECT 1").ok  # an idle worker is ready before the clock starts
    rss, start = _peak_rss_mb(), time.monotonic()
    result = run_sql(db, sql, timeout_s=1.0)
    assert time.monotonic() - start < 1.0 + 1.0
    assert result.error is not None and result.error.startswith(expected), result.error
    assert _peak_rss_mb() - rss < 100  # the values stayed in the worker
    assert run_sql(db, "SELECT count(*) FROM t").rows == ((4,),)  # a killed worker is replaced


def test_worker_that_died_while_idle_is_replaced(db: Path):
    assert run_sql(db, "SELECT 1").ok
    for worker in sql_exec._IDLE:
        worker.proc.kill()
        worker.proc.wait()
    assert run_sql(db, "SELECT 2").rows == ((2,),)


def test_concurrent_callers_each_get_a_worker(db: Path):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_sql(db, f"SELECT {i}, count(*) FROM t"), range(8)))
    assert [r.rows for r in results] == [((i, 4),) for i in range(8)]


def test_a_worker_that_cannot_start_is_a_metric_error(db: Path, monkeypatch):
    monkeypatch.setattr(sql_exec, "_IDLE", [])
    monkeypatch.setattr(sql_exec, "_BOOT", "raise SystemExit(3)")
    with pytest.raises(MetricError, match="exit status 3"):
        run_sql(db, "SELECT 1")


def test_replies_cannot_smuggle_objects():
    with pytest.raises(pickle.UnpicklingError, match="SqlResult"):
        sql_exec._loads(pickle.dumps(SqlResult(None)))


def test_too_many_rows(db: Path):
    result = run_sql(db, "SELECT * FROM t", max_rows=3)
    assert result.error == "too_many_rows: more than 3 rows"
    assert run_sql(db, "SELECT * FROM t", max_rows=4).rows is not None


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("", "empty query"),
        ("   ;  ", "empty query"),
        ("-- just a comment", "empty query"),
        ("SELEC name FROM t", "syntax/runtime error"),
        ("SELECT nope FROM t", "syntax/runtime error"),
        ("SELECT 1\x00", "syntax/runtime error"),
        ("SELECT '\ud800'", "syntax/runtime error"),  # a lone surrogate cannot go to sqlite
    ],
)
def test_bad_or_empty_queries(db: Path, sql, expected):
    result = run_sql(db, sql)
    assert result.error is not None and result.error.startswith(expected)


def test_select_returns_rows_and_columns(db: Path):
    result = run_sql(db, "SELECT name, qty AS n FROM t WHERE id = 1;  -- trailing comment")
    assert result.ok
    assert result.rows == (("apple", 10),)
    assert result.columns == ("name", "n")


def test_recursive_cte_within_limits_is_allowed(db: Path):
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5) "
        "SELECT sum(x) FROM c"
    )
    assert run_sql(db, sql).rows == ((15,),)


def test_missing_db_raises_metric_error_naming_path(tmp_path: Path):
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(MetricError, match="nope.sqlite"):
        run_sql(missing, "SELECT 1")
    assert not missing.exists()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", ["SELECT 1"]),
        ("SELECT ';' AS s; -- done", ["SELECT ';' AS s"]),
        ('SELECT "a;b" FROM t /* ; */', ['SELECT "a;b" FROM t']),
        ("SELECT 1; DROP TABLE t", ["SELECT 1", "DROP TABLE t"]),
        (";;", []),
    ],
)
def test_split_statements(sql, expected):
    assert split_statements(sql) == expected


@pytest.mark.parametrize(
    ("sql", "ordered"),
    [
        ("SELECT name FROM t ORDER BY price", True),
        ("select name from t order by price desc limit 2;", True),
        ("SELECT name FROM t UNION SELECT name FROM t ORDER BY 1", True),
        ("SELECT * FROM (SELECT name FROM t ORDER BY price)", False),
        ("WITH x AS (SELECT name FROM t ORDER BY 1) SELECT * FROM x", False),
        ("SELECT name FROM t", False),
        ("SELECT 'order by' FROM t", False),
        ("SELECT name FROM t WHERE ORDER BY price", True),  # unparsable: regex fallback
    ],
)
def test_is_ordered(sql, ordered):
    assert is_ordered(sql) is ordered


@pytest.mark.parametrize(
    ("pred", "gold", "value", "reason"),
    [
        # Row order is free without a top-level ORDER BY in the gold query...
        ("SELECT name FROM t ORDER BY name DESC", "SELECT name FROM t", 1.0, ""),
        # ...and binding with one.
        (
            "SELECT name FROM t ORDER BY id",
            "SELECT name FROM t ORDER BY price, id",
            0.0,
            "mismatch",
        ),
        ("SELECT name FROM t ORDER BY price, id", "SELECT name FROM t ORDER BY price, id", 1.0, ""),
        # Column names do not matter; column order does.
        ("SELECT name AS n, qty AS q FROM t", "SELECT name, qty FROM t", 1.0, ""),
        ("SELECT qty, name FROM t", "SELECT name, qty FROM t", 0.0, "mismatch"),
        # Duplicates count (multiset, not set).
        ("SELECT price FROM t", "SELECT DISTINCT price FROM t", 0.0, "mismatch"),
        # Float tolerance, and ints equal to floats.
        ("SELECT sum(price) + 1e-9 FROM t", "SELECT sum(price) FROM t", 1.0, ""),
        ("SELECT 3.75 FROM t LIMIT 1", "SELECT sum(price) FROM t", 1.0, ""),
        ("SELECT count(*) * 1.0 FROM t", "SELECT count(*) FROM t", 1.0, ""),
        ("SELECT sum(price) + 0.001 FROM t", "SELECT sum(price) FROM t", 0.0, "mismatch"),
        # Prediction failures are a 0 with the reason, not an exception.
        ("", "SELECT 1", 0.0, "empty query"),
        ("DROP TABLE t", "SELECT 1", 0.0, "denied: schema change"),
        ("SELECT missing FROM t", "SELECT 1", 0.0, "syntax/runtime error"),
    ],
)
def test_sql_execution(db: Path, pred, gold, value, reason):
    score = sql_execution(pred, gold, db)
    assert score.value == value
    assert score.reason.startswith(reason)


def test_sql_execution_details(db: Path):
    score = sql_execution("SELECT name FROM t LIMIT 1", "SELECT name FROM t", db)
    assert score.details == {"gold_rows": 4, "pred_rows": 1, "ordered": False}


def test_gold_failure_is_a_metric_error(db: Path):
    with pytest.raises(MetricError, match="Gold SQL failed"):
        sql_execution("SELECT 1", "SELECT broken FROM t", db)


def test_db_unchanged_after_scoring(db: Path):
    before = _digest(db)
    for pred in ("DELETE FROM t", "SELECT 1; DROP TABLE t", "PRAGMA journal_mode=WAL"):
        sql_execution(pred, "SELECT count(*) FROM t", db)
    assert _digest(db) == before


def _example(**meta) -> Example:
    return Example(
        id="ex1", inputs={"question": "How many?"}, output="SELECT count(*) FROM t", meta=meta
    )


def test_registry_uses_default_db_resource(db: Path):
    metric = get_metric("sql_execution")
    assert metric("SELECT 4", _example(), {"db": db}).passed


def test_registry_uses_named_db_resource(db: Path, tmp_path: Path):
    resources = {"db": tmp_path / "other.sqlite", "shop": db}
    assert resolve_db(_example(db="shop"), resources) == db
    assert resolve_db(_example(db=str(db)), {}) == db


@pytest.mark.parametrize(
    ("meta", "resources"), [({}, {}), ({"db": "unknown"}, {"db": Path("x.sqlite")})]
)
def test_registry_without_db_raises_with_hint(meta, resources):
    with pytest.raises(MetricError) as info:
        resolve_db(_example(**meta), resources)
    assert info.value.hint and "resources" in info.value.hint
