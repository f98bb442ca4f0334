"""One fine-tuning job on the local engine: files -> task folder -> `run_finetune` (or
`resume_finetune` after a restart), with training events turned into the job's events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailorlm.server.db import loads
from tailorlm.server.job_config import from_stored
from tailorlm.server.job_data import build_task, task_name

if TYPE_CHECKING:
    from tailorlm.server.jobs import JobService
    from tailorlm.training import FinetuneOutcome


def run_job(service: JobService, job: dict[str, Any]) -> FinetuneOutcome:
    from tailorlm.tasks import load_task
    from tailorlm.training import resume_finetune, run_finetune

    progress = _progress(service, job["id"])
    if job["run_id"]:
        return resume_finetune(job["run_id"], store=service.store, progress=progress)
    folder = service.home / "jobs" / job["id"]
    validation = service.files.get(job["validation_file"]) if job["validation_file"] else None
    data = build_task(
        job["id"],
        folder,
        service.files.path(service.files.get(job["training_file"])),
        service.files.path(validation) if validation else None,
    )
    for warning in data.warnings:
        service.event(job["id"], warning, level="warn")
    config = from_stored(loads(job["hyperparameters_json"]), job["seed"], service.settings)
    service.event(job["id"], "Fine-tuning job started.")
    return run_finetune(
        load_task(data.task_dir, allow_overlap=True),
        model=job["base"],
        config=config,
        prompt_file=data.program_path,
        name=job["suffix"] or "ft-job",
        store=service.store,
        reuse=False,
        unique_name=False,
        progress=progress,
    )


def _progress(service: JobService, job_id: str) -> Any:
    """Training events -> job events; also where cancel and shutdown take effect. The run id
    is recorded at the first event, so a restart can resume this run."""

    def on_event(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            _record_run(service, job_id)
            word = "Resumed" if event["resumed"] else "Started"
            service.event(job_id, f"{word} training at step {event['step']}/{event['total']}.")
        elif kind == "step":
            service.event(
                job_id,
                f"Step {event['step']}/{event['total']}: training loss={event['loss']:.4f}",
                type="metrics",
                data={
                    "step": event["step"],
                    "train_loss": event["loss"],
                    "total_steps": event["total"],
                    "epoch": event.get("epoch"),
                },
            )
            service.check_interrupt(job_id)
        elif kind == "eval":
            service.event(
                job_id,
                f"Step {event['step']}: validation loss={event['dev_loss']:.4f}",
                type="metrics",
                data={"step": event["step"], "valid_loss": event["dev_loss"]},
            )

    return on_event


def _record_run(service: JobService, job_id: str) -> None:
    """This job's run: the newest fine-tuning run of the job's own task."""
    runs = service.store.list(kind="finetune", task=task_name(job_id), limit=1)
    if runs:
        service.db.update("jobs", job_id, run_id=runs[0].id)
