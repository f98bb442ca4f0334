"""The run store: a SQLite index plus one folder per run.

A run is written into `<root>/.tmp-<id>/` and renamed to `<root>/<id>/` only when it
completes, so a crashed or interrupted run can never be mistaken for a finished one; the
index row says "complete" only after the rename. Identical steps (same kind, config hash and
data hash) are found again with `find_reusable` instead of being recomputed.
"""

from __future__ import annotations

import bisect
import builtins
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from tailorlm.errors import Cancelled, StoreError
from tailorlm.paths import READ_ONLY, NotWritable, make_dir, runs_dir, writing
from tailorlm.store import alive, db, hooks
from tailorlm.store.env import environment
from tailorlm.store.files import (
    atomic_write,
    canonical_json,
    config_hash,
    drop_torn_tail,
    file_in_run,
    fsync_dir,
    inside,
    jsonl_line,
    pretty_json,
    read_json,
    read_jsonl,
)
from tailorlm.store.record import (
    CANCELLED,
    COMPLETE,
    FAILED,
    ID_WORDS,
    INTERRUPTED,
    RESUMABLE,
    RUNNING,
    TMP_PREFIX,
    RunRecord,
    new_run_id,
    now,
)

_MISSING: Any = object()


def _one_line(exc_type: type[BaseException], exc: BaseException | None) -> str:
    # The summary's error is shown in one table cell; a TailorError's hint is a second line.
    return " ".join(f"{exc_type.__name__}: {exc}".splitlines())


class RunWriter:
    """Writes one run's files into its work folder; `complete()` publishes them.

    While it writes, it holds the run's alive lock (`store.alive`), so the store can tell a
    killed run from a live one.

    As a context manager: a clean exit completes the run, KeyboardInterrupt/SystemExit marks
    it "interrupted", `Cancelled` "cancelled", any other exception "failed"; the exception
    always propagates.
    """

    def __init__(self, store: RunStore, run_id: str, summary: Mapping[str, Any] | None = None):
        self._store = store
        self.id = run_id
        self.dir = store.root / f"{TMP_PREFIX}{run_id}"
        self._summary: dict[str, Any] = dict(summary or {})
        self._appended: set[Path] = set()
        self._finished = False
        self._alive: int | None = None

    def _hold(self) -> None:
        self._alive = alive.hold(self.dir, self.id)

    def _release(self) -> None:
        alive.release(self._alive)
        self._alive = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc_type is not None:
            self._mark_stopped(exc_type, exc)
            return
        try:
            self.complete()
        except BaseException as error:  # e.g. the disk filled up writing summary.json
            if not self._finished:
                self._mark_stopped(type(error), error)
            raise

    def _mark_stopped(self, exc_type: type[BaseException], exc: BaseException | None) -> None:
        try:
            if issubclass(exc_type, Cancelled):
                self._finish(CANCELLED, f"cancelled: {exc}" if str(exc) else "cancelled")
            elif issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
                self._finish(INTERRUPTED, f"interrupted ({exc_type.__name__})")
            else:
                self.fail(_one_line(exc_type, exc))
        except NotWritable:
            # A full disk can refuse the index too; the error that stopped the run says more,
            # and a run left "running" in its .tmp- folder resumes just the same.
            self._finished = True
            self._release()

    def _check_open(self) -> None:
        if self._finished:
            raise StoreError(
                f"Run '{self.id}' is already finished", hint="start or reopen a run to write more"
            )

    def path(self, relname: str | Path) -> Path:
        """Where an artifact `relname` lives in the work folder (its parent is created)."""
        path = inside(self.dir, relname)
        make_dir(path.parent)
        return path

    def write_json(self, relname: str | Path, obj: Any, *, sort_keys: bool = False) -> Path:
        self._check_open()
        path = inside(self.dir, relname)
        atomic_write(path, pretty_json(obj, sort_keys=sort_keys))
        return path

    def write_jsonl(self, relname: str | Path, rows: Iterable[Any]) -> Path:
        self._check_open()
        path = inside(self.dir, relname)
        atomic_write(path, "".join(jsonl_line(row) for row in rows))
        return path

    def append_jsonl(self, relname: str | Path, row: Any) -> None:
        """Add one row now, so work done before a crash survives for `reopen()`."""
        self._check_open()
        path = self.path(relname)
        with writing(path), open(path, "a", encoding="utf-8") as f:
            f.write(jsonl_line(row))  # one write call: a kill can't interleave half-rows
        self._appended.add(path)

    def read_json(self, relname: str | Path, default: Any = _MISSING) -> Any:
        """A file written so far; `default` if given and the file isn't there (yet)."""
        if default is not _MISSING and not inside(self.dir, relname).is_file():
            return default
        return read_json(file_in_run(self.dir, self.id, relname))

    def read_jsonl(self, relname: str | Path) -> builtins.list[Any]:
        """Rows written so far (e.g. after `reopen()`, to skip work already done)."""
        path = inside(self.dir, relname)
        return read_jsonl(path) if path.is_file() else []

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def set_summary(self, summary: Mapping[str, Any]) -> None:
        """Merge `summary` into the run's summary (later keys win)."""
        self._check_open()
        self._summary.update(summary)

    def complete(self) -> RunRecord:
        self._check_open()
        self.write_json("summary.json", self._summary, sort_keys=True)
        for path in self._appended:
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        final = self._store.root / self.id
        if final.exists():
            raise StoreError(f"Run folder {final} already exists", hint="delete it and rerun")
        (self.dir / alive.ALIVE_FILE).unlink(missing_ok=True)  # the lock stays held till _release
        with writing(final):
            os.replace(self.dir, final)
        fsync_dir(self._store.root)
        # The row flips to complete only once the folder is in place under its final name, and
        # a folder under its final name always has a complete row.
        try:
            self._store._finish(self.id, COMPLETE, self._summary, path=self.id)
        except BaseException:
            os.replace(final, self.dir)
            raise
        self._finished, self.dir = True, final
        self._release()
        record = self._store.get(self.id)
        hooks.completed(record)  # e.g. MLflow logging, when the user turned it on
        return record

    def fail(self, reason: str) -> None:
        self._check_open()
        self._finish(FAILED, reason)

    def _finish(self, status: str, reason: str) -> None:
        self._summary["error"] = reason
        self._store._finish(self.id, status, self._summary)
        self._finished = True
        self._release()


