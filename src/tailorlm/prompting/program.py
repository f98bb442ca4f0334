"""A prompt program: everything a system adds to the model's input, as one serializable value.

system message + instruction + context blocks (+ the database schema) + output-format spec +
few-shot demos (fixed, or chosen per question by a `DemoSelector`) + a Jinja2 template for the
user turn, and the parser that turns the model's text into an answer. It renders to chat
messages, saves to YAML/JSON and loads back unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from tailorlm.errors import ConfigError
from tailorlm.types import ChatMessage, GenerationOptions, Messages

SchemaStyle = Literal["none", "compact", "create"]
SelectMethod = Literal["knn", "random", "balanced"]
SCHEMA_STYLES = ("none", "compact", "create")
SELECT_METHODS = ("knn", "random", "balanced")
SIMILARITIES = ("embedding", "lexical")


@dataclass(frozen=True)
class Demo:
    inputs: Mapping[str, Any]
    output: str


@dataclass(frozen=True)
class DemoSelector:
    """Few-shot demos chosen at render time from a pool of labelled examples.

    `task`/`split` name the pool (a built-in task name or a task folder, usually its train
    split); `ids` restricts it (e.g. to bootstrapped examples the model already answers
    correctly). `knn` picks the k pool questions most similar to the one asked (sentence
    embeddings, or lexical TF-IDF when those are not installed); `random` and `balanced`
    (one per label, or per `meta[balance_key]` group) pick the same k for every question."""

    method: SelectMethod = "knn"
    k: int = 3
    task: str = ""
    split: str = "train"
    seed: int = 0
    similarity: Literal["embedding", "lexical"] = "embedding"
    balance_key: str = ""
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ids"] = list(self.ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str) -> DemoSelector:
        _reject_unknown(cls, data, f"{source}: demo_selector")
        return cls(**{**data, "ids": tuple(data.get("ids", ()))}).checked(source)

    def checked(self, source: str) -> DemoSelector:
        _check_choice(self.method, SELECT_METHODS, f"{source}: demo_selector.method")
        _check_choice(self.similarity, SIMILARITIES, f"{source}: demo_selector.similarity")
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"{source}: demo_selector.k must be a positive integer")
        return self


# Fields added after the first release are written only when set, so files and stored config
# hashes of earlier programs stay byte-identical.
_OPTIONAL_DEFAULTS: dict[str, Any] = {"schema_rows": 0, "schema_fks": True, "demo_selector": None}


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
    schema_rows: int = 0
    schema_fks: bool = True
    demo_selector: DemoSelector | None = None

    def generation_options(self, options: GenerationOptions) -> GenerationOptions:
        """`options` with this program's stop strings added (the program's format ends there)."""
        if not self.stop:
            return options
        return replace(options, stop=self.merged_stops(options.stop))

    def merged_stops(self, stops: Sequence[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*stops, *self.stop)))

    def system_message(self, schema_text: str = "") -> str:
        schema_block = f"Database schema:\n{schema_text}" if schema_text else ""
        parts = [self.system, self.instruction, *self.context, schema_block, self.output_format]
        return "\n\n".join(p.strip() for p in parts if p and p.strip())

    def render(
        self, inputs: Mapping[str, Any], *, schema_text: str = "", selected: Sequence[Demo] = ()
    ) -> Messages:
        """Chat messages: system, then the fixed demos, then `selected` ones (most similar
        last, nearest the question), then the question itself."""
        messages: list[ChatMessage] = []
        system = self.system_message(schema_text if self.schema != "none" else "")
        if system:
            messages.append({"role": "system", "content": system})
        for demo in (*self.demos, *selected):
            messages.append({"role": "user", "content": self.user_turn(demo.inputs)})
            messages.append({"role": "assistant", "content": demo.output})
        messages.append({"role": "user", "content": self.user_turn(inputs)})
        return tuple(messages)

    def user_turn(self, inputs: Mapping[str, Any]) -> str:
        return render_template(self.user_template, inputs)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["context"] = list(self.context)
        data["stop"] = list(self.stop)
        data["demos"] = [{"inputs": dict(d.inputs), "output": d.output} for d in self.demos]
        data["meta"] = dict(self.meta)
        if self.demo_selector is not None:
            data["demo_selector"] = self.demo_selector.to_dict()
        return {
            k: v
            for k, v in data.items()
            if k not in _OPTIONAL_DEFAULTS or v != _OPTIONAL_DEFAULTS[k]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "prompt program") -> PromptProgram:
        _reject_unknown(cls, data, source)
        values = dict(data)
        values["context"] = tuple(values.get("context", ()))
        values["stop"] = tuple(values.get("stop", ()))
        values["demos"] = tuple(_demo(d, source) for d in values.get("demos", ()))
        if values.get("demo_selector") is not None:
            values["demo_selector"] = DemoSelector.from_dict(values["demo_selector"], source=source)
        program = cls(**values)
        _check_program(program, source)
        return program

    def save(self, path: Path) -> None:
        data = self.to_dict()
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        path.write_text(text if path.suffix != ".json" else json.dumps(data, indent=2) + "\n")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def load(cls, path: Path) -> PromptProgram:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read prompt program: {exc}") from exc
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"{path}: a prompt program is a mapping with at least a 'name'")
        return cls.from_dict(data, source=str(path))


def _reject_unknown(cls: type, data: Mapping[str, Any], source: str) -> None:
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        allowed = ", ".join(f.name for f in fields(cls))
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}", hint=f"allowed: {allowed}")


def _check_choice(value: object, allowed: Sequence[str], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def _demo(data: Any, source: str) -> Demo:
    if not isinstance(data, Mapping) or set(data) != {"inputs", "output"}:
        raise ConfigError(f"{source}: each demo is a mapping with 'inputs' and 'output'")
    return Demo(dict(data["inputs"]), str(data["output"]))


def _check_program(program: PromptProgram, source: str) -> None:
    from tailorlm.prompting.extract import PARSERS

    _check_choice(program.schema, SCHEMA_STYLES, f"{source}: schema")
    _check_choice(program.parser, tuple(PARSERS), f"{source}: parser")
    if not isinstance(program.schema_rows, int) or program.schema_rows < 0:
        raise ConfigError(f"{source}: schema_rows must be an integer >= 0")


@lru_cache(maxsize=256)
def _compiled(template: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    return Environment(undefined=StrictUndefined).from_string(template)


def render_template(template: str, inputs: Mapping[str, Any]) -> str:
    from jinja2 import TemplateSyntaxError, UndefinedError

    try:
        return _compiled(template).render(**inputs)
    except (UndefinedError, TemplateSyntaxError) as exc:
        raise ConfigError(
            f"user template {template!r}: {exc}", hint="use only the task's input fields"
        ) from exc
