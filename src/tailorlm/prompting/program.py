"""A prompt program: everything a system adds to the model's input, as one serializable value.

system message + instruction + context blocks (+ the database schema) + output-format spec +
few-shot demos + a Jinja2 template for the user turn, and the parser that turns the model's text
into an answer. It renders to chat messages, saves to YAML/JSON and loads back unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tailorlm.errors import ConfigError
from tailorlm.types import ChatMessage, Messages

SchemaStyle = Literal["none", "compact", "create"]


@dataclass(frozen=True)
class Demo:
    inputs: Mapping[str, Any]
    output: str


@dataclass(frozen=True)
class PromptProgram:
    name: str
    system: str = ""
    instruction: str = ""
    context: tuple[str, ...] = ()
    schema: SchemaStyle = "none"
    output_format: str = ""
    demos: tuple[Demo, ...] = ()
    user_template: str = "{{ question }}"
    parser: str = "raw"
    stop: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def system_message(self, schema_text: str = "") -> str:
        schema_block = f"Database schema:\n{schema_text}" if schema_text else ""
        parts = [self.system, self.instruction, *self.context, schema_block, self.output_format]
        return "\n\n".join(p.strip() for p in parts if p and p.strip())

    def render(self, inputs: Mapping[str, Any], *, schema_text: str = "") -> Messages:
        messages: list[ChatMessage] = []
        system = self.system_message(schema_text if self.schema != "none" else "")
        if system:
            messages.append({"role": "system", "content": system})
        for demo in self.demos:
            messages.append({"role": "user", "content": render_template(self.user_template, demo.inputs)})
            messages.append({"role": "assistant", "content": demo.output})
        messages.append({"role": "user", "content": render_template(self.user_template, inputs)})
        return tuple(messages)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["context"] = list(self.context)
        data["stop"] = list(self.stop)
        data["demos"] = [{"inputs": dict(d.inputs), "output": d.output} for d in self.demos]
        data["meta"] = dict(self.meta)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "prompt program") -> PromptProgram:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}")
        values = dict(data)
        values["context"] = tuple(values.get("context", ()))
        values["stop"] = tuple(values.get("stop", ()))
        values["demos"] = tuple(Demo(d["inputs"], d["output"]) for d in values.get("demos", ()))
        return cls(**values)

    def save(self, path: Path) -> None:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        path.write_text(text if path.suffix != ".json" else json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> PromptProgram:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read prompt program: {exc}") from exc
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"{path}: a prompt program is a mapping with at least a 'name'")
        return cls.from_dict(data, source=str(path))


def render_template(template: str, inputs: Mapping[str, Any]) -> str:
    from jinja2 import Environment, StrictUndefined, UndefinedError

    try:
        return Environment(undefined=StrictUndefined).from_string(template).render(**inputs)
    except UndefinedError as exc:
        raise ConfigError(
            f"user template {template!r}: {exc}", hint="use only the task's input fields"
        ) from exc
