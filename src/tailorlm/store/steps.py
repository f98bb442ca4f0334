"""The stored step: the one door every run kind (eval, optimize, finetune, compare, ...) goes
through to the run store.

`open_step(store, kind, config, data_hash, ...)` decides *reused* (an identical complete run
exists), *resumed* (an identical unfinished run's folder survives) or *new*, and yields a `Step`
whose writer leaves the run folder complete or not there at all. Identical steps are
serialized by a lock file per (kind, config hash, data hash), held while the step works: two
processes, two threads, or a compare and a server job that start the same step end with one
complete run that both use, the second waiting and then reusing it. A step's config starts
with `config.run_config(...)`, and its files are named in `ARTIFACTS`, so no module spells
them itself.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from tailorlm.errors import StoreError
from tailorlm.paths import make_dir, writing
from tailorlm.store.files import config_hash
from tailorlm.store.runs import RunRecord, RunStore, RunWriter

StepStatus = Literal["reused", "resumed", "new"]
LOCKS_DIR = ".locks"

# What each run kind stores, by role: modules ask here instead of spelling file names.
ARTIFACTS: dict[str, dict[str, str]] = {
    "eval": {
        "rows": "examples.jsonl",
        "metrics": "metrics.json",
        "program": "program.json",
        "state": "state.json",
    },
    "optimize": {"program": "program.yaml", "trials": "trials.jsonl", "result": "result.json"},
    "finetune": {
        "program": "program.json",
        "metrics": "metrics.json",
        "loss_curve": "loss_curve.svg",
    },
    "finetune-remote": {"program": "program.json", "job": "job.json", "events": "events.jsonl"},
    "learning-curve": {"curve": "curve.json", "points": "curve.jsonl"},
    "latency": {"latency": "latency.json"},
    "compare": {"comparison": "comparison.json"},
    "label": {"rows": "labels.jsonl", "program": "program.json", "result": "result.json"},
}


def artifact(kind: str, role: str) -> str:
    """The file name of `role` in a `kind` run, e.g. artifact("eval", "rows")."""
    try:
        return ARTIFACTS[kind][role]
    except KeyError:
        raise StoreError(f"Run kind '{kind}' has no artifact '{role}'") from None


@dataclass(frozen=True)
class Step:
    """An opened step: `record` when reused, else `writer` (new or resumed)."""

    status: StepStatus
    record: RunRecord | None = None
    writer: RunWriter | None = None

    @property
    def reused(self) -> bool:
        return self.status == "reused"

    @property
    def resumed(self) -> bool:
        return self.status == "resumed"

    @property
    def out(self) -> RunWriter:
        """The writer of a new or resumed step (a reused one has none)."""
        if self.writer is None:
            raise StoreError("A reused step has no writer", hint="read step.record instead")
        return self.writer

    @property
    def run_id(self) -> str:
        if self.writer is not None:
            return self.writer.id
        assert self.record is not None
        return self.record.id


@contextmanager
def open_step(
    store: RunStore,
    kind: str,
    config: Mapping[str, Any],
    data_hash: str,
    *,
    name: str | None,
    task: str | None,
    model: str | None,
    parent_id: str | None = None,
    reuse: bool = True,
    resume: bool = True,
    before_start: Callable[[], None] | None = None,
    can_resume: Callable[[RunRecord], bool] | None = None,
    can_reuse: Callable[[RunRecord], bool] | None = None,
) -> Iterator[Step]:
    """Reuse, resume or start the step `kind` + `config` on `data_hash`.

    While the block runs, no identical step runs elsewhere. On a clean exit a new or resumed
    run completes (unless the block completed it); an exception marks it failed or interrupted
    and propagates. `before_start` runs only when a new run is about to be created (checks
    that must not leave a record behind); `can_resume` says whether an unfinished run left
    enough to continue from; `can_reuse` whether a complete one holds everything (one that does
    not is computed again, in a new run that then comes first)."""
    chash = config_hash(config)  # first: an unserializable config fails before any I/O
    with step_lock(store, kind, chash, data_hash):
        done = store.find_reusable(kind, chash, data_hash) if reuse else None
        if done is not None and (can_reuse is None or can_reuse(done)):
            yield Step("reused", record=done)
            return
        previous = store.resume_candidates(kind, chash, data_hash) if resume else None
        if previous is not None and (can_resume is None or can_resume(previous)):
            writer, status = store.reopen(previous.id), "resumed"
        else:
            store.check_writable()  # a read-only store refuses before the step's checks run
            if before_start is not None:
                before_start()
            writer = store.start(
                kind,
                name=name,
                task=task,
                model=model,
                config=config,
                data_hash=data_hash,
                parent_id=parent_id,
            )
            status = "new"
        with writer:
            yield Step(status, writer=writer)  # type: ignore[arg-type]


@contextmanager
def step_lock(store: RunStore, kind: str, chash: str, data_hash: str) -> Iterator[None]:
    """Hold the lock of one step; waits while another process or thread holds it. The OS
    drops a dead holder's lock, so a killed step never blocks the next one. A read-only store
    needs no lock (nothing here can write to it) and can't create one; it can still reuse a
    stored run, and `store.start` says why it can't make a new one."""
    if store.read_only:
        yield
        return
    with _lock_file(store, kind, chash, data_hash) as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def step_busy(store: RunStore, kind: str, chash: str, data_hash: str) -> bool:
    """Whether a live process or thread works on this step now."""
    if store.read_only:
        return False  # no lock file can be created to ask; and nothing could write here
    with _lock_file(store, kind, chash, data_hash) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


@contextmanager
def record_lock(store: RunStore, record: RunRecord, *, wait: bool = True) -> Iterator[None]:
    """The step lock of an existing run (e.g. to resume it by id); with `wait=False` a run
    that a live process works on raises StoreError instead of waiting."""
    args = (store, record.kind, record.config_hash or "", record.data_hash or "")
    if not wait and step_busy(*args):
        raise StoreError(
            f"Run '{record.id}' is still running in another process.",
            hint="wait for it to finish, or stop that process first",
        )
    with step_lock(*args):
        yield


@contextmanager
def _lock_file(store: RunStore, kind: str, chash: str, data_hash: str) -> Iterator[IO[bytes]]:
    store.check_writable()
    folder = make_dir(Path(store.root) / LOCKS_DIR)
    # One file per step, never deleted: deleting a lock file another process has open would
    # let a third process lock a new file of the same name at the same time.
    path = folder / f"{kind}-{chash[:24]}-{data_hash[:24]}.lock"
    with writing(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as fh:
        yield fh
