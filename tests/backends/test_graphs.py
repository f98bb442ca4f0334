"""The graph decoder's loop, run eagerly on the CPU (`graph=False`, decoder `static`): the same
tokens as transformers' `generate`. The captured-graph replay itself needs a GPU."""

from __future__ import annotations

import pytest
import torch

from tailorlm.backends.graphs import greedy_decode
from tailorlm.backends.local import LocalBackend, default_decoder
from tailorlm.backends.stops import ends_a_stop, stop_window
from tailorlm.types import GenerationOptions

TEXTS = ["How many orders are there?", "Revenue by region?", "Cities?", "Top product."]


# The random tiny model repeats one token per row: "hundred", " actu", "yl", " amphibian".
@pytest.mark.parametrize(("stops", "new_tokens"), [((), 12), (("hundred", "yly"), 20), ((), 1)])
def test_same_tokens_as_generate(tiny_lm, stops, new_tokens):
    model, tokenizer = tiny_lm
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    common = {
        "max_new_tokens": new_tokens,
        "do_sample": False,
        "pad_token_id": tokenizer.eos_token_id,
    }
    if stops:
        common.update(stop_strings=list(stops), tokenizer=tokenizer)
    with torch.inference_mode():
        expected = model.generate(**batch, **common)
    window = stop_window(stops)
    got = greedy_decode(
        model,
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=new_tokens,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.eos_token_id,
        stops_at=(lambda seq: ends_a_stop(tokenizer, stops, seq[-window:])) if stops else None,
        graph=False,
    )
    assert got.tolist() == expected.tolist()


def test_a_row_that_ends_on_eos_gets_padding(tiny_lm):
    model, tokenizer = tiny_lm
    batch = tokenizer(TEXTS[2:], return_tensors="pt", padding=True)  # "yl..." and " amphibian..."
    with torch.inference_mode():
        first = model(**batch).logits[:, -1].argmax(-1).tolist()
    assert first[0] != first[1]
    got = greedy_decode(
        model,
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=6,
        eos_id=first[0],  # row 0's first new token counts as its end
        pad_id=-1,
        graph=False,
    )
    width = batch["input_ids"].shape[1]
    assert got[0, width:].tolist() == [first[0]] + [-1] * 5
    assert -1 not in got[1].tolist() and got.shape[1] == width + 6


def test_backend_static_decoder_matches_generate(tiny_model_dir, monkeypatch):
    """Through LocalBackend: the same completions with the graph loop as with generate (float32
    on the CPU, where the loop runs without capture)."""
    monkeypatch.setenv("TAILOR_CPU_BF16", "0")
    backend = LocalBackend(str(tiny_model_dir))
    assert backend.decoder == "generate" == default_decoder("cpu")
    requests = [({"role": "user", "content": t},) for t in TEXTS]
    for stop in ((), ("\n\n\n",)):
        options = GenerationOptions(max_new_tokens=10, batch_size=3, stop=stop)
        backend.decoder = "generate"
        expected = backend.generate(requests, options)
        backend.decoder = "static"
        got = backend.generate(requests, options)
        assert [_fields(c) for c in got] == [_fields(c) for c in expected]


def _fields(completion):
    return (
        completion.text,
        completion.prompt_tokens,
        completion.completion_tokens,
        completion.finish_reason,
    )


def test_cuda_defaults_to_graphs_unless_turned_off(monkeypatch):
    assert default_decoder("cuda") == "graphs"
    monkeypatch.setenv("TAILOR_CUDA_GRAPHS", "0")
    assert default_decoder("cuda:0") == "generate"


def test_models_with_other_layers_keep_generate(tiny_model_dir, monkeypatch):
    """Sliding-window or special layers get another static cache than the mask is built for."""
    from tailorlm.backends import local

    backend = LocalBackend(str(tiny_model_dir))
    backend.decoder = "static"
    monkeypatch.setattr(local, "full_attention_only", lambda model: False)
    monkeypatch.setattr(local, "greedy_decode", lambda *a, **k: pytest.fail("graph decoder used"))
    out = backend.generate([({"role": "user", "content": "Cities?"},)], GenerationOptions(4))
    assert out[0].completion_tokens == 4 and backend.decoder == "static"