class RunStore:
    """Runs under `root` (default: `<TAILOR_HOME>/runs`), indexed in `root/index.sqlite`.

    Each call opens its own short-lived connection, so one store can be shared by threads
    and several processes (training ranks, the server, the CLI) can use the same root.

    A root that can't be written (a read-only or full disk) opens read-only: listing and
    reading runs work, and anything that would write raises NotWritable before it starts.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else runs_dir(create=False)
        self.db_path = self.root / "index.sqlite"
        self._unwritable: NotWritable | None = None
        try:
            self._prepare()
        except NotWritable as exc:
            self._unwritable = exc

    def _prepare(self) -> None:
        make_dir(self.root)
        # An existing folder on a read-only disk needs no mkdir, so ask; SQLite would
        # otherwise try to create its -wal and -shm files there.
        if not os.access(self.root, os.W_OK):
            raise NotWritable(self.root, READ_ONLY)
        conn = db.connect(self.db_path)
        try:
            db.migrate(conn)
        finally:
            conn.close()

    @property
    def read_only(self) -> bool:
        """Whether the store is on a disk that can't be written (a full one may be freed)."""
        return self._unwritable is not None and self._unwritable.problem == READ_ONLY

    def check_writable(self) -> None:
        """Raise NotWritable, naming the folder and the fix, if this store can't be written."""
        if self._unwritable is None:
            return
        if self.read_only:
            raise NotWritable(self._unwritable.path, READ_ONLY)
        self._prepare()  # space may have been freed since; raises NotWritable if not
        self._unwritable = None

    @contextmanager
    def _connect(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        if write:
            self.check_writable()
        reading_only = not write and self._unwritable is not None
        opener = db.connect_read_only if reading_only else db.connect
        with db.disk_errors(self.db_path):
            conn = opener(self.db_path)
            try:
                yield conn
            finally:
                conn.close()

    def start(
        self,
        kind: str,
        *,
        name: str | None,
        task: str | None,
        model: str | None,
        config: Mapping[str, Any],
        data_hash: str | None,
        parent_id: str | None = None,
    ) -> RunWriter:
        chash = config_hash(config)  # first: an unserializable config fails before any I/O
        self.check_writable()
        writer = RunWriter(self, new_run_id(kind, task, name))
        with writing(writer.dir):
            writer.dir.mkdir()
        try:
            writer._hold()
            writer.write_json("config.json", config, sort_keys=True)
            writer.write_json("env.json", environment(config))
            row = (writer.id, kind, name, task, model, RUNNING, chash, data_hash)
            self._insert((*row, now(), "{}", writer.dir.name, parent_id))
        except BaseException:
            writer._release()
            shutil.rmtree(writer.dir, ignore_errors=True)  # no row points at it: leave nothing
            raise
        return writer

    def _insert(self, row: tuple[Any, ...]) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO runs (id, kind, name, task, model, status, config_hash, data_hash,"
                " created_at, summary_json, path, parent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def _finish(
        self, run_id: str, status: str, summary: Mapping[str, Any], *, path: str | None = None
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary_json = ?,"
                " path = COALESCE(?, path) WHERE id = ?",
                (status, now(), canonical_json(summary), path, run_id),
            )

    def _mark_if_dead(self, record: RunRecord) -> bool:
        """A "running" run whose alive lock no process holds was killed without a word
        (SIGKILL, out of memory, a power cut): mark it interrupted, as Ctrl-C would have, so it
        never reads as still working; whether it was. Checked while holding that lock, which a
        resume must take before reopening the run; a store that can't be written is left as
        it is."""
        if record.status != RUNNING or self._unwritable is not None:
            return False
        with alive.abandoned(record.dir) as abandoned:
            if abandoned and self._select("id = ? AND status = ?", [record.id, RUNNING]):
                error = "interrupted: its process ended without finishing (killed?)"
                self._finish(record.id, INTERRUPTED, {**record.summary, "error": error})
                return True
        return False

    def _select(
        self, where: str = "", params: Iterable[Any] = (), limit: int | None = None
    ) -> builtins.list[RunRecord]:
        sql = "SELECT * FROM runs" + (f" WHERE {where}" if where else "")
        sql += " ORDER BY created_at DESC, id DESC"
        params = list(params)
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        if self._unwritable is not None and not self.db_path.is_file():
            return []  # a read-only home that never held a run
        with self._connect(write=False) as conn:
            rows = conn.execute(sql, params).fetchall()
        return [RunRecord.from_row(row, self.root) for row in rows]

    def _resolve(self, ref: str) -> RunRecord:
        """The run `ref` names, without checking its folder: its id, a unique id prefix, its
        name (`--out`), or the part of its id after the timestamp (or a unique prefix of it).
        Where a name matches several runs and only one of them completed, that one."""
        matches: builtins.list[RunRecord] = []
        for where, params in (
            ("id = ?", [ref]),
            ("substr(id, 1, ?) = ?", [len(ref), ref]),
            ("name = ?", [ref]),
            (f"substr(id, {ID_WORDS}) = ?", [ref]),
            (f"substr(id, {ID_WORDS}, ?) = ?", [len(ref), ref]),
        ):
            matches = self._select(where, params) if ref else []
            if matches:
                break
        complete = [r for r in matches if r.status == COMPLETE]
        if len(matches) > 1 and len(complete) == 1:
            return complete[0]
        if not matches:
            raise StoreError(f"No run '{ref}'", hint="list runs with `tailor runs`")
        if len(matches) > 1:
            shown = "\n".join(
                f"  {r.id}  {r.status}" + (f"  (name {r.name})" if r.name else "")
                for r in matches[:10]
            ) + ("\n  ..." if len(matches) > 10 else "")
            raise StoreError(
                f"'{ref}' matches {len(matches)} runs:\n{shown}",
                hint="type more of the run id",
            )
        return matches[0]

    def short_ids(self, ids: Iterable[str], min_len: int = 8) -> builtins.list[str]:
        """The shortest prefix of each id that names no other stored run (as `git log
        --oneline` shortens hashes); `get` resolves each back to its run."""
        every = self._all_ids()
        out = []
        for run_id in ids:
            i = bisect.bisect_left(every, run_id)
            near = [every[j] for j in (i - 1, i + 1) if 0 <= j < len(every)]
            shared = [len(os.path.commonprefix([run_id, o])) for o in near if o != run_id]
            out.append(run_id[: max([min_len - 1, *shared]) + 1])
        return out

    def _all_ids(self) -> builtins.list[str]:
        """Every stored run id, sorted (the id column only: no rows to build)."""
        if self._unwritable is not None and not self.db_path.is_file():
            return []  # a read-only home that never held a run
        with self._connect(write=False) as conn:
            return [row[0] for row in conn.execute("SELECT id FROM runs ORDER BY id")]

    def get(self, ref: str) -> RunRecord:
        """The run `ref` names: its id or a unique prefix, its name, or its id after the
        timestamp (see _resolve)."""
        record = self._resolve(ref)
        if self._mark_if_dead(
            record
        ):  # only a running run is checked: a complete one costs nothing
            record = self._resolve(record.id)
        if record.is_complete and not record.dir.is_dir():
            raise StoreError(
                f"Run '{record.id}' is marked complete but its folder {record.dir} is missing",
                hint=f"restore the folder, or remove the record with `tailor rm "
                f"{record.id}` and rerun the step",
            )
        return record

    def list(
        self,
        *,
        kind: str | None = None,
        task: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunRecord]:
        """Runs matching every filter given, newest first."""
        for running in self._select("status = ?", [RUNNING]):  # first: a status filter sees it
            self._mark_if_dead(running)
        filters = {"kind": kind, "task": task, "status": status}
        given = {col: value for col, value in filters.items() if value is not None}
        where = " AND ".join(f"{col} = ?" for col in given)
        return self._select(where, given.values(), limit)

    def _same_step(
        self, kind: str, config_hash: str, data_hash: str, statuses: tuple[str, ...]
    ) -> builtins.list[RunRecord]:
        marks = ",".join("?" * len(statuses))
        where = f"kind = ? AND config_hash = ? AND data_hash = ? AND status IN ({marks})"
        return self._select(where, [kind, config_hash, data_hash, *statuses])

    def find_reusable(self, kind: str, config_hash: str, data_hash: str) -> RunRecord | None:
        """The newest complete run of this exact step, so it need not be computed again."""
        runs = self._same_step(kind, config_hash, data_hash, (COMPLETE,))
        return next((run for run in runs if run.dir.is_dir()), None)

    def resume_candidates(self, kind: str, config_hash: str, data_hash: str) -> RunRecord | None:
        """The newest unfinished run of this exact step whose work folder survives.

        A "running" one may still be alive in another process; the caller decides.
        """
        runs = self._same_step(kind, config_hash, data_hash, RESUMABLE)
        alive = (run for run in runs if run.dir.is_dir() and run.dir.name.startswith(TMP_PREFIX))
        return next(alive, None)

    def reopen(self, ref: str) -> RunWriter:
        """Continue an unfinished run in its existing work folder."""
        self.check_writable()
        record = self._resolve(ref)
        if record.status not in RESUMABLE:
            raise StoreError(
                f"Run '{record.id}' is {record.status}; only unfinished runs can be reopened",
                hint="start a new run instead",
            )
        summary = {k: v for k, v in record.summary.items() if k != "error"}
        writer = RunWriter(self, record.id, summary)
        if not writer.dir.is_dir():
            raise StoreError(
                f"Run '{record.id}' has no work folder {writer.dir} left to resume",
                hint="start a new run instead",
            )
        writer._hold()  # before anything is touched: a live writer may still own the folder
        try:
            for path in writer.dir.rglob("*.jsonl"):
                drop_torn_tail(path)
            with self._connect() as conn:
                conn.execute(
                    "UPDATE runs SET status = ?, finished_at = NULL, path = ? WHERE id = ?",
                    (RUNNING, writer.dir.name, record.id),
                )
        except BaseException:
            writer._release()
            raise
        return writer

    def delete(self, ref: str) -> str:
        """Remove a run's folder (finished or not) and its row; return the run's id."""
        self.check_writable()
        record = self._resolve(ref)
        # Folder first: if removal fails part way, the row is still there to retry with.
        for folder in (self.root / record.id, self.root / f"{TMP_PREFIX}{record.id}"):
            if folder.exists():
                shutil.rmtree(folder)
        with self._connect() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (record.id,))
        return record.id
