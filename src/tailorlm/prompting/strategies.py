"""Named prompt strategies: each builds a PromptProgram for a task.

A strategy spec is one name, or several joined by `+` and applied left to right on top of the
bare question, each with optional `key=value` options after a colon:

    zero-shot
    role+context+format+few-shot
    role:persona=You are a SQLite expert+context:schema=create,rows=2+few-shot:k=5,method=random

`schema-role` is the original engineered prompt (role + schema + format) and stays as it was,
so stored runs that used it are still comparable."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tailorlm.config import TaskConfig
from tailorlm.errors import TailorError
from tailorlm.prompting.program import SCHEMA_STYLES, DemoSelector, PromptProgram
from tailorlm.prompting.shape import AnswerShape, answer_shape, shape_rule
from tailorlm.tasks import Task

TaskLike = Task | TaskConfig
Strategy = Callable[[TaskLike], PromptProgram]
Step = Callable[..., PromptProgram]

_FORMATS = {
    "sql": "Answer with exactly one SQLite SELECT statement and nothing else: no explanation, "
    "no markdown fences.",
    "label": "Answer with the label only.",
    "code": "Answer with the code only.",
    "json": "Answer with a single JSON object only.",
    "text": "",
}
_DEFAULT_PARSER = {"sql": "sql", "label": "first_line", "json": "json", "code": "code"}
# Small chat models follow an instruction in the user turn far more often than one in the system
# message alone (measured on sql-sales with SmolLM2-135M: SQL instead of prose).
_USER_LEAD = {"sql": "Write one SQLite query that answers: "}
# The format instruction asks for one statement, so generation may end at its terminator.
_FORMAT_STOP = {"sql": (";",)}
_PERSONAS = {
    "sql": "You are a senior data analyst who writes correct SQLite queries.",
    "label": "You are a careful annotator who labels text consistently.",
    "code": "You are a senior software engineer.",
}
_GENERIC = {
    "sql": "Write one SQLite query that answers the question. Use only the tables and columns "
    "in the schema, and join tables through their keys.",
    "label": "Read the input and choose the single label that fits it best.",
}
_COT = (
    "Think step by step: first explain briefly how to answer, then write 'Answer:' followed "
    "by the final answer. {rule}"
)
_COT_RULES = {
    "sql": "The final answer is one SQLite SELECT statement, without markdown fences.",
    "label": "The final answer is the label only.",
    "json": "The final answer is a single JSON object.",
    "code": "The final answer is the code, without markdown fences.",
}


def task_config(task: TaskLike) -> TaskConfig:
    return task.config if isinstance(task, Task) else task


def task_ref(task: TaskLike) -> str:
    """How a program names its task: a built-in's name, or the folder of a user's task. A bare
    TaskConfig can only stand for a built-in task."""
    if isinstance(task, Task):
        return task.name if task.builtin else str(task.root)
    return task.name


def default_parser(task: TaskLike) -> str:
    return _DEFAULT_PARSER.get(task_config(task).output_type, "raw")


def task_shape(task: TaskLike) -> AnswerShape:
    """What the task's train answers look like (nothing known for a bare TaskConfig)."""
    if not isinstance(task, Task) or "train" not in task.available_splits():
        return AnswerShape()
    return answer_shape([ex.output for ex in task.split("train")])


def user_template(task: TaskLike, lead: str = "") -> str:
    fields = task_config(task).input_fields
    if len(fields) == 1:
        return f"{lead}{{{{ {fields[0]} }}}}"
    lines = "\n".join(f"{f}: {{{{ {f} }}}}" for f in fields)
    return f"{lead}\n{lines}" if lead else lines


# ---------------------------------------------------------------------------- strategies


def zero_shot(task: TaskLike) -> PromptProgram:
    """The bare question, nothing added; only the output-type parser is applied."""
    return PromptProgram(
        name="zero-shot", user_template=user_template(task), parser=default_parser(task)
    )


def schema_role(task: TaskLike) -> PromptProgram:
    """Role + the database schema in context + an output-format instruction (the original
    engineered prompt, with the task's own system prompt when it has one)."""
    cfg = task_config(task)
    role_text = cfg.role or "You are an expert assistant for this task."
    return PromptProgram(
        name="schema-role",
        system=cfg.system_prompt or role_text,
        instruction=cfg.description if not cfg.system_prompt else "",
        schema="compact" if cfg.output_type == "sql" else "none",
        output_format=_schema_role_format(task),
        user_template=user_template(task, _USER_LEAD.get(cfg.output_type, "")),
        parser=default_parser(task),
        stop=_FORMAT_STOP.get(cfg.output_type, ()),
    )


