"""From a prompt program and one example to the chat request a backend receives, and what the
program costs: the tokens it adds to every request on top of the bare question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tailorlm.backends.base import Backend
from tailorlm.prompting.context import sqlite_schema
from tailorlm.prompting.demos import query_text, resolve_pool, select_demos
from tailorlm.prompting.program import Demo, PromptProgram
from tailorlm.types import Example, Messages


def build_messages(
    program: PromptProgram,
    example: Example,
    resources: Mapping[str, Path],
    *,
    pool: Sequence[Example] | None = None,
) -> Messages:
    """Render `program` for `example`: the schema of the example's database (if the program
    asks for one) and demos from its selector, drawn from `pool` or the selector's task."""
    return program.render(
        example.inputs,
        schema_text=schema_for(program, example, resources),
        selected=selected_demos(program, example, pool),
    )


def schema_for(program: PromptProgram, example: Example, resources: Mapping[str, Path]) -> str:
    if program.schema == "none":
        return ""
    db = example.meta.get("db") or resources.get("db")
    if not db:
        return ""
    return sqlite_schema(str(db), program.schema, program.schema_rows, program.schema_fks)


def selected_demos(
    program: PromptProgram, example: Example, pool: Sequence[Example] | None
) -> tuple[Demo, ...]:
    selector = program.demo_selector
    if selector is None:
        return ()
    return select_demos(
        selector, example.inputs, resolve_pool(selector, pool), exclude_id=example.id
    )


def request_tokens(backend: Backend, messages: Messages) -> int:
    """Content tokens of a request (the chat template's few framing tokens per turn are not
    counted: they depend on the backend, not on the program)."""
    return sum(backend.count_tokens(m["content"]) for m in messages)


def overhead_tokens(
    program: PromptProgram,
    backend: Backend,
    examples: Sequence[Example],
    resources: Mapping[str, Path],
    *,
    pool: Sequence[Example] | None = None,
) -> float:
    """Mean tokens the program adds to a request: its rendered request minus the bare question."""
    if not examples:
        return 0.0
    added = [
        request_tokens(backend, build_messages(program, ex, resources, pool=pool))
        - backend.count_tokens(query_text(ex.inputs))
        for ex in examples
    ]
    return sum(added) / len(added)
