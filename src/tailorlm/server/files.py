"""Uploaded files: stored under `<home>/files/<generated id>.jsonl` (never a client-supplied
path), written to a temp file and renamed, and validated on upload by OpenAI's rules for
fine-tuning data, with the line and field of the first problem."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tailorlm.server.db import JobsDB
from tailorlm.server.errors import APIError, not_found

PURPOSES = ("fine-tune",)
ROLES = ("system", "user", "assistant")
TokenCounter = Callable[[str], int]


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "file",
        "bytes": row["bytes"],
        "created_at": row["created_at"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": row["status"],
        "expires_at": None,
        "status_details": None,
    }


class FileStore:
    def __init__(self, root: Path, db: JobsDB) -> None:
        self.root, self.db = root, db
        root.mkdir(parents=True, exist_ok=True)

    def create(
        self, filename: str, data: bytes, purpose: str, check: Callable[[bytes], tuple[int, int]]
    ) -> dict[str, Any]:
        if purpose not in PURPOSES:
            raise APIError(
                400,
                f"purpose {purpose!r} is not supported; use 'fine-tune'",
                param="purpose",
                code="invalid_value",
            )
        examples, tokens = check(data)
        file_id = f"file-{secrets.token_hex(12)}"
        path = self.root / f"{file_id}.jsonl"
        _atomic_write(path, data)
        row = {
            "id": file_id,
            "filename": Path(filename or "upload.jsonl").name[:255],
            "bytes": len(data),
            "created_at": int(time.time()),
            "purpose": purpose,
            "status": "processed",
            "path": path.name,
            "examples": examples,
            "tokens": tokens,
        }
        self.db.insert("files", row)
        return row

    def get(self, file_id: str, param: str = "file_id") -> dict[str, Any]:
        row = self.db.get("files", file_id)
        if row is None:
            raise not_found("file", file_id, param)
        return row

    def path(self, row: dict[str, Any]) -> Path:
        return self.root / row["path"]

    def delete(self, file_id: str) -> None:
        row = self.get(file_id)
        self.path(row).unlink(missing_ok=True)
        self.db.delete("files", file_id)

    def list(self) -> list[dict[str, Any]]:
        return self.db.select("files", order="rowid DESC")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def validate_chat_jsonl(
    data: bytes, count_tokens: TokenCounter, *, max_tokens: int, min_examples: int
) -> tuple[int, int]:
    """(examples, tokens) of a fine-tuning file, or an APIError naming line and field."""
    text = _utf8(data)
    examples = tokens = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        messages = _messages(line, number)
        used = sum(count_tokens(m["content"]) for m in messages)
        if used > max_tokens:
            raise _bad(number, "messages", f"has {used} tokens; the limit is {max_tokens}")
        examples, tokens = examples + 1, tokens + used
    if examples < min_examples:
        raise _bad(None, None, f"has {examples} example(s); at least {min_examples} are needed")
    return examples, tokens


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _bad(
            line,
            None,
            f"is not UTF-8 (byte {data[exc.start]:#04x} at byte {column} of the line); the "
            "file must be UTF-8 text: save it as UTF-8 and upload it again",
        ) from exc


def _messages(line: str, number: int) -> list[dict[str, str]]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise _bad(number, None, f"is not valid JSON ({exc})") from exc
    if not isinstance(row, dict):
        raise _bad(number, None, "must be a JSON object")
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(number, "messages", "must be a non-empty list")
    for index, message in enumerate(messages):
        _check_message(message, number, f"messages[{index}]")
    if not any(m["role"] == "assistant" for m in messages):
        raise _bad(number, "messages", "needs at least one assistant message")
    return messages


def _check_message(message: Any, number: int, where: str) -> None:
    if not isinstance(message, dict):
        raise _bad(number, where, "must be an object")
    if message.get("role") not in ROLES:
        raise _bad(
            number,
            f"{where}.role",
            f"must be one of {', '.join(ROLES)}, found {json.dumps(message.get('role'))}",
        )
    if not isinstance(message.get("content"), str):
        raise _bad(number, f"{where}.content", "must be a string")


def _bad(line: int | None, field: str | None, message: str) -> APIError:
    parts = [
        "Invalid training file",
        f"line {line}" if line else "",
        f"field '{field}'" if field else "",
    ]
    return APIError(
        400,
        ": ".join(p for p in parts if p) + f": {message}",
        code="invalid_file_format",
        param="file",
    )
