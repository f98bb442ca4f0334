"""Leaving OpenAI fine-tuning: an OpenAI fine-tuning job's data as a tailorlm task folder, with
the job's model recorded as a system that `tailor compare` measures beside a local LoRA on the
same test rows.

`import_openai_job` reads the job (`GET /fine_tuning/jobs/{id}`) and its training and
validation files (`GET /files/{id}`, then `/files/{id}/content`) through finetune.remote's
client; `import_openai_file` takes a bare training file (an id, or a local copy).

Rows keep tailorlm's chat format (tasks/openai_rows.py): the last assistant message is the
answer, the turns before it the input; the task's one input field, `prompt`, holds the last
user message. The job's model is asked with the system prompt its rows share (if they do)
and that message, as it was trained.

Dev is the validation file; test is held out of the training rows by the leak-free splitter
(no test row has a near-copy in train or dev); without a validation file the splitter makes
dev too. The folder is written all-or-nothing: a failure leaves nothing behind."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.backends.http import KEY_ENV
from tailorlm.backends.spec import DEFAULT_BASE_URL, ModelSpec
from tailorlm.errors import ConfigError, DataError, ModelError, TailorError
from tailorlm.finetune.data import default_program
from tailorlm.finetune.remote import Api, ApiStatusError
from tailorlm.tasks.folder import staged_folder
from tailorlm.tasks.loader import display_path
from tailorlm.tasks.openai_rows import ConvertedFile, convert_file
from tailorlm.tasks.splitting import SplitSpec, write_splits
from tailorlm.tasks.validate import read_config

SYSTEM_ID = "openai-ft"
SYSTEMS_FILE = "systems.yaml"
PROMPT_FILE = f"prompts/{SYSTEM_ID}.yaml"
INPUT_FIELD = "prompt"
TASK_TYPES = ("auto", "classification", "generation")
_WAITING = ("validating_files", "queued", "running", "paused")
_PREFIX = {"training": "train", "validation": "valid"}  # row ids: train-12 is line 12
_ID = re.compile(r"[\w.:-]+")  # ftjob-..., file-...: never a path on the API


@dataclass(frozen=True)
class ImportResult:
    root: Path
    counts: dict[str, int]  # rows per split
    dev_source: str  # "validation file" or "split"
    skipped: int  # rows with no tailorlm form, dropped by skip_unsupported
    system_prompt: str | None  # the one every row shares, if they do
    model: str | None  # the compared system's model spec (a job's fine-tuned model)
    notes: tuple[str, ...]  # what the numbers will not show by themselves


@dataclass(frozen=True)
class _Source:
    """What a task folder is made of: its rows, and the job whose model it compares."""

    origin: str
    train: ConvertedFile
    valid: ConvertedFile | None = None
    job: dict[str, Any] | None = None
    model: str | None = None  # the job's fine-tuned model as a model spec


# ---------------------------------------------------------------------------- public API


def import_openai_job(
    job_id: str,
    out: str | Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    api_key: str | None = None,
    training_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    task_type: str = "auto",
    split: SplitSpec | None = None,
    skip_unsupported: bool = False,
) -> ImportResult:
    """Write the task folder `out` from a succeeded fine-tuning job, with its fine-tuned model
    in `systems.yaml`. `training_file`/`validation_file`: local copies of the job's files, for
    a provider that does not let its files be downloaded (their sizes must match)."""
    target, spec, base_url = _checked_args(out, task_type, split, base_url)
    _check_id(job_id, "job")
    api = Api(base_url, api_key)
    try:
        job = fetch_job(api, job_id)
        if validation_file is not None and not job.get("validation_file"):
            raise ConfigError(f"fine-tuning job {job_id} has no validation file to replace")
        train = _read(api, job["training_file"], "training", training_file, skip_unsupported)
        valid = None
        if job.get("validation_file"):
            args = (api, job["validation_file"], "validation", validation_file, skip_unsupported)
            valid = _read(*args)
    finally:
        api.client.close()
    model = ModelSpec.parse(f"openai:{job['fine_tuned_model']}@{base_url}").text
    origin = f"OpenAI fine-tuning job {job_id} ({job.get('model') or 'base model unknown'})"
    return _write(target, _Source(origin, train, valid, job, model), spec, task_type)


def import_openai_file(
    file_id: str,
    out: str | Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    api_key: str | None = None,
    task_type: str = "auto",
    split: SplitSpec | None = None,
    skip_unsupported: bool = False,
) -> ImportResult:
    """Write the task folder `out` from one training file: a file id on the API, or the path
    of a local OpenAI-format JSONL file. No compared system: no model was made from it."""
    target, spec, base_url = _checked_args(out, task_type, split, base_url)
    if _is_path(file_id):
        local = Path(file_id).expanduser()
        train = convert_file(_local_bytes(local), display_path(local), "train", skip_unsupported)
    else:
        _check_id(file_id, "file")
        api = Api(base_url, api_key)
        try:
            train = _read(api, file_id, "training", None, skip_unsupported, job=False)
        finally:
            api.client.close()
    return _write(target, _Source(f"the file {train.label}", train), spec, task_type)


def _check_id(value: str, what: str) -> None:
    if not _ID.fullmatch(value):
        example = "ftjob-abc123" if what == "job" else "file-abc123 (or a local .jsonl file)"
        raise ConfigError(f"{value!r} is not a {what} id", hint=f"e.g. {example}")


def fetch_job(api: Api, job_id: str) -> dict[str, Any]:
    """The job object, once it has succeeded; otherwise an error that says what to do."""
    job = _get(
        api,
        f"/fine_tuning/jobs/{job_id}",
        missing=TailorError(
            f"{api.base_url}: no fine-tuning job '{job_id}'",
            hint="check the id (GET /fine_tuning/jobs lists them) and that --base-url is the "
            "API's, ending in /v1",
        ),
    )
    if not isinstance(job, dict) or "status" not in job or not job.get("training_file"):
        raise TailorError(f"{api.base_url}: the answer for {job_id} is not a fine-tuning job")
    _check_succeeded(job)
    return job


def _check_succeeded(job: dict[str, Any]) -> None:
    status, job_id = job["status"], job.get("id", "?")
    training = job["training_file"]
    rerun = f"import its training data instead: tailor import openai-file {training} --out DIR"
    if (job.get("method") or {}).get("type") == "reinforcement":
        raise TailorError(
            f"fine-tuning job {job_id} is reinforcement fine-tuning: its rows hold no answer "
            "to learn or to score",
            hint="tailorlm imports supervised and DPO jobs",
        )
    if status == "succeeded":
        if not job.get("fine_tuned_model"):
            raise TailorError(f"fine-tuning job {job_id} succeeded but names no fine_tuned_model")
        return
    if status in _WAITING:
        raise TailorError(
            f"fine-tuning job {job_id} is still {status}: it has no model to compare yet",
            hint="wait until it has succeeded, then run this command again",
        )
    if status == "failed":
        error = job.get("error") or {}
        why = error.get("message") or "no reason given"
        code = f" ({error['code']})" if error.get("code") else ""
        raise TailorError(f"fine-tuning job {job_id} failed: {why}{code}", hint=rerun)
    raise TailorError(f"fine-tuning job {job_id} is {status}, not succeeded", hint=rerun)


# ---------------------------------------------------------------------------- reading files


def _read(
    api: Api, file_id: str, role: str, local: str | Path | None, skip: bool, *, job: bool = True
) -> ConvertedFile:
    """The `role` (training/validation) file: downloaded, or `local` checked against it."""
    what = f"the job's {role} file" if job else "file"
    copy = f"--{role}-file PATH" if job else "tailor import openai-file PATH (your copy)"
    gone = TailorError(
        f"{api.base_url}: {what} {file_id} is gone (HTTP 404)",
        hint=f"if you kept a copy, pass it: {copy}",
    )
    meta = _get(api, f"/files/{file_id}", missing=gone)
    label = f"{file_id} ({meta.get('filename') or role})"
    if local is not None:
        data = _local_bytes(Path(local).expanduser())
        if meta.get("bytes") not in (None, len(data)):
            raise DataError(
                f"has {len(data)} bytes; {what} {label} has {meta['bytes']}",
                path=str(local),
                hint="pass the very file the job was created with: other rows would make the "
                "comparison unfair",
            )
        return convert_file(data, label, _PREFIX[role], skip)
    try:
        data = api.content(f"/files/{file_id}/content")
    except ApiStatusError as exc:
        if exc.status in (400, 403) and "download" in exc.detail.lower():
            raise TailorError(
                f"{api.base_url} does not let {label} be downloaded: {exc.detail}",
                hint=f"pass your own copy of the file you uploaded: {copy}",
            ) from None
        raise _explained(exc, api, gone) from None
    return convert_file(data, label, _PREFIX[role], skip)


def _is_path(file_id: str) -> bool:
    """File ids are `file-...`; anything with a slash or a suffix is the user's own file."""
    return Path(file_id).expanduser().is_file() or "/" in file_id or "." in file_id


