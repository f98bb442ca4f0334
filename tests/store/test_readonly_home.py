"""A TAILOR_HOME on a read-only or full disk: one line that names the folder and the fix, runs
still readable, nothing half-written.

Tests run as root, for whom chmod stops nothing, so a read-only disk is simulated by making
writes under a folder fail as on a read-only mount (`simulate_read_only`); where `unshare -rm`
is allowed, a real read-only bind mount checks what SQLite does with a WAL index."""

from __future__ import annotations

import builtins
import errno
import functools
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest

from tailorlm import paths
from tailorlm.errors import StoreError
from tailorlm.store import FAILED, RunStore, db, files
from tailorlm.store.steps import LOCKS_DIR, open_step

CONFIG = {"strategy": "zero-shot", "seed": 1}
READ_ONLY_LINE = "is read-only: point TAILOR_HOME at a writable folder"


def _under(path: object, folder: Path) -> bool:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False  # a file descriptor
    full = Path(os.fsdecode(path)).absolute()
    return full == folder or folder in full.parents


def simulate_read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every write under `folder` fails with EROFS, as on a read-only mount; reads work."""
    folder = folder.absolute()
    real = (os.mkdir, builtins.open, os.open, os.replace, os.access, sqlite3.connect)
    real_mkdir, real_open, real_os_open, real_replace, real_access, real_connect = real

    def refuse(path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def mkdir(path, mode=0o777, **kwargs):
        if _under(path, folder) and os.path.exists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(path))
        if _under(path, folder):
            refuse(path)
        return real_mkdir(path, mode, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if _under(file, folder) and set(mode) & set("wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, mode=0o777, **kwargs):
        if _under(path, folder) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, mode, **kwargs)

    def replace(src, dst, **kwargs):
        if _under(src, folder) or _under(dst, folder):
            refuse(dst)
        return real_replace(src, dst, **kwargs)

    def access(path, mode, **kwargs):
        if _under(path, folder) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    def connect(database, *args, **kwargs):
        # Only a read-only open (a file: URI with mode=ro) may touch the index: SQLite writes
        # without Python's help.
        uri = kwargs.get("uri", False)
        path = unquote(database.removeprefix("file:").split("?")[0]) if uri else database
        if _under(path, folder) and not (uri and "mode=ro" in database):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(database, *args, **kwargs)

    for target, name, fake in [
        (os, "mkdir", mkdir),
        (builtins, "open", open_),
        (io, "open", open_),
        (os, "open", os_open),
        (os, "replace", replace),
        (os, "access", access),
        (sqlite3, "connect", connect),
    ]:
        monkeypatch.setattr(target, name, fake)


def stored_run(store: RunStore | None = None) -> str:
    """One complete eval run in the default store; returns its id."""
    store = store or RunStore()
    with store.start(
        "eval", name="zero-shot", task="sql-sales", model="m", config=CONFIG, data_hash="d"
    ) as run:
        run.write_json("metrics.json", {"quality": 0.5})
        row = {"inputs": {"question": "q"}, "gold": "1", "prediction": "1", "score": 1.0}
        run.write_jsonl("examples.jsonl", [{**row, "reason": ""}])
    return run.id


def _files(folder: Path) -> set[Path]:
    # SQLite's own -wal/-shm: a read-only open on a really writable disk makes them itself.
    return {p for p in folder.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


# ----------------------------------------------------------------------------- paths


@pytest.mark.parametrize("where", ["home", "runs_dir"])
def test_a_read_only_home_names_the_folder_and_the_fix(where, monkeypatch, _tailor_home):
    simulate_read_only(monkeypatch, _tailor_home.parent)
    with pytest.raises(StoreError) as caught:
        getattr(paths, where)()
    assert caught.value.message == f"TAILOR_HOME {_tailor_home} {READ_ONLY_LINE}"


def test_a_read_only_model_cache_names_its_own_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("TAILOR_MODEL_CACHE", str(tmp_path / "cache"))
    simulate_read_only(monkeypatch, tmp_path)
    with pytest.raises(StoreError, match="TAILOR_MODEL_CACHE .* point TAILOR_MODEL_CACHE at"):
        paths.model_cache_dir()


def test_a_full_disk_says_so(monkeypatch, _tailor_home):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(_tailor_home))

    monkeypatch.setattr(os, "mkdir", full)
    says = f"TAILOR_HOME {_tailor_home} is on a full disk: free some space"
    with pytest.raises(StoreError, match=says):
        paths.runs_dir()


# ----------------------------------------------------------------------------- reading


def test_a_read_only_store_lists_and_reads_its_runs(monkeypatch, _tailor_home):
    run_id = stored_run()
    before = _files(_tailor_home)
    simulate_read_only(monkeypatch, _tailor_home)
    store = RunStore()
    assert store.read_only
    assert [r.id for r in store.list()] == [run_id]
    record = store.get(run_id[:20])
    assert record.is_complete and record.read_json("metrics.json") == {"quality": 0.5}
    assert record.load_config() == CONFIG
    assert _files(_tailor_home) == before  # no folder, lock or migration was written


def test_a_read_only_home_without_runs_lists_none_and_creates_nothing(
    monkeypatch, tmp_path, _tailor_home
):
    simulate_read_only(monkeypatch, tmp_path)
    assert RunStore().list() == []
    assert not _tailor_home.exists()
    with pytest.raises(StoreError, match="No run 'abc'"):
        RunStore().get("abc")


def test_a_read_only_store_still_reuses_a_stored_step(monkeypatch, _tailor_home):
    run_id = stored_run()
    simulate_read_only(monkeypatch, _tailor_home)
    store = RunStore()
    with open_step(store, "eval", CONFIG, "d", name="zero-shot", task="sql-sales", model="m") as s:
        assert s.reused and s.run_id == run_id
    assert not (store.root / LOCKS_DIR).exists()


# ----------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    "write",
    [
        lambda store, run_id: store.start(
            "eval", name=None, task="t", model="m", config={"other": 1}, data_hash="d"
        ),
        lambda store, run_id: store.delete(run_id),
        lambda store, run_id: store.reopen(run_id),
        lambda store, run_id: open_step(
            store, "eval", {"new": 1}, "d", name=None, task="t", model="m"
        ).__enter__(),
    ],
    ids=["start", "delete", "reopen", "open_step"],
)
def test_a_read_only_store_refuses_writes_before_writing(write, monkeypatch, _tailor_home):
    run_id = stored_run()
    before = _files(_tailor_home)
    simulate_read_only(monkeypatch, _tailor_home)
    with pytest.raises(StoreError) as caught:
        write(RunStore(), run_id)
    assert caught.value.message == f"TAILOR_HOME {_tailor_home} {READ_ONLY_LINE}"
    assert _files(_tailor_home) == before


def test_a_report_into_a_read_only_folder_names_that_folder(monkeypatch, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    simulate_read_only(monkeypatch, out)
    with pytest.raises(StoreError, match=f"{out} is read-only: use a writable folder"):
        files.atomic_write(out / "report.html", "<html>")


# ----------------------------------------------------------------------------- a full disk


def _fill_disk_on(monkeypatch, name: str) -> None:
    """atomic_write of a file called `name` runs out of space half way through."""
    real_open = builtins.open

    class HalfWritten:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return HalfWritten(f) if f"{name}." in Path(file).name and "w" in mode else f

    monkeypatch.setattr(files, "open", open_, raising=False)


@pytest.mark.parametrize("full_on", ["metrics.json", "summary.json"])
def test_a_full_disk_mid_run_leaves_a_failed_tmp_folder(full_on, monkeypatch, _tailor_home):
    store = RunStore()
    _fill_disk_on(monkeypatch, full_on)
    with (
        pytest.raises(StoreError, match=f"TAILOR_HOME {_tailor_home} is on a full disk"),
        store.start("eval", name=None, task="t", model="m", config=CONFIG, data_hash="d") as run,
    ):
        run.write_json("metrics.json", {"quality": 0.5})
    record = store.get(run.id)
    assert record.status == FAILED and record.dir.name == f".tmp-{run.id}"
    assert "is on a full disk" in record.summary["error"] and "\n" not in record.summary["error"]
    assert not (store.root / run.id).exists()
    assert [p.name for p in record.dir.iterdir() if p.name.endswith(".tmp")] == []


class _FailingWrites:
    """A connection whose statements starting with `failing` fail as SQLite's do on a full or
    failing disk."""

    def __init__(self, conn: sqlite3.Connection, message: str, failing: tuple[str, ...]) -> None:
        self.conn, self.message, self.failing = conn, message, failing

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith(self.failing):
            raise sqlite3.OperationalError(self.message)
        return self.conn.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()


def _index_fails(monkeypatch, message: str, failing=("INSERT", "UPDATE", "DELETE")) -> None:
    real = db.connect
    monkeypatch.setattr(db, "connect", lambda path: _FailingWrites(real(path), message, failing))


def _tmp_folders(store: RunStore) -> list[str]:
    return [p.name for p in store.root.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    "message, says",
    [
        ("database or disk is full", "is on a full disk: free some space"),
        ("disk I/O error", "disk I/O"),
    ],
)
def test_an_index_on_a_full_disk_leaves_no_run_behind(message, says, monkeypatch, _tailor_home):
    store = RunStore()
    _index_fails(monkeypatch, message)
    with pytest.raises(StoreError, match=says) as caught:
        store.start("eval", name=None, task="t", model="m", config=CONFIG, data_hash="d")
    assert f"TAILOR_HOME {_tailor_home}" in caught.value.message
    assert _tmp_folders(store) == []


def test_an_index_that_cannot_say_complete_leaves_no_complete_looking_folder(
    monkeypatch, _tailor_home
):
    store = RunStore()
    run = store.start("eval", name=None, task="t", model="m", config=CONFIG, data_hash="d")
    _index_fails(monkeypatch, "disk I/O error")
    with pytest.raises(StoreError, match="disk I/O error"), run:
        pass
    assert not (store.root / run.id).exists() and (store.root / f".tmp-{run.id}").is_dir()


def test_a_failing_index_at_open_still_lists_runs_and_refuses_writes(monkeypatch, _tailor_home):
    run_id = stored_run()
    _index_fails(monkeypatch, "disk I/O error", failing=("BEGIN",))  # the migrations' write
    store = RunStore()
    assert [r.id for r in store.list()] == [run_id]
    with pytest.raises(StoreError, match=f"TAILOR_HOME {_tailor_home}: disk I/O error"):
        store.start("eval", name=None, task="t", model="m", config={"x": 1}, data_hash="d")
    assert _tmp_folders(store) == []


# ----------------------------------------------------------------------------- a real mount


@functools.cache
def _can_mount_read_only() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        script = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
        try:
            probe = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True)
        except OSError:
            return False
    return probe.returncode == 0


@pytest.fixture
def read_only_mount():
    """Runs a sh command in a private mount namespace where a folder is mounted read-only."""
    if sys.platform != "linux" or not _can_mount_read_only():
        pytest.skip("needs `unshare -rm` to mount a read-only bind")

    def run(folder: Path, command: str) -> subprocess.CompletedProcess[str]:
        script = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        return subprocess.run(
            ["unshare", "-rm", "sh", "-c", script + command],
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def test_a_read_only_mount_reads_rows_still_in_the_wal(read_only_mount, _tailor_home):
    """A writer that died leaves rows only in -wal: the read-only open must read them (where
    immutable=1 would not), and a cleanly closed index (no -wal, no -shm) must open too."""
    kept = stored_run()
    code = textwrap.dedent(
        """
        import os
        from tailorlm.store import RunStore, db
        conn = db.connect(RunStore().db_path)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("INSERT INTO runs (id, kind, status, created_at, path)"
                     " VALUES ('in-wal', 'eval', 'failed', '2000', '.tmp-in-wal')")
        os._exit(0)  # no close: the row stays in the -wal file
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    wal = _tailor_home / "runs" / "index.sqlite-wal"
    assert wal.is_file()
    lister = f"{sys.executable} -c 'from tailorlm.store import RunStore; " + (
        "print(sorted(r.id for r in RunStore().list()))'"
    )
    expected = str(sorted(["in-wal", kept]))
    result = read_only_mount(_tailor_home, lister)
    assert result.stdout.strip() == expected, result.stderr
    RunStore().list()  # the last connection to close folds the WAL back into the file
    assert not wal.exists()
    result = read_only_mount(_tailor_home, lister)
    assert result.stdout.strip() == expected, result.stderr
