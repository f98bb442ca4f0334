"""Backends (L2): everything that turns chat messages into completions.

`ModelSpec.parse` is the one door from a spec string to an engine; the three engines tailorlm
ships register below, each with what it can do (see backends/spec.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorlm.backends.base import Backend
from tailorlm.backends.fake import FakeBackend
from tailorlm.backends.models import LLAMACPP_ENGINE, resolve_model
from tailorlm.backends.spec import DEFAULT_MODEL, Engine, ModelSpec, engines, register_engine
from tailorlm.errors import ModelError, TailorError

__all__ = [
    "DEFAULT_MODEL",
    "Backend",
    "Engine",
    "FakeBackend",
    "LazyBackend",
    "ModelLike",
    "api_model_of",
    "as_backend",
    "spec_of",
    "ModelSpec",
    "engine_of",
    "engines",
    "load_backend",
    "load_tokenizer",
    "register_engine",
    "resolve_model",
]


def _load_local(spec: ModelSpec, *, device: str | None, adapter: Any, api_key: Any) -> Backend:
    from tailorlm.backends.local import LocalBackend

    return LocalBackend(spec.weights, device=device, adapter=adapter)  # ignores api_key


def _load_llamacpp(spec: ModelSpec, *, device: str | None, adapter: Any, api_key: Any) -> Backend:
    from tailorlm.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(spec.text, adapter=adapter)


def _load_http(spec: ModelSpec, *, device: str | None, adapter: Any, api_key: Any) -> Backend:
    from tailorlm.backends.http import OpenAIHTTPBackend

    if adapter:
        raise ModelError(
            f"An adapter cannot be applied to the remote model {spec}",
            hint="serve the fine-tuned model on that server, or use a local base model",
        )
    return OpenAIHTTPBackend(spec.text, api_key=api_key)


def _local_run_key(spec: ModelSpec, device: str | None) -> str:
    from tailorlm.hardware import pick_device

    if device is None and not _cuda_build():
        device = "cpu"  # known without importing torch: a reused run stays a sub-second lookup
    device, dtype = pick_device(device)
    return f"{device.split(':')[0]}/{dtype}"


register_engine(
    Engine("transformers", "", _load_local, _local_run_key, trainable=True, adapters=True)
)
register_engine(
    Engine(
        "llamacpp",
        "llamacpp:",
        _load_llamacpp,
        lambda spec, device: LLAMACPP_ENGINE,
        trainable=True,  # the same weights train with transformers
        adapters=True,
    )
)
register_engine(
    Engine(
        "openai",
        "openai:",
        _load_http,
        lambda spec, device: None,  # the server decides
        api=True,
        pricing=lambda spec: spec.weights,
    )
)


def load_backend(
    spec: str | ModelSpec | None = None,
    *,
    device: str | None = None,
    adapter: str | Path | None = None,
    api_key: str | None = None,
) -> Backend:
    """Build the backend a model spec names (see backends/spec.py); an API engine takes
    `api_key` (else OPENAI_API_KEY), the local engines a PEFT adapter folder on top."""
    parsed = ModelSpec.parse(spec)
    if adapter and not parsed.engine.adapters and not parsed.engine.api:
        raise ModelError(f"The {parsed.engine.key} engine does not take adapters ({parsed})")
    return parsed.engine.load(parsed, device=device, adapter=adapter, api_key=api_key)


class LazyBackend:
    """Loads the model on first use, so a command whose steps are all reused from the run store
    never pays the model load, and several steps share one loaded model."""

    def __init__(
        self,
        spec: str | ModelSpec | None = None,
        *,
        device: str | None = None,
        adapter: str | Path | None = None,
        api_key: str | None = None,
    ) -> None:
        self.spec = ModelSpec.parse(spec)
        self.adapter = adapter
        self.name = self.spec.text
        if adapter:
            from tailorlm.backends.local import adapter_label

            self.name += f"+{adapter_label(adapter)}"
        self._device = device
        self._api_key = api_key  # kept out of `name`, which runs store in their config
        self._backend: Backend | None = None

    @property
    def engine(self) -> str | None:
        """Named from the spec, without loading the model."""
        return self.spec.run_engine(self._device)

    @property
    def loaded(self) -> Backend:
        if self._backend is None:
            extra = {"adapter": self.adapter} if self.adapter else {}
            self._backend = load_backend(
                self.spec, device=self._device, api_key=self._api_key, **extra
            )
        return self._backend

    def generate(self, batch, options=None):
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


ModelLike = str | ModelSpec | Backend | None  # what the Python APIs take for "the model"


def as_backend(model: ModelLike, *, api_key: str | None = None) -> Backend:
    """A ready backend as it is; a spec (or None: the default model) as a LazyBackend."""
    if model is None or isinstance(model, (str, ModelSpec)):
        return LazyBackend(model, api_key=api_key)
    return model


def spec_of(backend: Any) -> ModelSpec | None:
    """The model spec a backend stands for (None for a test double that names none)."""
    spec = getattr(backend, "spec", None)
    return ModelSpec.parse(spec) if spec is not None else None


def api_model_of(backend: Any) -> str | None:
    """The provider's model a backend's requests are priced at (None: not an API model, or a
    test double that names no spec). An HTTP backend built directly is named by its spec."""
    spec = spec_of(backend)
    if spec is None:
        try:
            spec = ModelSpec.parse(backend.name)
        except TailorError:
            return None
    return spec.api_model


def engine_of(backend: Any) -> str | None:
    """Where a backend's outputs and timings come from, for the configs that key stored runs:
    `cuda/bfloat16`, `cpu/float32`, `llama.cpp`... Greedy outputs and latencies differ with the
    device and precision, so a run measured on one is not reused for another. None for remote
    endpoints and test doubles (their server decides)."""
    named = getattr(backend, "engine", None)  # a backend that names its own engine
    if isinstance(named, str) or isinstance(backend, LazyBackend):
        return named
    device, dtype = getattr(backend, "device", None), getattr(backend, "dtype", None)
    if isinstance(device, str) and isinstance(dtype, str):
        return f"{device.split(':')[0]}/{dtype}"
    return None


def _cuda_build() -> bool:
    """False where the installed torch is a CPU-only build (`2.13.0+cpu`); True where it may
    see a GPU (importing torch to ask costs ~1.5 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "+cpu" not in version("torch")
    except PackageNotFoundError:
        return False


def load_tokenizer(spec: str | ModelSpec | None = None):
    """The model's tokenizer alone (for token statistics), with the same spec rules."""
    from tailorlm.backends.local import load_tokenizer as _load

    return _load(resolve_model(spec))
