"""`/v1/files` and `/v1/fine_tuning/jobs` (+ events, checkpoints, cancel), shaped like
OpenAI's, so code written against OpenAI's fine-tuning API can point at a tailor server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from tailorlm.server.db import loads
from tailorlm.server.files import file_object
from tailorlm.server.jobs import JobService
from tailorlm.server.settings import ServerSettings


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    hyperparameters: dict[str, Any] | None = None  # deprecated by OpenAI; still accepted
    method: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


def _page(rows: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": rows, "has_more": has_more}


def event_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "fine_tuning.job.event",
        "created_at": row["created_at"],
        "level": row["level"],
        "message": row["message"],
        "type": row["type"],
        "data": loads(row["data_json"]),
    }


def checkpoint_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "fine_tuning.job.checkpoint",
        "created_at": row["created_at"],
        "fine_tuning_job_id": row["job_id"],
        "fine_tuned_model_checkpoint": row["fine_tuned_model_checkpoint"],
        "step_number": row["step_number"],
        "metrics": loads(row["metrics_json"]) or {},
    }


def router(jobs: JobService, settings: ServerSettings) -> Any:
    from tailorlm.server.jobs import job_object

    api = APIRouter()
    Limit = Query(20, ge=1, le=100)

    @api.post("/v1/files")
    def upload(file: UploadFile = File(...), purpose: str = Form(...)) -> dict[str, Any]:  # noqa: B008
        return file_object(jobs.upload(file.filename or "", file.file.read(), purpose))

    @api.get("/v1/files")
    def list_files() -> dict[str, Any]:
        return _page([file_object(r) for r in jobs.files.list()], False)

    @api.get("/v1/files/{file_id}")
    def get_file(file_id: str) -> dict[str, Any]:
        return file_object(jobs.files.get(file_id))

    @api.get("/v1/files/{file_id}/content", response_model=None)
    def file_content(file_id: str) -> Any:
        return FileResponse(
            jobs.files.path(jobs.files.get(file_id)), media_type="application/jsonl"
        )

    @api.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        jobs.files.delete(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    @api.post("/v1/fine_tuning/jobs")
    def create_job(body: JobCreate) -> dict[str, Any]:
        return jobs.create(body.model_dump())

    @api.get("/v1/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = Limit) -> dict[str, Any]:
        rows, more = jobs.db.page("jobs", after, limit)
        return _page([job_object(r) for r in rows], more)

    @api.get("/v1/fine_tuning/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return jobs.get(job_id)

    @api.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return jobs.cancel(job_id)

    @api.get("/v1/fine_tuning/jobs/{job_id}/events")
    def job_events(job_id: str, after: str | None = None, limit: int = Limit) -> dict[str, Any]:
        jobs.row(job_id)
        rows, more = jobs.db.page("events", after, limit, "job_id = ?", [job_id])
        return _page([event_object(r) for r in rows], more)

    @api.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def job_checkpoints(
        job_id: str, after: str | None = None, limit: int = Limit
    ) -> dict[str, Any]:
        jobs.row(job_id)
        rows, more = jobs.db.page("checkpoints", after, limit, "job_id = ?", [job_id])
        return _page([checkpoint_object(r) for r in rows], more)

    return api
