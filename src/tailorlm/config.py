"""Pydantic models for files users write (task.yaml), and the header of stored run configs.
Unknown keys are errors: a typo in a config must not be silently ignored. Each field's
description doubles as help text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OutputType = Literal["sql", "text", "label", "code", "json"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskConfig(_Strict):
    """Contents of a task folder's `task.yaml`."""

    name: str = Field(description="Short task name, used in run names and reports.")
    description: str = Field("", description="One paragraph: what the task is for.")
    input_fields: list[str] = Field(
        default_factory=lambda: ["question"],
        description="Names of the input fields; a row whose input is a plain string fills the "
        "first one.",
    )
    output_type: OutputType = Field("text", description="What an answer is: sql, text, label, ...")
    metric: str = Field(description="Metric name: sql_execution, exact_match, classification.")
    system_prompt: str = Field(
        "", description="Default system message for engineered prompts (role + rules)."
    )
    role: str = Field("", description="Persona used by the `role`-style strategies.")
    labels: list[str] | None = Field(None, description="Allowed labels for classification tasks.")
    target: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="The quality bar (0-1) the comparison's verdict holds every system to. Not "
        "part of the data hash: changing it re-renders the verdict, it re-runs nothing.",
    )
    resources: dict[str, str] = Field(
        default_factory=dict,
        description="Named files relative to the task folder; `db` is the default SQLite "
        "database for SQL tasks. A row may override it with its own `db` key.",
    )


SYSTEMS_FILE = "systems.yaml"


class BroughtSystem(_Strict):
    """One entry of a task folder's `systems.yaml`: a system the task brings to `tailor
    compare` (an API model with its prompt, an OpenAI fine-tune...), measured beside the
    built-in ones on the same frozen test split. Not part of the data hash."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Short id: lowercase letters, digits and dashes (e.g. openai-ft).",
    )
    label: str = Field("", description="What the report calls it (default: the id).")
    model: str = Field(
        description="A tailorlm model spec, e.g. openai:ft:gpt-4o-mini:acme::abc@https://api."
        "openai.com/v1 or openai:gpt-4o (prompting) or a local model."
    )
    prompt: str | None = Field(
        None,
        description="A saved prompt program, relative to the task folder (default: the bare "
        "question).",
    )
    approach: Literal["prompt", "finetune", "both"] = Field(
        "prompt", description="prompt | finetune | both: which side of the verdict it is on."
    )
    description: str = Field("", description="One line for the report.")


def run_config(kind: str, task: str | None, model: str | None, seed: Any, **fields: Any) -> dict:
    """A stored run's config (its hash keys reuse): the fields every run kind keys on - what,
    on which task (`Task.ref`) and model, which seed, which tailorlm - plus the kind's own."""
    from tailorlm import __version__

    return {
        "kind": kind,
        "task": task,
        "model": model,
        **fields,
        "seed": seed,
        "tailorlm": __version__,
    }
