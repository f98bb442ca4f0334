"""A fine-tuning job's uploaded chat files -> a task folder the local engine trains on, plus
the prompt program that reproduces the uploaded conversations' shape.

The engine trains on (program-rendered request, answer) pairs; the program here is the most
common system message of the file plus the bare last user turn, and it is marked
`passthrough` so the served model receives a client's messages unchanged, as OpenAI does."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailorlm.prompting.program import PromptProgram

_PLACEHOLDER = {
    "id": "placeholder",
    "messages": [
        {"role": "user", "content": "(placeholder test row of a fine-tuning job; not used)"},
        {"role": "assistant", "content": "-"},
    ],
}


@dataclass(frozen=True)
class JobData:
    task_dir: Path
    program_path: Path
    warnings: tuple[str, ...]


def task_name(job_id: str) -> str:
    return f"job-{job_id.removeprefix('ftjob-')}"


def build_task(
    job_id: str, folder: Path, train_file: Path, validation_file: Path | None
) -> JobData:
    task_dir = folder / "task"
    task_dir.mkdir(parents=True, exist_ok=True)
    rows = _rows(train_file)
    config = {
        "name": task_name(job_id),
        "description": f"Uploaded data of fine-tuning job {job_id}.",
        "input_fields": ["question"],
        "output_type": "text",
        "metric": "exact_match",
    }
    (task_dir / "task.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copyfile(train_file, task_dir / "train.jsonl")
    # A task folder needs a test split; a job never evaluates on it, so one placeholder row
    # (that overlaps no training row, which the loader would refuse) stands in.
    (task_dir / "test.jsonl").write_text(json.dumps(_PLACEHOLDER) + "\n", encoding="utf-8")
    if validation_file is not None:
        shutil.copyfile(validation_file, task_dir / "dev.jsonl")
    system, warnings = _system_message(rows)
    program = PromptProgram(
        name="fine-tuning-job",
        system=system,
        user_template="{{ question }}",
        meta={"passthrough": True, "fine_tuning_job": job_id},
    )
    program_path = folder / "program.yaml"
    program.save(program_path)
    return JobData(task_dir, program_path, warnings + _turn_warnings(rows))


def _rows(path: Path) -> list[list[dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["messages"] for line in lines if line.strip()]


def _system_message(rows: list[list[dict[str, Any]]]) -> tuple[str, tuple[str, ...]]:
    systems = Counter(
        next((m["content"] for m in row if m["role"] == "system"), "") for row in rows
    )
    system, _ = systems.most_common(1)[0]
    if len(systems) == 1:
        return system, ()
    return system, (
        f"The training rows have {len(systems)} different system messages; training used the "
        "most common one for every row.",
    )


def _turn_warnings(rows: list[list[dict[str, Any]]]) -> tuple[str, ...]:
    multi = sum(1 for row in rows if sum(m["role"] == "assistant" for m in row) > 1)
    if not multi:
        return ()
    return (
        f"{multi} row(s) have several assistant turns; only the last user turn and the final "
        "assistant answer of each row are trained on.",
    )
