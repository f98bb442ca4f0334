"""SQL execution accuracy: run the predicted and the gold query read-only, compare result sets.

A prediction is untrusted model output, so it runs in a sandbox: a worker process (reused from
query to query) opens the database read-only, an authorizer allows only what a SELECT needs, a
progress handler enforces a wall-clock limit between VM instructions and fetching stops one row
past `max_rows`. The progress handler cannot stop one long built-in call: printf's `%.*c` loops
once per character even past the length limit (3-8 s for 1e9, five in one expression 17-35 s),
and instr, replace, trim and LIKE are quadratic on strings of a few MB (minutes; a 9 MB pair
ran past 60 s). So the parent kills the worker when no answer arrives `_GRACE_S` after the
limit, and starts a new one for the next query: every query ends within `timeout_s + _GRACE_S`.
Memory stays bounded: values are capped at `_MAX_VALUE_BYTES`, the worker's address space at
`_WORKER_MEMORY` and a reply at `_MAX_REPLY_BYTES`. Each attack measured, and the worker's
overhead: BENCHMARKS.md ("Sandboxes").

Prediction failures come back as a `SqlResult.error`; a missing database or a failing gold
query is a task problem and raises `MetricError`.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tailorlm.errors import MetricError
from tailorlm.types import Score

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MAX_ROWS = 10_000
FLOAT_DECIMALS = 4
_FETCH_CHUNK = 500
_PROGRESS_EVERY = 1_000  # VM instructions between wall-clock checks: cheap, yet ~ms granularity
_MAX_VALUE_BYTES = 10_000_000  # stops `randomblob(1e9)`-style memory bombs
_WORKER_MEMORY = 1 << 30  # address space of the worker: many 9 MB values in one result stop here
_MAX_REPLY_BYTES = 64 << 20  # what a reply may bring into this process
_GRACE_S = 0.25  # the worker's own progress handler answers first; the kill is for what it misses
_START_TIMEOUT_S = 60.0  # a new worker imports tailorlm (~0.3 s; much longer on a loaded machine)

# Everything a read-only SELECT (with CTEs and functions) needs; any other action is denied.
_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_DENIED_FUNCTIONS = frozenset({"load_extension"})
_WRITES = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name
    for name in [
        *("ALTER_TABLE", "ANALYZE", "ATTACH", "DETACH", "DELETE", "INSERT", "UPDATE"),
        *("CREATE_INDEX", "CREATE_TABLE", "CREATE_TRIGGER", "CREATE_VIEW", "CREATE_VTABLE"),
        *("CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER", "CREATE_TEMP_VIEW"),
        *("DROP_INDEX", "DROP_TABLE", "DROP_TRIGGER", "DROP_VIEW", "DROP_VTABLE"),
        *("DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW"),
        *("FUNCTION", "PRAGMA", "READ", "REINDEX", "SAVEPOINT", "SELECT", "TRANSACTION"),
    ]
    if hasattr(sqlite3, f"SQLITE_{name}")
}

# Strings and quoted identifiers first, so a ';' or '--' inside them is not taken for syntax.
_LEXEME = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?(?:\*/|$)|;""",
    re.DOTALL,
)


@dataclass(frozen=True)
class SqlResult:
    """Outcome of one query. `error` is None on success, else "<reason>: <message>"."""

    rows: tuple[tuple[Any, ...], ...] | None
    columns: tuple[str, ...] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def split_statements(sql: str) -> list[str]:
    """Non-empty statements of `sql`, comments removed (a trailing ';' makes no extra one)."""
    parts: list[str] = []
    buf: list[str] = []
    pos = 0
    for match in _LEXEME.finditer(sql):
        buf.append(sql[pos : match.start()])
        pos, token = match.end(), match.group()
        if token == ";":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(" " if token.startswith(("--", "/*")) else token)
    parts.append("".join(buf) + sql[pos:])
    return [part.strip() for part in parts if part.strip()]


