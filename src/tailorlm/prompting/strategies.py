"""Named prompt strategies: each builds a PromptProgram for a task. The prompting issue adds the
rest of the library (context, format, few-shot, combinations, chain-of-thought)."""

from __future__ import annotations

from collections.abc import Callable

from tailorlm.config import TaskConfig
from tailorlm.errors import TailorError
from tailorlm.prompting.program import PromptProgram

Strategy = Callable[[TaskConfig], PromptProgram]

_FORMATS = {
    "sql": "Answer with exactly one SQLite SELECT statement and nothing else: no explanation, "
    "no markdown fences.",
    "label": "Answer with the label only.",
    "code": "Answer with the code only.",
    "json": "Answer with a single JSON object only.",
    "text": "",
}
_DEFAULT_PARSER = {"sql": "sql", "label": "first_line"}
# Small chat models follow an instruction in the user turn far more often than one in the system
# message alone (measured on sql-sales with SmolLM2-135M: SQL instead of prose).
_USER_LEAD = {"sql": "Write one SQLite query that answers: "}
# The format instruction asks for one statement, so generation may end at its terminator.
_FORMAT_STOP = {"sql": (";",)}


def default_parser(task: TaskConfig) -> str:
    return _DEFAULT_PARSER.get(task.output_type, "raw")


def user_template(task: TaskConfig, lead: str = "") -> str:
    if len(task.input_fields) == 1:
        return lead + "{{ %s }}" % task.input_fields[0]
    fields = "\n".join(f"{f}: {{{{ {f} }}}}" for f in task.input_fields)
    return f"{lead}\n{fields}" if lead else fields


def zero_shot(task: TaskConfig) -> PromptProgram:
    """The bare question, nothing added; only the output-type parser is applied."""
    return PromptProgram(
        name="zero-shot", user_template=user_template(task), parser=default_parser(task)
    )


def schema_role(task: TaskConfig) -> PromptProgram:
    """Role + the database schema in context + an output-format instruction."""
    role = task.role or "You are an expert assistant for this task."
    return PromptProgram(
        name="schema-role",
        system=task.system_prompt or role,
        instruction=task.description if not task.system_prompt else "",
        schema="compact" if task.output_type == "sql" else "none",
        output_format=_FORMATS[task.output_type],
        user_template=user_template(task, _USER_LEAD.get(task.output_type, "")),
        parser=default_parser(task),
        stop=_FORMAT_STOP.get(task.output_type, ()),
    )


STRATEGIES: dict[str, Strategy] = {"zero-shot": zero_shot, "schema-role": schema_role}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise TailorError(
            f"Unknown strategy '{name}'",
            hint=f"choose one of: {', '.join(STRATEGIES)}; or pass --prompt FILE",
        ) from None
