"""Orchestration (L4) of fine-tuning through an OpenAI-compatible fine-tuning API (`--target
openai@BASE_URL`): the same command drives a hosted provider or a local `tailor serve`.

The task's train split (and dev, as the validation file) is rendered with the prompt program
into chat JSONL, uploaded, a job is created and followed to its end, and the result is stored
as a `finetune-remote` run: config.json, program.json (evaluate the model with the same
prompt), job.json (the final job object) and events.jsonl. The model it names lives on the
remote server: `tailor eval TASK --model openai:<fine_tuned_model>@BASE_URL --prompt ...`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.backends.models import DEFAULT_MODEL
from tailorlm.config import run_config
from tailorlm.errors import ModelError
from tailorlm.finetune.data import default_program
from tailorlm.finetune.remote import Api, chat_jsonl, hyperparameters, parse_target
from tailorlm.finetune.runner import data_hash
from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore, RunWriter
from tailorlm.store.steps import artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.types import EventFn

KIND = "finetune-remote"
PROGRAM_FILE = artifact(KIND, "program")
JOB_FILE = artifact(KIND, "job")
EVENTS_FILE = artifact(KIND, "events")
FINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class RemoteOutcome:
    run_id: str
    job_id: str
    fine_tuned_model: str
    base_url: str
    summary: dict[str, Any]
    program_path: Path
    reused: bool = False


def remote_finetune(
    task: str | Path | Task,
    *,
    target: str,
    model: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    prompt_file: str | Path | None = None,
    name: str | None = None,
    api_key: str | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    progress: EventFn | None = None,
    poll_s: float = 2.0,
) -> RemoteOutcome:
    """Upload the task, run a fine-tuning job on `target`, follow it, store the run."""
    task = task if isinstance(task, Task) else load_task(task)
    base_url = parse_target(target)
    program = PromptProgram.load(Path(prompt_file)) if prompt_file else default_program(task.config)
    record = run_config(
        KIND,
        task.ref,
        model or DEFAULT_MODEL,
        seed or 0,
        target=base_url,
        program=program.to_dict(),
        hyperparameters=hyperparameters(epochs, batch_size, learning_rate),
    )
    store, api = store or RunStore(), Api(base_url, api_key)
    files: dict[str, str] = {}
    opened = open_step(
        store,
        KIND,
        record,
        data_hash(task),
        name=name or "remote",
        task=task.name,
        model=model or DEFAULT_MODEL,
        reuse=reuse,
        resume=reuse,
        # Interrupted while following: the job went on remotely, so follow it again.
        can_resume=lambda previous: (previous.dir / JOB_FILE).is_file(),
        before_start=lambda: files.update(_upload(api, task, program)),  # bad data: no run
    )
    with opened as step:
        if (done := step.record) is not None:
            s, path = done.summary, done.dir / PROGRAM_FILE
            return RemoteOutcome(
                done.id, s["job_id"], s["fine_tuned_model"], base_url, s, path, True
            )
        writer = step.out
        if step.resumed:
            summary = _follow_to_end(api, writer, writer.read_json(JOB_FILE), progress, poll_s)
        else:
            writer.write_json(PROGRAM_FILE, program.to_dict())
            summary = _run_job(api, writer, record, files, name, progress, poll_s)
    return _outcome(store, writer.id, summary, base_url)


def _outcome(store: RunStore, run_id: str, summary: dict[str, Any], url: str) -> RemoteOutcome:
    path = store.get(run_id).dir / PROGRAM_FILE
    return RemoteOutcome(run_id, summary["job_id"], summary["fine_tuned_model"], url, summary, path)


def _upload(api: Api, task: Task, program: PromptProgram) -> dict[str, str]:
    files = {"training_file": api.upload("train.jsonl", chat_jsonl(task, "train", program))}
    if "dev" in task.available_splits():
        files["validation_file"] = api.upload("dev.jsonl", chat_jsonl(task, "dev", program))
    return files


def _run_job(
    api: Api,
    writer: RunWriter,
    record: dict[str, Any],
    files: dict[str, str],
    name: str | None,
    progress: EventFn | None,
    poll_s: float,
) -> dict[str, Any]:
    """Create the job and follow it; its summary once it succeeded."""
    body = {
        "model": record["model"],
        **files,
        "seed": record["seed"],
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": record["hyperparameters"]},
        },
    }
    if name:
        body["suffix"] = name[:64]
    job = api.call("POST", "/fine_tuning/jobs", json=body)
    writer.write_json(JOB_FILE, job)  # first, so an interrupted command can follow it again
    return _follow_to_end(api, writer, job, progress, poll_s)


def _follow_to_end(
    api: Api, writer: RunWriter, job: dict[str, Any], progress: EventFn | None, poll_s: float
) -> dict[str, Any]:
    started = time.perf_counter()
    writer.set_summary({"job_id": job["id"], "base_url": api.base_url})
    job = _follow(api, job, writer, progress or (lambda event: None), poll_s)
    writer.write_json(JOB_FILE, job)
    if job["status"] != "succeeded":
        error = (job.get("error") or {}).get("message") or job["status"]
        raise ModelError(
            f"Fine-tuning job {job['id']} {job['status']}: {error}",
            hint=f"see its events: GET {api.base_url}/fine_tuning/jobs/{job['id']}/events",
        )
    summary = {
        "job_id": job["id"],
        "fine_tuned_model": job["fine_tuned_model"],
        "base_url": api.base_url,
        "trained_tokens": job.get("trained_tokens"),
        "hyperparameters": job.get("hyperparameters"),
        # The job's own clock (queue + training), or ours if the server gives none.
        "wall_s": (job.get("finished_at") or 0) - (job.get("created_at") or 0)
        if job.get("finished_at")
        else time.perf_counter() - started,
    }
    writer.set_summary(summary)
    return summary


def _follow(
    api: Api, job: dict[str, Any], writer: RunWriter, progress: EventFn, poll_s: float
) -> dict[str, Any]:
    """Poll the job until it ends, passing each new event on (oldest first) and keeping it."""
    seen = {event["id"] for event in writer.read_jsonl(EVENTS_FILE)}  # from before a resume
    while True:
        events = api.call("GET", f"/fine_tuning/jobs/{job['id']}/events", params={"limit": 100})
        for event in reversed(events.get("data", [])):
            if event["id"] not in seen:
                seen.add(event["id"])
                writer.append_jsonl(EVENTS_FILE, event)
                progress(event)
        if job["status"] in FINAL:
            return job
        time.sleep(poll_s)
        job = api.call("GET", f"/fine_tuning/jobs/{job['id']}")
