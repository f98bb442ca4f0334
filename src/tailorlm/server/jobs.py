"""Fine-tuning jobs: OpenAI's job API on top of the local engine (`run_finetune`), one job at
a time in a background thread, with every state change in SQLite.

On start, jobs the previous server left `queued` are queued again, and a job it left
`running` is resumed from its run's newest checkpoint (`resume_finetune`), or marked failed
with the reason when nothing is left to resume: never lost, never left "running".

Several servers may share one home (the same TAILOR_HOME): an exclusive lock on
`<home>/jobs.lock` makes exactly one of them the worker, which runs every server's jobs (it
looks for queued jobs in the database when its own queue is empty). The others answer requests
and queue jobs; one of them takes the lock over, and resumes what was left, when the worker's
server stops. Without the lock a second server would have taken the first one's running job
for an interrupted one."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from pathlib import Path
from typing import IO, Any

from tailorlm.errors import Cancelled, TailorError
from tailorlm.server.db import JobsDB, loads
from tailorlm.server.errors import APIError, not_found
from tailorlm.server.files import FileStore, validate_chat_jsonl
from tailorlm.server.registry import Registry, entry_for_run
from tailorlm.server.settings import ServerSettings
from tailorlm.store import RunStore

log = logging.getLogger("tailorlm.server")
ACTIVE = ("validating_files", "queued", "running")
WAITING = ("validating_files", "queued")
FINAL = ("succeeded", "failed", "cancelled")
LOCK_FILE = "jobs.lock"
POLL_S = 1.0  # how often the worker looks for other servers' jobs, and others for the lock


class JobCancelled(Cancelled):
    """Raised inside training when a client cancels the job: its run is marked cancelled."""


class Stopping(Exception):
    """Raised inside training when the server shuts down; the job resumes on next start."""


def now() -> int:
    return int(time.time())


class JobService:
    def __init__(
        self, home: Path, store: RunStore, registry: Registry, settings: ServerSettings
    ) -> None:
        self.home, self.store, self.registry, self.settings = home, store, registry, settings
        self.db = JobsDB(home / "jobs.sqlite")
        self.files = FileStore(home / "files", self.db)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._counter: Any = None
        self._lock: IO[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_worker(self) -> bool:
        """Whether this server holds the home's job lock and so runs the jobs."""
        return self._lock is not None

    def start(self) -> None:
        self._lock = _try_lock(self.home / LOCK_FILE)
        if self._lock is not None:
            self.recover()
        else:
            log.warning(
                "another tailor serve runs the fine-tuning jobs of %s; this one queues jobs "
                "for it and takes over when it stops",
                self.home,
            )
        self._thread = threading.Thread(target=self._work, name="tailor-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def recover(self) -> None:
        for job in self._jobs_in(ACTIVE):
            if job["status"] != "running":
                self._queue.put(job["id"])
            elif job["run_id"] and self._resumable(job["run_id"]):
                self.event(job["id"], "Server restarted; resuming from the last checkpoint.")
                self._queue.put(job["id"])
            else:
                self._fail(
                    job["id"],
                    "server_restart",
                    "The server stopped while the job was running and nothing was left "
                    "to resume from; create the job again.",
                )

    def _jobs_in(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        return self.db.select("jobs", f"status IN ({marks})", statuses)

    def _resumable(self, run_id: str) -> bool:
        try:
            record = self.store.get(run_id)
        except TailorError:
            return False
        return not record.is_complete and record.dir.is_dir()

    # ------------------------------------------------------------------ files and jobs API

    def upload(self, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        def check(raw: bytes) -> tuple[int, int]:
            return validate_chat_jsonl(
                raw,
                self.count_tokens,
                max_tokens=self.settings.max_example_tokens,
                min_examples=1,  # a validation file may be small; training files: at create
            )

        return self.files.create(filename, data, purpose, check)

    def count_tokens(self, text: str) -> int:
        """With the base model's tokenizer when it has one locally, else ~4 characters/token."""
        if self._counter is None:
            try:
                from tailorlm.backends import load_tokenizer

                tok = load_tokenizer(self.registry.base)
                self._counter = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
            except Exception:  # noqa: BLE001 - a remote or fake base has no local tokenizer
                self._counter = lambda t: max(1, len(t) // 4)
        return int(self._counter(text))

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from tailorlm.server.job_config import job_config

        base = self._base(body["model"])
        training = self.files.get(body["training_file"], "training_file")
        if training["examples"] < self.settings.min_examples:
            raise APIError(
                400,
                f"Training file {training['id']} has {training['examples']} example(s); at "
                f"least {self.settings.min_examples} are needed",
                param="training_file",
                code="invalid_training_file",
            )
        if body.get("validation_file"):
            self.files.get(body["validation_file"], "validation_file")
        hyper, method = job_config(body, self.settings)  # checks every value before storing
        job_id = f"ftjob-{secrets.token_hex(12)}"
        self.db.insert(
            "jobs",
            {
                "id": job_id,
                "created_at": now(),
                "model": body["model"],
                "base": base,
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"),
                "suffix": body.get("suffix"),
                "seed": body.get("seed") or 0,
                "hyperparameters_json": hyper,
                "method_json": method,
                "metadata_json": body.get("metadata") or {},
                "status": "validating_files",
            },
        )
        self.event(job_id, f"Validating training file: {body['training_file']}")
        self.db.update("jobs", job_id, status="queued")
        self.event(job_id, "Fine-tuning job created; queued.")
        self._queue.put(job_id)
        return self.get(job_id)

    def _base(self, model: str) -> str:
        for entry in self.registry.bases():
            if entry.id == model:
                return entry.base
        names = ", ".join(e.id for e in self.registry.bases())
        raise APIError(
            400,
            f"Model '{model}' cannot be fine-tuned here; base models: {names}",
            param="model",
            code="model_not_available",
        )

    def row(self, job_id: str) -> dict[str, Any]:
        row = self.db.get("jobs", job_id)
        if row is None:
            raise not_found("fine-tuning job", job_id, "fine_tuning_job_id")
        return row

    def get(self, job_id: str) -> dict[str, Any]:
        return job_object(self.row(job_id))

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.row(job_id)
        if job["status"] in FINAL:
            raise APIError(400, f"Job {job_id} is already {job['status']}", param="job_id")
        if job["status"] == "running":
            self.db.update("jobs", job_id, cancel_requested=1)  # the worker stops at next step
        else:
            self._finish(job_id, "cancelled")
        self.event(job_id, "Cancellation requested.")
        return self.get(job_id)

    def event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.db.insert(
            "events",
            {
                "id": f"ftevent-{secrets.token_hex(12)}",
                "job_id": job_id,
                "created_at": now(),
                "level": level,
                "message": message,
                "type": type,
                "data_json": data,
            },
        )

    def _finish(self, job_id: str, status: str, **extra: Any) -> None:
        self.db.update("jobs", job_id, status=status, finished_at=now(), **extra)

    def _fail(self, job_id: str, code: str, message: str) -> None:
        error = {"code": code, "message": message, "param": None}
        self._finish(job_id, "failed", error_json=error)
        self.event(job_id, f"Fine-tuning job failed: {message}", level="error")

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while self._lock is None:  # another server is the worker: wait until it stops
            if self._stop.wait(POLL_S):
                return
            self._lock = _try_lock(self.home / LOCK_FILE)
            if self._lock is not None:
                log.info("took over the fine-tuning jobs of %s", self.home)
                self.recover()
        try:
            self._work_locked()
        finally:
            lock, self._lock = self._lock, None
            lock.close()  # releases the lock for a server that is still up

    def _work_locked(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=POLL_S)
            except queue.Empty:  # jobs that other servers on this home queued
                for job in self._jobs_in(WAITING):
                    self._queue.put(job["id"])
                continue
            if job_id is None:
                return
            job = self.row(job_id)
            if job["status"] in FINAL:
                continue
            try:
                self._run(job)
            except Stopping:
                log.info("job %s paused for shutdown; it resumes on next start", job_id)
                return
            except Cancelled:
                self._finish(job_id, "cancelled")
                self.event(job_id, "Fine-tuning job cancelled.")
            except TailorError as exc:
                self._fail(job_id, "invalid_training_data", str(exc).replace("\n", " "))
            except Exception as exc:  # noqa: BLE001 - the worker must survive any job
                log.exception("job %s failed", job_id)
                self._fail(job_id, "internal_error", f"{type(exc).__name__}: {exc}")

    def _run(self, job: dict[str, Any]) -> None:
        from tailorlm.server.job_runner import run_job

        self.db.update("jobs", job["id"], status="running")
        outcome = run_job(self, job)
        record = self.store.get(outcome.run_id)
        entry = entry_for_run(record, self.store)
        model = entry.id if entry else record.id
        summary = record.read_json("metrics.json")
        self._finish(
            job["id"],
            "succeeded",
            fine_tuned_model=model,
            run_id=record.id,
            trained_tokens=int(summary["compute"]["tokens"]),
        )
        self._checkpoint(job["id"], model, summary)
        self.event(job["id"], f"New fine-tuned model created: {model}")
        self.event(job["id"], "The job has successfully completed.")

    def _checkpoint(self, job_id: str, model: str, metrics: dict[str, Any]) -> None:
        """The model the job produced (its best step on the validation loss); intermediate
        training checkpoints are not kept once a job succeeds."""
        self.db.insert(
            "checkpoints",
            {
                "id": f"ftckpt-{secrets.token_hex(12)}",
                "job_id": job_id,
                "created_at": now(),
                "step_number": int(metrics.get("best_step") or metrics["steps"]),
                "metrics_json": {
                    "step": metrics.get("best_step") or metrics["steps"],
                    "train_loss": metrics.get("train_loss_at_best"),
                    "valid_loss": metrics.get("best_dev_loss"),
                },
                "fine_tuned_model_checkpoint": model,
            },
        )

    def check_interrupt(self, job_id: str) -> None:
        """Called from training between steps."""
        if self._stop.is_set():
            raise Stopping
        job = self.db.get("jobs", job_id)
        if job is not None and job["cancel_requested"]:
            raise JobCancelled(f"by the client (fine-tuning job {job_id})")


def job_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "fine_tuning.job",
        "created_at": row["created_at"],
        "model": row["model"],
        "training_file": row["training_file"],
        "validation_file": row["validation_file"],
        "status": row["status"],
        "fine_tuned_model": row["fine_tuned_model"],
        "finished_at": row["finished_at"],
        "trained_tokens": row["trained_tokens"],
        "error": loads(row["error_json"]),
        "hyperparameters": loads(row["hyperparameters_json"]),
        "method": loads(row["method_json"]),
        "metadata": loads(row["metadata_json"]) or None,
        "organization_id": "org-tailorlm",
        "result_files": [],
        "seed": row["seed"],
        "suffix": row["suffix"],
        "estimated_finish": None,
        "integrations": [],
    }


def _try_lock(path: Path) -> IO[bytes] | None:
    """The open lock file when this process got the exclusive lock on it, else None. Where
    `fcntl` does not exist (Windows) every server is its own worker, as before."""
    handle = open(path, "ab")  # noqa: SIM115 - held open for the server's life
    try:
        import fcntl
    except ImportError:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle
