"""ModelSpec: a spec string parsed once into engine, weights and endpoint; engines register
with what they can do, and a new engine is one registration."""

from __future__ import annotations

import pytest

from tailorlm.backends import (
    Engine,
    FakeBackend,
    LazyBackend,
    ModelSpec,
    engine_of,
    load_backend,
    register_engine,
)
from tailorlm.backends import spec as spec_module
from tailorlm.errors import ConfigError
from tailorlm.store import RunStore
from tailorlm.training import tuned_backend


@pytest.mark.parametrize(
    ("text", "engine", "weights", "endpoint"),
    [
        (None, "transformers", "smollm2-135m", None),
        ("smollm2-135m", "transformers", "smollm2-135m", None),
        ("./model.gguf", "transformers", "./model.gguf", None),
        ("HuggingFaceTB/SmolLM2-135M", "transformers", "HuggingFaceTB/SmolLM2-135M", None),
        ("llamacpp:smollm2-135m", "llamacpp", "smollm2-135m", None),
        ("llamacpp:", "llamacpp", "smollm2-135m", None),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", "https://api.openai.com/v1"),
        ("openai:m@http://127.0.0.1:8000/v1/", "openai", "m", "http://127.0.0.1:8000/v1"),
    ],
)
def test_parse(text, engine, weights, endpoint):
    spec = ModelSpec.parse(text)
    assert (spec.engine_key, spec.weights, spec.endpoint) == (engine, weights, endpoint)
    assert ModelSpec.parse(spec) is spec
    assert spec.text == (text or "smollm2-135m")  # stored runs keep what the user typed


def test_engines_declare_what_they_can_do():
    local, llama, api = (ModelSpec.parse(t).engine for t in ("x", "llamacpp:x", "openai:x"))
    assert local.trainable and local.adapters and not local.api
    assert llama.trainable and llama.adapters
    assert api.api and not api.trainable and not api.adapters
    assert api.pricing(ModelSpec.parse("openai:gpt-4o-mini")) == "gpt-4o-mini"
    assert ModelSpec.parse("llamacpp:x").run_engine() == "llama.cpp"
    assert ModelSpec.parse("openai:x").run_engine() is None


def test_with_weights_keeps_the_engine_where_it_can_load_them(tmp_path):
    llama = ModelSpec.parse("llamacpp:smollm2-135m")
    assert llama.with_weights("other.gguf").text == "llamacpp:other.gguf"
    assert llama.with_weights(tmp_path).engine_key == "transformers"  # a folder: not llama.cpp
    assert ModelSpec.parse("openai:m").with_weights("base").engine_key == "transformers"


@pytest.mark.parametrize("text", ["openai:", "openai:m@ftp://x", "openai:@http://x"])
def test_a_bad_api_spec_names_the_form(text):
    with pytest.raises(ConfigError, match="MODEL@BASE_URL"):
        ModelSpec.parse(text)


def test_a_new_engine_is_one_registration(monkeypatch):
    monkeypatch.setattr(spec_module, "_ENGINES", dict(spec_module._ENGINES))
    register_engine(
        Engine(
            "echo",
            "echo:",
            lambda spec, **_: FakeBackend(default=f"echo {spec.weights}", name=spec.text),
            lambda spec, device: "echo",
        )
    )
    backend = load_backend("echo:abc")
    assert backend.generate([({"role": "user", "content": "q"},)])[0].text == "echo abc"
    lazy = LazyBackend("echo:abc")
    assert engine_of(lazy) == "echo" and lazy.name == "echo:abc"


def _finished_lora_run(store: RunStore) -> str:
    config = {"kind": "finetune", "model": "smollm2-135m", "train": {"method": "lora"}}
    writer = store.start(
        "finetune", name="lora", task="t", model="smollm2-135m", config=config, data_hash="d"
    )
    writer.path("adapter/adapter_config.json").write_text("{}")
    return writer.complete().id


def test_a_finetuned_model_runs_on_the_engine_of_its_base():
    """With --model llamacpp:X the prompt systems run on llama.cpp; the fine-tuned ones did on
    transformers (compare built them from the bare base), so latency and cost did not compare."""
    store = RunStore()
    run_id = _finished_lora_run(store)
    on_llama = tuned_backend(run_id, "llamacpp:smollm2-135m", store)
    assert engine_of(on_llama) == engine_of(LazyBackend("llamacpp:smollm2-135m")) == "llama.cpp"
    assert on_llama.name.startswith("llamacpp:smollm2-135m+adapter:")
    on_default = tuned_backend(run_id, None, store)
    assert engine_of(on_default) == engine_of(LazyBackend(None))
    assert on_default.name.startswith("smollm2-135m+adapter:")