def _action_name(action: int, table: Any) -> str:
    # SQLite checks CREATE/DROP as a write to its schema table first and stops at that denial.
    if action in _WRITES and str(table).startswith("sqlite_"):
        return "schema change (CREATE/DROP/ALTER)"
    return _ACTION_NAMES.get(action, f"action {action}")


class _Sandbox:
    """Authorizer + progress handler for one connection; remembers why it stopped a query."""

    def __init__(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.denied: str | None = None
        self.timed_out = False

    def install(self, conn: sqlite3.Connection) -> None:
        conn.set_authorizer(self.authorize)
        conn.set_progress_handler(self.progress, _PROGRESS_EVERY)
        if hasattr(conn, "setlimit"):  # Python >= 3.11; the authorizer already denies ATTACH
            conn.setlimit(getattr(sqlite3, "SQLITE_LIMIT_ATTACHED"), 0)  # noqa: B009 (3.10 stubs)
            conn.setlimit(getattr(sqlite3, "SQLITE_LIMIT_LENGTH"), _MAX_VALUE_BYTES)  # noqa: B009

    def authorize(self, action: int, arg1: Any, arg2: Any, *_: Any) -> int:
        allowed = action in _ALLOWED_ACTIONS
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
            allowed = False
        if allowed:
            return sqlite3.SQLITE_OK
        if self.denied is None:
            self.denied = _action_name(action, arg1)
        return sqlite3.SQLITE_DENY

    def progress(self) -> int:
        self.timed_out = time.monotonic() > self.deadline
        return int(self.timed_out)  # non-zero aborts the running statement

    def explain(self, exc: Exception, timeout_s: float) -> str:
        if self.denied is not None:
            return f"denied: {self.denied} is not allowed (only read-only SELECT queries run)"
        if self.timed_out:
            return _timeout(timeout_s)
        if isinstance(exc, MemoryError) or "too big" in str(exc) or "out of memory" in str(exc):
            return f"limit: {str(exc) or 'out of memory'} ({_LIMITS})"
        return f"syntax/runtime error: {exc}"


def _timeout(timeout_s: float) -> str:
    return f"timeout: query ran longer than {timeout_s:g}s"


_LIMITS = (
    f"values are capped at {_MAX_VALUE_BYTES // 10**6} MB, a query at {_WORKER_MEMORY >> 30} GiB"
)


def _readonly_uri(db_path: str | Path) -> str:
    path = Path(db_path)
    if not path.is_file():
        raise MetricError(
            f"SQLite database not found: {path}",
            hint="check the task's `db` resource or the example's meta.db",
        )
    # as_uri() percent-encodes spaces, '?' and '#', which would otherwise break the URI.
    return f"{path.resolve().as_uri()}?mode=ro"


def _fetch(cursor: sqlite3.Cursor, max_rows: int) -> list[tuple[Any, ...]] | None:
    """All rows, or None as soon as there are more than `max_rows`."""
    rows: list[tuple[Any, ...]] = []
    while chunk := cursor.fetchmany(_FETCH_CHUNK):
        rows.extend(chunk)
        if len(rows) > max_rows:
            return None
    return rows


def _execute(uri: str, sql: str, timeout_s: float, max_rows: int) -> tuple[Any, ...]:
    """In the worker: the fields of the statement's SqlResult."""
    sandbox = _Sandbox(timeout_s)
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
    try:
        sandbox.install(conn)
        cursor = conn.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        rows = _fetch(cursor, max_rows)
    except (sqlite3.Error, ValueError, MemoryError) as exc:  # ValueError: lone surrogates
        return None, None, sandbox.explain(exc, timeout_s)
    finally:
        conn.close()
    if rows is None:
        return None, columns, f"too_many_rows: more than {max_rows} rows"
    return tuple(rows), columns, None


def run_sql(
    db_path: str | Path,
    sql: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> SqlResult:
    """Run one read-only statement in the sandbox.

    Raises MetricError only if the db is missing or the sandbox process cannot start.
    """
    uri = _readonly_uri(db_path)
    statements = split_statements(sql)
    if not statements:
        return SqlResult(None, None, "empty query: no SQL statement found")
    if len(statements) > 1:
        return SqlResult(None, None, f"multiple statements: got {len(statements)}, expected 1")
    return SqlResult(*_in_worker((uri, statements[0], timeout_s, max_rows), timeout_s))


# ---------------------------------------------------------------------------- the worker


class _PlainUnpickler(pickle.Unpickler):
    """Replies hold only tuples, numbers, text, bytes and None: nothing may name a class."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a query reply may not contain {module}.{name}")


def _loads(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


# -I keeps the working folder and PYTHON* variables out; the parent's sys.path comes as argv[2].
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from tailorlm.metrics.sql_exec import _serve; _serve(int(sys.argv[1]))"
)


class _Worker:
    """One child process that runs queries; killed when a query outlives its limit."""

    def __init__(self) -> None:
        ours, theirs = Pipe()
        path = json.dumps([p for p in sys.path if p])
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(theirs.fileno()), path],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = ours
        if not ours.poll(_START_TIMEOUT_S) or not self._ready():
            self.kill()
            raise MetricError(
                f"The SQL sandbox process did not start (exit status {self.proc.returncode}, "
                f"after at most {_START_TIMEOUT_S:g} s)",
                hint="check that `python -c 'import tailorlm'` works with this interpreter",
            )

    def _ready(self) -> bool:
        try:
            return self.conn.recv_bytes() == b"ready"
        except (EOFError, OSError):
            return False

    def ask(self, request: tuple[Any, ...], wait_s: float) -> tuple[Any, ...] | None:
        """The reply, or None when none came within `wait_s`."""
        self.conn.send_bytes(_dumps(request))
        if not self.conn.poll(wait_s):
            return None
        try:
            return tuple(_loads(self.conn.recv_bytes()))
        except (EOFError, OSError):  # the worker died: the kernel's OOM killer, a crash
            self.kill()
            return None, None, f"limit: the query process died (exit status {self.proc.returncode})"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.conn.close()
        if self.alive:
            self.proc.kill()
        self.proc.wait()


_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()


def _idle_worker() -> _Worker | None:
    with _IDLE_LOCK:
        while _IDLE:
            worker = _IDLE.pop()
            if worker.alive:
                return worker
            worker.kill()  # died while idle (e.g. killed from outside): reap it
    return None


def _in_worker(request: tuple[Any, ...], timeout_s: float) -> tuple[Any, ...]:
    """Run `request` in an idle worker (one per concurrent caller, started when none is idle)."""
    worker = _idle_worker() or _Worker()
    try:
        reply = worker.ask(request, timeout_s + _GRACE_S)
    except BaseException:  # interrupted mid-query: its state is unknown
        worker.kill()
        raise
    if reply is None:
        worker.kill()
        return None, None, _timeout(timeout_s)
    if worker.alive:
        with _IDLE_LOCK:
            _IDLE.append(worker)
    return reply


def _forget_workers() -> None:
    # A forked child must not talk to its parent's workers over shared pipes: it starts its own.
    _IDLE.clear()


@atexit.register
def _close_workers() -> None:
    with _IDLE_LOCK:
        while _IDLE:
            _IDLE.pop().kill()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _reply(request: bytes) -> bytes:
    try:
        data = _dumps(_execute(*_loads(request)))
    except MemoryError:  # pickling a result that only just fitted
        return _dumps((None, None, f"limit: out of memory ({_LIMITS})"))
    if len(data) > _MAX_REPLY_BYTES:
        return _dumps((None, None, f"limit: result larger than {_MAX_REPLY_BYTES >> 20} MB"))
    return data


def _serve(fd: int) -> None:
    """The worker's loop: one request in, one reply out, until the parent closes the pipe."""
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    cap = _WORKER_MEMORY if hard == resource.RLIM_INFINITY else min(_WORKER_MEMORY, hard)
    with contextlib.suppress(ValueError, OSError):  # macOS may refuse; the value cap still holds
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    conn = Connection(fd)
    conn.send_bytes(b"ready")
    while True:
        try:
            request = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(_reply(request))


def _without_parentheses(sql: str) -> str:
    previous = None
    while previous != sql:
        previous, sql = sql, re.sub(r"\([^()]*\)", " ", sql)
    return sql


def is_ordered(sql: str) -> bool:
    """True if the query has a top-level ORDER BY (one inside a subquery does not count)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        tree = None
    if isinstance(tree, exp.Expression):
        return tree.args.get("order") is not None
    code = " ".join(split_statements(sql))
    return re.search(r"\border\s+by\b", _without_parentheses(code), re.IGNORECASE) is not None


def _normalize_value(value: Any) -> Any:
    # Rounded floats hash like equal ints (3.0 == 3), so 3 and 3.0000001 land in one bucket.
    return round(value, FLOAT_DECIMALS) if isinstance(value, float) else value


def _normalize_rows(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(_normalize_value(v) for v in row) for row in rows]


def results_match(
    pred: Sequence[tuple[Any, ...]], gold: Sequence[tuple[Any, ...]], *, ordered: bool
) -> bool:
    """Compare result sets by value; as multisets unless `ordered`. Column names are ignored."""
    pred_rows, gold_rows = _normalize_rows(pred), _normalize_rows(gold)
    if ordered:
        return pred_rows == gold_rows
    return Counter(pred_rows) == Counter(gold_rows)


MAX_LIST_ROWS = 50  # a longer answer teaches little and is slow to compare


def unusable_result(rows: Sequence[tuple[Any, ...]], *, max_rows: int = MAX_LIST_ROWS) -> str:
    """Why a query's result makes a poor answer to learn from ("" when it is fine): no rows,
    only NULLs, a count of zero (such answers teach a model to guess 0) or a list longer than
    `max_rows`. The rule for answers with no gold to compare: synthetic and teacher labels."""
    if not rows:
        return "empty result: no rows"
    if len(rows) > max_rows:
        return f"too many rows: {len(rows)} > {max_rows}"
    if all(v is None for row in rows for v in row):
        return "all NULL: every value is NULL"
    if len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] == 0:
        return "zero count: the answer is 0"
    return ""


def result_key(rows: Sequence[tuple[Any, ...]]) -> str:
    """One text per result set, equal for results `results_match` finds equal unordered (the
    key votes on SQL answers count under)."""
    normalized = sorted(_normalize_rows(rows), key=repr)
    return json.dumps(normalized, default=repr)


def sql_execution(
    prediction: str,
    gold: str,
    db_path: str | Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Score:
    """1.0 when the prediction returns the same result as the gold query, else 0.0.

    Convention (as in execution-accuracy benchmarks): column names and aliases do not
    matter, column order does; rows compare as a multiset unless the gold query has a
    top-level ORDER BY, in which case order matters too. Floats compare after rounding to
    `FLOAT_DECIMALS` decimals, and 3 equals 3.0.
    """
    gold_result = run_sql(db_path, gold, timeout_s=timeout_s, max_rows=max_rows)
    if gold_result.rows is None:
        raise MetricError(
            f"Gold SQL failed on {db_path}: {gold_result.error}",
            hint="fix the example's reference query (it must run on the task database)",
        )
    pred_result = run_sql(db_path, prediction, timeout_s=timeout_s, max_rows=max_rows)
    details: dict[str, Any] = {"gold_rows": len(gold_result.rows)}
    if pred_result.rows is None:
        return Score(0.0, reason=pred_result.error or "error", details=details)
    ordered = is_ordered(gold)
    details.update(pred_rows=len(pred_result.rows), ordered=ordered)
    if results_match(pred_result.rows, gold_result.rows, ordered=ordered):
        return Score(1.0, details=details)
    return Score(0.0, reason="mismatch", details=details, well_formed=True)