def _schema_role_format(task: TaskLike) -> str:
    cfg = task_config(task)
    if cfg.output_type == "sql" or (cfg.output_type == "label" and cfg.labels):
        return _FORMATS[cfg.output_type]
    return shape_rule(task_shape(task), cfg.output_type) or _FORMATS[cfg.output_type]


def role(program: PromptProgram, task: TaskLike, persona: str = "") -> PromptProgram:
    """A persona in the system message: `persona`, else the task's `role`, else a default for
    the output type ("You are a senior data analyst who writes correct SQLite queries.")."""
    cfg = task_config(task)
    text = persona or cfg.role or _PERSONAS.get(cfg.output_type, "You are a careful expert.")
    return replace(program, system=text)


def context(
    program: PromptProgram,
    task: TaskLike,
    schema: str = "compact",
    rows: int = 0,
    fks: bool = True,
    description: bool | None = None,
) -> PromptProgram:
    """Task context: for SQL tasks the database schema (`compact` table(col type, ...) lines or
    `create` statements), with foreign keys and `rows` sample rows per table; the task
    description too when `description` (default: for non-SQL tasks)."""
    if schema not in SCHEMA_STYLES[1:]:
        raise TailorError(f"Unknown schema style '{schema}'", hint="use compact or create")
    cfg = task_config(task)
    is_sql = cfg.output_type == "sql"
    with_description = (not is_sql) if description is None else description
    blocks = (cfg.description,) if with_description and cfg.description else ()
    return replace(
        program,
        context=program.context + blocks,
        schema=schema if is_sql else "none",  # type: ignore[arg-type]
        schema_rows=rows if is_sql else 0,
        schema_fks=fks,
    )


def output_format(
    program: PromptProgram, task: TaskLike, style: str = "strict", n: int = 3, keys: str = ""
) -> PromptProgram:
    """Output-format instructions plus the parser that extracts the answer. `strict`: the
    output type's rule (SQL: one statement, no prose, no fences; labels: the label only);
    `cot`: think first, then 'Answer:' and the answer; `bullets`: `n` bullet points; `json`:
    one object with `keys` (|-separated; default: the keys of the train answers)."""
    cfg = task_config(task)
    lead = _USER_LEAD.get(cfg.output_type, "")
    rule, parser = _format_rule(task, style, n, keys)
    changes: dict[str, Any] = {"output_format": rule, "parser": parser}
    changes["user_template"] = user_template(task, lead)
    changes["stop"] = _FORMAT_STOP.get(cfg.output_type, ()) if style == "strict" else ()
    return replace(program, **changes)


def _format_rule(task: TaskLike, style: str, n: int, keys: str) -> tuple[str, str]:
    cfg = task_config(task)
    base_parser = default_parser(task)
    if style == "strict":
        rule = _strict_rule(task)
        return rule, "bullets" if task_shape(
            task
        ).bullets and cfg.output_type == "text" else base_parser
    if style == "cot":
        final = shape_rule(task_shape(task), cfg.output_type, final=True)
        rule = final or _COT_RULES.get(cfg.output_type, "")
        return _COT.format(rule=rule).strip(), f"cot_{base_parser}"
    if style == "bullets":
        rule = f"Answer with exactly {n} bullet points, each on its own line starting with '- '."
        return rule, "bullets"
    if style == "json":
        names = keys.split("|") if keys else _json_keys(task)
        listed = ", ".join(names) if names else "the fields the question asks for"
        return f"Answer with a single JSON object with the keys: {listed}. No other text.", "json"
    raise TailorError(f"Unknown format style '{style}'", hint="use strict, cot, bullets or json")


def _strict_rule(task: TaskLike) -> str:
    """The output type's rule, made specific by the labels or the shape of the train answers
    (fields and their values, the number of bullets, the variable code assigns)."""
    cfg = task_config(task)
    if cfg.output_type == "label" and cfg.labels:
        return f"Answer with one of these labels only: {', '.join(cfg.labels)}."
    if cfg.output_type != "sql" and (rule := shape_rule(task_shape(task), cfg.output_type)):
        return rule
    return _FORMATS[cfg.output_type] or "Answer directly, without preamble."


def _json_keys(task: TaskLike) -> list[str]:
    if not isinstance(task, Task):
        return []
    for ex in task.split("train")[:20]:
        try:
            value = json.loads(ex.output)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return list(value)
    return []


