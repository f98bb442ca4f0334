"""What the user typed for `--model`, parsed once at the edge into a `ModelSpec`: which engine
runs it, which weights (or remote model), which endpoint. Engines register here and declare
what they can do; nothing else in tailorlm looks at spec prefixes.

    smollm2-135m | ./folder | model.gguf | org/hub-id     local transformers (the default)
    llamacpp:smollm2-135m | llamacpp:model.gguf           the optional llama.cpp engine
    openai:MODEL[@BASE_URL]                               any OpenAI-compatible endpoint

Adding an engine is one `register_engine(Engine(...))` call (see backends/__init__.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.errors import ConfigError

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Engine:
    """One way to run a model, and what it can do."""

    key: str  # registry key, also how stored runs name the engine family
    prefix: str  # how a spec selects it ("" for the default engine)
    load: Callable[..., Any]  # (spec, *, device, adapter, api_key) -> Backend
    run_key: Callable[[ModelSpec, str | None], str | None]  # stored runs' `engine` field
    trainable: bool = False  # its weights can be fine-tuned on this machine
    adapters: bool = False  # it serves a PEFT adapter on top of its weights
    streams: bool = True
    batches: bool = True
    api: bool = False  # a provider's API: priced per token, no machine of the user's
    pricing: Callable[[ModelSpec], str | None] = lambda spec: None  # name in prices.yaml


_ENGINES: dict[str, Engine] = {}


def register_engine(engine: Engine) -> Engine:
    _ENGINES[engine.key] = engine
    return engine


def engines() -> list[Engine]:
    return list(_ENGINES.values())


def _engine_for(text: str) -> Engine:
    prefixed = [e for e in _ENGINES.values() if e.prefix and text.startswith(e.prefix)]
    if prefixed:
        return max(prefixed, key=lambda e: len(e.prefix))
    default = [e for e in _ENGINES.values() if not e.prefix]
    if not default:
        raise ConfigError("No default model engine is registered")
    return default[0]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. `weights` is what the engine loads (an alias, a folder, a GGUF
    file, a hub id, or the remote model's name); `endpoint` the base URL of an API engine."""

    engine_key: str
    weights: str
    endpoint: str | None = None
    text: str = ""  # as the user typed it (stored runs record this); see `parse`

    @classmethod
    def parse(cls, text: str | ModelSpec | None) -> ModelSpec:
        if isinstance(text, ModelSpec):
            return text
        text = (text or DEFAULT_MODEL).strip() or DEFAULT_MODEL
        engine = _engine_for(text)
        body = text[len(engine.prefix) :]
        if not engine.api:
            return cls(engine.key, body or DEFAULT_MODEL, None, text)
        model, _, url = body.partition("@")
        url = (url or DEFAULT_BASE_URL).rstrip("/")
        if not model or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"Model spec {text!r} is not {engine.prefix}MODEL@BASE_URL",
                hint=f"e.g. {engine.prefix}gpt-4o-mini or "
                f"{engine.prefix}my-model@http://127.0.0.1:8000/v1",
            )
        return cls(engine.key, model, url, text)

    @property
    def engine(self) -> Engine:
        return _ENGINES[self.engine_key]

    def __post_init__(self) -> None:
        if not self.text:
            shown = "" if self.endpoint in (None, DEFAULT_BASE_URL) else f"@{self.endpoint}"
            object.__setattr__(self, "text", f"{self.engine.prefix}{self.weights}{shown}")

    def __str__(self) -> str:
        return self.text

    @property
    def api_model(self) -> str | None:
        """The provider's model name a request is priced at, for an API engine (None: a local
        model, priced by the machine's time)."""
        return self.engine.pricing(self) if self.engine.api else None

    def with_weights(self, weights: str | Path) -> ModelSpec:
        """The same engine on other weights (a fine-tuned run's base or model folder); the
        default engine where this one cannot load them (llama.cpp runs GGUF files only)."""
        weights = str(weights)
        if self.engine.api or (self.engine.prefix and Path(weights).is_dir()):
            return ModelSpec.parse(weights)
        return replace(self, weights=weights, text="")

    def short_name(self) -> str:
        """A readable stand-in for the model inside names: the remote model, or the last part
        of a path."""
        weights = self.weights
        return Path(weights).name if "/" in weights or weights.endswith(".gguf") else weights

    def run_engine(self, device: str | None = None) -> str | None:
        """How stored runs name where outputs and timings come from (`cpu/bfloat16`,
        `llama.cpp`, None for remote endpoints)."""
        return self.engine.run_key(self, device)
