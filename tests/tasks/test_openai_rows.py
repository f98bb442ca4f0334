"""OpenAI fine-tuning rows (chat and DPO) as tailorlm chat rows: what maps, and what stops the
import with file, line and field."""

from __future__ import annotations

import json

import pytest

from tailorlm.errors import DataError
from tailorlm.tasks.openai_rows import chat_messages, convert_file

SYS = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Hi?"}
ANSWER = {"role": "assistant", "content": "Hello."}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"messages": [SYS, USER, ANSWER]}, [SYS, USER, ANSWER]),
        # OpenAI's newer name for the system turn; extra keys (weight, name) are left out.
        (
            {"messages": [{"role": "developer", "content": "Be brief."}, USER,
                          {**ANSWER, "weight": 1, "name": "bot"}]},
            [SYS, USER, ANSWER],
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": [
                {"type": "text", "text": "Hel"}, {"type": "text", "text": "lo."}]}]},
            [USER, ANSWER],
        ),
        ({"messages": [{"role": "system", "content": " "}, USER, ANSWER]}, [USER, ANSWER]),
        # DPO: the input conversation, then the preferred answer.
        (
            {"input": {"messages": [SYS, USER]}, "preferred_output": [ANSWER],
             "non_preferred_output": [{"role": "assistant", "content": "Go away."}]},
            [SYS, USER, ANSWER],
        ),
    ],
)  # fmt: skip
def test_rows_that_map(row, expected):
    assert chat_messages(row) == expected


@pytest.mark.parametrize(
    ("row", "field", "message", "unsupported"),
    [
        ({"messages": [USER, {"role": "assistant", "tool_calls": [{}]}]}, "messages[1]",
         "tool or function calls", True),
        ({"messages": [USER, {"role": "tool", "content": "42"}, ANSWER]}, "messages[1]",
         "tool or function calls", True),
        ({"messages": [USER, ANSWER], "tools": [{"type": "function"}]}, "tools", "tools", True),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
                       ANSWER]}, "messages[0].content", "an image", True),
        ({"messages": [SYS, USER]}, "messages", "assistant's answer", False),
        ({"messages": [SYS, ANSWER]}, "messages", "user message", False),
        ({"messages": []}, "messages", "non-empty", False),
        ({"messages": [{"role": "bot", "content": "x"}, ANSWER]}, "messages[0]", "role", False),
        ({"messages": [USER, {"role": "assistant", "content": ""}]}, "messages[1].content",
         "empty", False),
        ({"messages": [USER, {"role": "assistant", "content": 3}]}, "messages[1].content",
         "string", False),
    ],
)  # fmt: skip
def test_rows_that_do_not(row, field, message, unsupported):
    with pytest.raises(DataError, match=message) as err:
        chat_messages(row, "file-1 (train.jsonl)", 7)
    assert (err.value.path, err.value.line, err.value.field) == ("file-1 (train.jsonl)", 7, field)
    assert ("--skip-unsupported" in (err.value.hint or "")) == unsupported


def test_a_file_gets_ids_from_its_lines_and_drops_only_unsupported_rows():
    rows = [{"messages": [USER, ANSWER]}, {"messages": [USER, ANSWER], "tools": [{}]}, "",
            {"messages": [SYS, USER, ANSWER]}]  # fmt: skip
    data = "\n".join(json.dumps(r) if r else "" for r in rows).encode()
    converted = convert_file(data, "f", "valid", skip=True)
    assert [(line, row["id"]) for line, row in converted.rows] == [(1, "valid-1"), (4, "valid-4")]
    assert converted.skipped == 1
    with pytest.raises(DataError, match="f:3: invalid JSON"):
        good = json.dumps({"messages": [USER, ANSWER]}).encode()
        convert_file(good + b"\n" + good + b"\n{oops\n", "f", "train", skip=True)
    with pytest.raises(DataError, match="f:2: not valid UTF-8"):
        convert_file(b"{}\n\xff\n", "f", "train", skip=False)