def _local_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"no file {display_path(path)}", hint="check the path")
    return path.read_bytes()


def _get(api: Api, path: str, *, missing: TailorError) -> Any:
    try:
        return api.call("GET", path)
    except ApiStatusError as exc:
        raise _explained(exc, api, missing) from None


def _explained(exc: ApiStatusError, api: Api, missing: TailorError) -> TailorError:
    if exc.status == 404:
        return missing
    if exc.status == 401:
        return ModelError(
            f"{api.base_url} refused the API key (HTTP 401): {exc.detail}",
            hint=f"pass a valid key with --api-key, or set {KEY_ENV}",
        )
    return exc


# ---------------------------------------------------------------------------- the task folder


def _checked_args(
    out: str | Path, task_type: str, split: SplitSpec | None, base_url: str
) -> tuple[Path, SplitSpec, str]:
    target = Path(out).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{display_path(target)} already exists", hint="pick a new --out folder")
    if task_type not in TASK_TYPES:
        raise ConfigError(
            f"unknown task type '{task_type}'", hint=f"one of {', '.join(TASK_TYPES)}"
        )
    spec = split or SplitSpec()
    spec.check()
    base_url = base_url.rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url {base_url!r} is not an http(s) URL", hint=DEFAULT_BASE_URL)
    return target, spec, base_url


