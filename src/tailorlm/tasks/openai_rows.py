"""OpenAI fine-tuning files (chat or DPO JSONL) as tailorlm chat rows.

A row becomes `{"id", "messages"}` (README, "Task format"): the last assistant message is the
answer, the turns before it (system prompt and conversation) the input. A DPO row is its input
conversation plus its preferred output. OpenAI's `developer` role counts as `system`, text-only
content parts are joined, an empty system turn is dropped, and extra keys (`weight`, `name`)
are left out. Rows that use tools, function calls, images or audio have no tailorlm form: they
stop the import with file, line and field, or are dropped (`skip`) and counted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tailorlm.errors import DataError

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_MEDIA = {"image_url": "an image", "input_audio": "audio", "file": "a file"}


@dataclass(frozen=True)
class ConvertedFile:
    """One training or validation file, converted: (line, tailorlm row) pairs."""

    label: str  # how errors and split.json name it
    rows: list[tuple[int, dict[str, Any]]]
    skipped: int


def convert_file(data: bytes, label: str, prefix: str, skip: bool) -> ConvertedFile:
    """Every row of a file as a tailorlm chat row, id'd by its file and line (`train-12`)."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"not valid UTF-8 ({exc.reason})", path=label, line=line) from None
    rows, skipped = [], 0
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            messages = chat_messages(_json(raw, line, label), label, line)
        except _Unsupported:
            if not skip:
                raise
            skipped += 1
            continue
        rows.append((line, {"id": f"{prefix}-{line}", "messages": messages}))
    if not rows:
        raise DataError("no rows to import", path=label)
    return ConvertedFile(label, rows, skipped)


def _json(raw: str, line: int, label: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=label, line=line) from None


class _Unsupported(DataError):
    """A well-formed row that has no tailorlm form (tools, images...)."""


@dataclass(frozen=True)
class _Where:
    """A row's file and line, for its errors."""

    label: str
    line: int

    def error(self, message: str, field: str | None = None) -> DataError:
        return DataError(message, path=self.label, line=self.line, field=field)

    def unsupported(self, message: str, field: str | None = None) -> DataError:
        hint = "tailorlm rows are text conversations; --skip-unsupported drops such rows"
        return _Unsupported(message, path=self.label, line=self.line, field=field, hint=hint)


def chat_messages(row: Any, label: str = "row", line: int = 1) -> list[dict[str, str]]:
    """One row of an OpenAI fine-tuning file (chat or DPO) as tailorlm's chat turns; errors
    name `label` (the file) and `line`."""
    at = _Where(label, line)
    if not isinstance(row, dict):
        raise at.error("expected a JSON object")
    dpo = "preferred_output" in row
    conversation = row.get("input") if dpo else row
    if not isinstance(conversation, dict):
        raise at.error("must be an object holding messages", "input")
    if conversation.get("tools") or conversation.get("functions"):
        raise at.unsupported("declares tools", "tools")
    messages = conversation.get("messages")
    if dpo and isinstance(messages, list):
        preferred = row["preferred_output"]
        messages = [*messages, *(preferred if isinstance(preferred, list) else [preferred])]
    if not isinstance(messages, list) or not messages:
        raise at.error("must be a non-empty list", "messages")
    turns = [t for i, m in enumerate(messages) if (t := _turn(m, f"messages[{i}]", at))]
    if not turns or turns[-1]["role"] != "assistant":
        raise at.error("the last message must be the assistant's answer", "messages")
    if not any(t["role"] == "user" for t in turns):
        raise at.error("needs a user message before the answer", "messages")
    return turns


def _turn(message: Any, where: str, at: _Where) -> dict[str, str] | None:
    """A message as {role, content}; None for an empty system turn (nothing to keep)."""
    if not isinstance(message, dict):
        raise at.error("must be an object", where)
    role = message.get("role")
    if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
        raise at.unsupported("uses tool or function calls", where)
    if role not in _ROLES:
        raise at.error(f"role must be one of {', '.join(_ROLES)}, found {json.dumps(role)}", where)
    content = _content(message.get("content"), f"{where}.content", at)
    if not content.strip():
        if _ROLES[role] == "system":
            return None
        raise at.error("is empty", f"{where}.content")
    return {"role": _ROLES[role], "content": content}


def _content(content: Any, where: str, at: _Where) -> str:
    """A string, or text parts joined; a part with media has no tailorlm form."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise at.error("must be a string or a list of parts", where)
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _MEDIA:
            raise at.unsupported(f"holds {_MEDIA[kind]}", where)
        if kind != "text" or not isinstance(part.get("text"), str):
            raise at.error('each part must be {"type": "text", "text": ...}', where)
        texts.append(part["text"])
    return "".join(texts)
