"""Parsers that turn what a model wrote into the answer that gets scored. They are part of the
system being measured (and recorded in every run), not a hidden clean-up step.

`cot_<name>` parsers serve "think, then answer" formats: they keep what follows the last
`Answer:` marker and hand it to `<name>`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# A paragraph after a blank line that starts with one of these still belongs to the query.
_SQL_CONTINUES = re.compile(
    r"\s*(\(|\)|FROM|WHERE|JOIN|LEFT|INNER|CROSS|ON|AND|OR|GROUP|ORDER|HAVING|LIMIT|UNION|"
    r"EXCEPT|INTERSECT|SELECT|CASE|WHEN|ELSE|END)\b",
    re.IGNORECASE,
)
_ANSWER = re.compile(r"(?:final\s+)?answer\s*:", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)")

Parser = Callable[[str], str]


def extract_raw(text: str) -> str:
    return text.strip()


def extract_sql(text: str) -> str:
    """The first SQL statement: inside a ``` fence if there is one, else from the first
    SELECT/WITH keyword; cut at the first `;` outside quotes, or where prose resumes after a
    blank line."""
    from tailorlm.metrics.sql_exec import split_statements  # imports sqlglot: only when parsing

    body = _sql_fence(text)
    start = _SQL_START.search(body)
    if start is None:
        return body.strip()
    statement = _trim_prose(body[start.start() :])
    parts = split_statements(statement)
    return parts[0] if parts else statement.strip()


def _sql_fence(text: str) -> str:
    fences = list(_FENCE.finditer(text))
    for fence in fences:  # a chatty model may fence an example table before the query
        if fence.group(1).lower() == "sql" or _SQL_START.search(fence.group(2)):
            return fence.group(2)
    return fences[0].group(2) if fences else text


def _trim_prose(statement: str) -> str:
    paragraphs = _BLANK_LINE.split(statement)
    kept = [paragraphs[0]]
    for paragraph in paragraphs[1:]:
        if not _SQL_CONTINUES.match(paragraph):
            break
        kept.append(paragraph)
    return "\n\n".join(kept)


def extract_first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


_CODE_LINE = re.compile(r"^\s*(#|import |from |[A-Za-z_][\w.\[\]'\"]*\s*[-+*/]?=|[A-Za-z_]\w*\()")


def extract_code(text: str) -> str:
    """The code: inside the first ``` fence (a `python` one first), else the text from its
    first line that looks like code (an assignment, import, call or comment)."""
    fences = list(_FENCE.finditer(text))
    for fence in fences:
        if fence.group(1).lower() in ("python", "py"):
            return fence.group(2).strip()
    if fences:
        return fences[0].group(2).strip()
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_LINE.match(line)), 0)
    return "\n".join(lines[start:]).strip()


def extract_bullets(text: str) -> str:
    """Bullet or numbered lines, normalised to `- item`; the whole text if there are none."""
    items = [m.group(1) for m in map(_BULLET.match, text.splitlines()) if m]
    return "\n".join(f"- {item}" for item in items) if items else text.strip()


def extract_json(text: str) -> str:
    """The first JSON object in the text, re-serialised with sorted keys."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text.strip()


def after_answer(inner: Parser) -> Parser:
    def parse(text: str) -> str:
        marks = list(_ANSWER.finditer(text))
        return inner(text[marks[-1].end() :] if marks else text)

    parse.__doc__ = f"Text after the last 'Answer:' marker, then {inner.__name__}."
    return parse


_BASE: dict[str, Parser] = {
    "raw": extract_raw,
    "sql": extract_sql,
    "first_line": extract_first_line,
    "bullets": extract_bullets,
    "code": extract_code,
    "json": extract_json,
}
PARSERS: dict[str, Parser] = {**_BASE, **{f"cot_{k}": after_answer(v) for k, v in _BASE.items()}}
