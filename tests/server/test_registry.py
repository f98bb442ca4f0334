from __future__ import annotations

import pytest

from tailorlm.server.errors import APIError
from tailorlm.server.registry import Registry, short_base
from tailorlm.store import RunStore
from tests.server.helpers import finetune_run, optimize_run


@pytest.mark.parametrize(
    ("spec", "short"),
    [
        ("smollm2-135m", "smollm2-135m"),
        ("/models/tiny-llama0", "tiny-llama0"),
        ("./SmolLM2.Q4_1.gguf", "SmolLM2.Q4_1.gguf"),
        ("openai:gpt-4o-mini@https://api.openai.com/v1", "gpt-4o-mini"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"),
    ],
)
def test_short_base_has_no_colons_or_slashes(spec, short):
    assert short_base(spec) == short


def test_entries_from_the_run_store():
    store = RunStore()
    ft = finetune_run(store)
    opt = optimize_run(store, f"base+adapter:{ft}")
    store.start("finetune", name="x", task="t", model="base", config={"a": 1}, data_hash="d")
    registry = Registry("base", store)
    names = [e.id for e in registry.entries()]
    assert names == ["base", f"prompt:base:{opt}", f"ft:base:{ft}"]  # unfinished runs left out

    tuned = registry.resolve(f"ft:base:{ft}")
    assert tuned.base == "base" and tuned.adapter == str(store.root / ft / "adapter")
    assert tuned.program.system == "S" and not tuned.passthrough
    optimized = registry.resolve(opt)  # a bare run id works too
    assert optimized.key == tuned.key  # the optimized prompt runs on the fine-tuned model
    assert optimized.program.system == "W"


@pytest.mark.parametrize("name", ["nope", "ft:base:nope", "ft:other:{ft}"])
def test_unknown_names_are_404(name):
    store = RunStore()
    ft = finetune_run(store)
    with pytest.raises(APIError) as err:
        Registry("base", store).resolve(name.format(ft=ft))
    assert err.value.status == 404 and err.value.code == "model_not_found"