def _write(target: Path, src: _Source, spec: SplitSpec, task_type: str) -> ImportResult:
    train, valid = src.train, src.valid
    rows = [r for _, r in [*train.rows, *(valid.rows if valid else ())]]
    shared = _shared_system(rows)
    kind = _task_type(rows) if task_type == "auto" else task_type
    source = src.origin if not src.job else f"{src.origin}: training file {train.label}"
    source += f", validation file {valid.label} as dev" if valid else ""
    with staged_folder(target, copy_existing=False) as stage:
        _write_config(stage, target.name, kind, shared, rows, source)
        dev_rows = valid.rows if valid else ()
        result = write_splits(stage, train.rows, spec, dev_rows=dev_rows, source=source)
        if src.job is not None and src.model is not None:
            _write_system(stage, src.model, src.job, shared)
    skipped = train.skipped + (valid.skipped if valid else 0)
    dev_source = "validation file" if valid else "split"
    notes = _notes(rows, shared, skipped, prompted=src.job is not None)
    return ImportResult(target, result.counts, dev_source, skipped, shared, src.model, notes)


def _shared_system(rows: list[dict[str, Any]]) -> str | None:
    first = {
        r["messages"][0]["content"] if r["messages"][0]["role"] == "system" else None for r in rows
    }
    return first.pop() if len(first) == 1 else None


def _task_type(rows: list[dict[str, Any]]) -> str:
    """Classification when the answers are a few short labels (as `tailor data stats` judges
    label balance), else free text."""
    answers = Counter(r["messages"][-1]["content"] for r in rows)
    short = all(len(a) <= 40 and "\n" not in a for a in answers)
    return "classification" if short and len(answers) <= min(20, len(rows) // 2) else "generation"


def _write_config(
    stage: Path, name: str, kind: str, shared: str | None, rows: list[dict], source: str
) -> None:
    from tailorlm.tasks.scaffold import task_yaml

    extra: dict[str, Any] = {}
    if kind == "classification":
        extra["labels"] = sorted({r["messages"][-1]["content"] for r in rows})
    text = task_yaml(
        name,
        kind,
        description=f"Imported from {source}; describe the task here.",
        input_fields=[INPUT_FIELD],
        role="",
        system_prompt=shared or "",
        **extra,
    )
    (stage / "task.yaml").write_text(text, encoding="utf-8")


def _write_system(stage: Path, model: str, job: dict[str, Any], shared: str | None) -> None:
    """systems.yaml with the job's model, and the prompt it is asked with: the system prompt
    its training rows shared, then the last user message as it was."""
    program = replace(
        default_program(read_config(stage)),
        name=SYSTEM_ID,
        system=shared or "",
        meta={"source": f"OpenAI fine-tuning job {job['id']}", "model": job["fine_tuned_model"]},
    )
    (stage / PROMPT_FILE).parent.mkdir(parents=True, exist_ok=True)
    program.save(stage / PROMPT_FILE)
    label = json.dumps(f"OpenAI fine-tune ({job['fine_tuned_model']})", ensure_ascii=False)
    (stage / SYSTEMS_FILE).write_text(
        "# Systems this task brings to `tailor compare`, measured beside the built-in ones.\n"
        f"- id: {SYSTEM_ID}              # [a-z0-9-]+, unique\n"
        f"  label: {label}\n"
        f"  model: {json.dumps(model, ensure_ascii=False)}   # a tailorlm model spec\n"
        f"  prompt: {PROMPT_FILE}   # optional: a saved prompt program, relative to the task "
        "folder\n"
        "  approach: finetune         # prompt | finetune | both\n",
        encoding="utf-8",
    )


def _notes(
    rows: list[dict[str, Any]], shared: str | None, skipped: int, *, prompted: bool
) -> tuple[str, ...]:
    notes = []
    if skipped:
        notes.append(f"{skipped} rows with tools, function calls, images or audio were dropped")
    systems = any(m["role"] == "system" for r in rows for m in r["messages"])
    if prompted and shared is None and systems:
        notes.append(
            f"the rows do not share one system prompt, so {PROMPT_FILE} has none: the "
            "fine-tuned model is asked with the last user message alone"
        )
    turns = sum(1 for r in rows if sum(m["role"] == "user" for m in r["messages"]) > 1)
    if turns:
        notes.append(
            f"{turns} rows are multi-turn conversations: they are kept whole in the task files, "
            "but prompts send only the system prompt and the last user message"
        )
    return tuple(notes)