def few_shot(
    program: PromptProgram,
    task: TaskLike,
    k: int = 3,
    method: str = "knn",
    seed: int = 0,
    similarity: str = "embedding",
    by: str = "",
) -> PromptProgram:
    """k demos from the task's train split: `knn` (the k questions most similar to the one
    asked), `random`, or `balanced` (one per label, or per `meta[by]` group; default `family`
    for non-label tasks). Demos are chosen at render time by a `demo_selector`."""
    cfg = task_config(task)
    balance_key = by or ("" if cfg.output_type == "label" else "family")
    selector = DemoSelector(
        method=method,  # type: ignore[arg-type]
        k=k,
        task=task_ref(task),
        seed=seed,
        similarity=similarity,  # type: ignore[arg-type]
        balance_key=balance_key,
    )
    return replace(program, demo_selector=selector.checked("few-shot"))


def cot(program: PromptProgram, task: TaskLike) -> PromptProgram:
    """Chain of thought: "think step by step, then 'Answer:' and the answer"; the parser keeps
    what follows the last 'Answer:'."""
    return output_format(program, task, style="cot")


def instruct(program: PromptProgram, task: TaskLike, variant: str = "rules") -> PromptProgram:
    """An instruction: `rules` (the task's system prompt: its conventions), `generic` (a
    plain statement of the job) or `description` (the task description)."""
    cfg = task_config(task)
    texts = {
        "rules": _without_persona(cfg.system_prompt, cfg.role),
        "generic": _GENERIC.get(cfg.output_type, "Answer the request accurately."),
        "description": cfg.description,
    }
    if variant not in texts:
        raise TailorError(
            f"Unknown instruction variant '{variant}'", hint="rules, generic or description"
        )
    return replace(program, instruction=texts[variant] or texts["generic"])


def _without_persona(text: str, persona: str) -> str:
    text = text.strip()
    return text[len(persona) :].strip() if persona and text.startswith(persona) else text


def _schema_role_step(program: PromptProgram, task: TaskLike) -> PromptProgram:
    return replace(schema_role(task), demos=program.demos, demo_selector=program.demo_selector)


# ---------------------------------------------------------------------------- specs

STEPS: dict[str, Step] = {
    "zero-shot": lambda program, task: program,
    "role": role,
    "context": context,
    "format": output_format,
    "few-shot": few_shot,
    "cot": cot,
    "instruct": instruct,
    "schema-role": _schema_role_step,
}
_DOCS: dict[str, Callable[..., Any]] = {**STEPS, "zero-shot": zero_shot, "schema-role": schema_role}
STRATEGIES: tuple[str, ...] = tuple(STEPS)


def get_strategy(spec: str) -> Strategy:
    """The strategy a spec names (see the module docstring); TailorError listing the choices."""
    steps = [_parse_step(part, spec) for part in spec.split("+")]

    def build(task: TaskLike) -> PromptProgram:
        program = schema_role(task) if spec == "schema-role" else zero_shot(task)
        for step, options in steps:
            program = step(program, task, **options)
        return replace(program, name=spec)

    return build


def _parse_step(part: str, spec: str) -> tuple[Step, dict[str, Any]]:
    name, _, raw = part.strip().partition(":")
    if name not in STEPS:
        raise TailorError(
            f"Unknown strategy '{name}'" + (f" in '{spec}'" if spec != name else ""),
            hint=f"choose from: {', '.join(STRATEGIES)} (join with +); or pass --prompt FILE",
        )
    options = dict(_parse_option(item, name) for item in raw.split(",") if item.strip())
    allowed = list(inspect.signature(STEPS[name]).parameters)[2:]
    unknown = [key for key in options if key not in allowed]
    if unknown:
        hint = f"options of {name}: {', '.join(allowed) or 'none'}"
        raise TailorError(f"Strategy '{name}' has no option '{unknown[0]}'", hint=hint)
    return STEPS[name], options


def _parse_option(item: str, name: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep:
        raise TailorError(f"Bad option '{item}' for strategy '{name}'", hint="write key=value")
    value = value.strip()
    if value.lower() in ("true", "false"):
        return key.strip(), value.lower() == "true"
    return key.strip(), int(value) if value.lstrip("-").isdigit() else value


def describe_strategies() -> list[dict[str, Any]]:
    """Name, first docstring paragraph and options of every strategy, for `--help` and docs."""
    out = []
    for name, fn in _DOCS.items():
        params = list(inspect.signature(STEPS[name]).parameters.values())[2:]
        doc = " ".join((fn.__doc__ or "").split("\n\n")[0].split())
        options = {p.name: p.default for p in params}
        out.append({"name": name, "doc": doc, "options": options})
    return out
