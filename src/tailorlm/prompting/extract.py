"""Parsers that turn what a model wrote into the answer that gets scored. They are part of the
system being measured (and recorded in every run), not a hidden clean-up step."""

from __future__ import annotations

import re
from collections.abc import Callable

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)


def extract_raw(text: str) -> str:
    return text.strip()


def extract_sql(text: str) -> str:
    """The first SQL statement: inside a ``` fence if there is one, else from the first
    SELECT/WITH keyword; cut at the first semicolon."""
    fence = _FENCE.search(text)
    body = fence.group(2) if fence else text
    start = _SQL_START.search(body)
    if start is None:
        return body.strip()
    statement = body[start.start() :].split(";", 1)[0]
    return statement.strip()


def extract_first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


PARSERS: dict[str, Callable[[str], str]] = {
    "raw": extract_raw,
    "sql": extract_sql,
    "first_line": extract_first_line,
}
