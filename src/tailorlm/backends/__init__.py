"""Backends (L2): everything that turns chat messages into completions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorlm.backends.base import Backend
from tailorlm.backends.fake import FakeBackend
from tailorlm.backends.models import (
    DEFAULT_MODEL,
    LLAMACPP_ENGINE,
    is_llamacpp_spec,
    resolve_model,
)
from tailorlm.errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "Backend",
    "FakeBackend",
    "LazyBackend",
    "engine_of",
    "load_backend",
    "load_tokenizer",
    "resolve_model",
]


def load_backend(
    spec: str | None = None,
    *,
    device: str | None = None,
    adapter: str | Path | None = None,
    api_key: str | None = None,
) -> Backend:
    """Build the backend a model spec names: `openai:MODEL@BASE_URL` is an OpenAI-compatible
    endpoint (key `api_key`, else OPENAI_API_KEY), `llamacpp:MODEL` a GGUF model run by the
    optional llama.cpp engine, anything else a local transformers model (which ignores
    `api_key`); the local engines take a PEFT adapter folder on top."""
    from tailorlm.backends.http import OpenAIHTTPBackend, is_http_spec
    from tailorlm.backends.llamacpp import LlamaCppBackend
    from tailorlm.backends.local import LocalBackend

    if is_http_spec(spec):
        if adapter:
            raise ModelError(
                f"An adapter cannot be applied to the remote model {spec}",
                hint="serve the fine-tuned model on that server, or use a local base model",
            )
        return OpenAIHTTPBackend(str(spec), api_key=api_key)
    if is_llamacpp_spec(spec):
        return LlamaCppBackend(str(spec), adapter=adapter)

    return LocalBackend(spec, device=device, adapter=adapter)


class LazyBackend:
    """Loads the model on first use, so a command whose steps are all reused from the run store
    never pays the model load, and several steps share one loaded model."""

    def __init__(
        self,
        spec: str | None = None,
        *,
        device: str | None = None,
        adapter: str | Path | None = None,
        api_key: str | None = None,
    ) -> None:
        self.name = spec or DEFAULT_MODEL
        if adapter:
            from tailorlm.backends.local import adapter_label

            self.name += f"+{adapter_label(adapter)}"
        self._spec, self._device, self._adapter = spec, device, adapter
        self._api_key = api_key  # kept out of `name`, which runs store in their config
        self._backend: Backend | None = None

    @property
    def loaded(self) -> Backend:
        if self._backend is None:
            extra = {"adapter": self._adapter} if self._adapter else {}
            self._backend = load_backend(
                self._spec, device=self._device, api_key=self._api_key, **extra
            )
        return self._backend

    def generate(self, batch, options=None):  # type: ignore[no-untyped-def]
        return self.loaded.generate(batch, options)

    def unload(self) -> None:
        """Free the loaded model (the next use loads it again), e.g. before training another
        copy of it, so two copies are not resident at once."""
        if self._backend is not None:
            from tailorlm.hardware import release_memory

            self._backend = None
            release_memory()

    def count_tokens(self, text: str) -> int:
        return self.loaded.count_tokens(text)


def engine_of(backend: Any) -> str | None:
    """Where a backend's outputs and timings come from, for the configs that key stored runs:
    `cuda/bfloat16`, `cpu/float32`, `llama.cpp`... Greedy outputs and latencies differ with the
    device and precision, so a run measured on one is not reused for another. None for remote
    endpoints and test doubles (their server decides)."""
    if isinstance(backend, _LAZY):
        return _spec_engine(backend._spec, backend._device)
    named = getattr(backend, "engine", None)  # a backend that names its own engine
    if isinstance(named, str):
        return named
    device, dtype = getattr(backend, "device", None), getattr(backend, "dtype", None)
    if isinstance(device, str) and isinstance(dtype, str):
        return f"{device.split(':')[0]}/{dtype}"
    return None


def _spec_engine(spec: str | None, device: str | None) -> str | None:
    from tailorlm.backends.http import is_http_spec

    if is_http_spec(spec):
        return None
    if is_llamacpp_spec(spec):
        return LLAMACPP_ENGINE
    from tailorlm.backends.local import pick_device

    if device is None and not _cuda_build():
        device = "cpu"  # known without importing torch: a reused run stays a sub-second lookup
    device, dtype = pick_device(device)
    return f"{device.split(':')[0]}/{dtype}"


def _cuda_build() -> bool:
    """False where the installed torch is a CPU-only build (`2.13.0+cpu`); True where it may
    see a GPU (importing torch to ask costs ~1.5 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "+cpu" not in version("torch")
    except PackageNotFoundError:
        return False


_LAZY = LazyBackend  # the class itself, whatever later rebinds the name (tests do)


def load_tokenizer(spec: str | None = None):  # type: ignore[no-untyped-def]
    """The model's tokenizer alone (for token statistics), with the same spec rules."""
    from tailorlm.backends.local import load_tokenizer as _load

    return _load(resolve_model(spec))
