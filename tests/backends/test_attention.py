from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from tailorlm.backends.attention import NAME, decode_attention, sdpa_packed

GQA = SimpleNamespace(num_key_value_groups=3, is_causal=True, training=False)


def _qkv(q_len, kv_len, batch=2, dtype=torch.float32):
    g = torch.Generator().manual_seed(q_len * 1000 + kv_len)
    query = torch.randn(batch, 9, q_len, 16, generator=g).to(dtype)
    # keys and values as the growing cache hands them out: views into a longer buffer
    key = torch.randn(batch, 3, kv_len + 5, 16, generator=g).to(dtype)[:, :, :kv_len]
    value = torch.randn(batch, 3, kv_len + 5, 16, generator=g).to(dtype)[:, :, :kv_len]
    return query, key, value


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_decode_step_without_a_mask_gives_transformers_values(dtype):
    query, key, value = _qkv(1, 37, dtype=dtype)
    expected, _ = sdpa_attention_forward(GQA, query, key, value, None, scaling=0.25)
    got, weights = sdpa_packed(GQA, query, key, value, None, scaling=0.25)
    assert weights is None and got.shape == expected.shape == (2, 1, 9, 16)
    assert got.is_contiguous()
    tolerance = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


def test_the_decode_step_runs_on_the_key_value_heads(monkeypatch):
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(query, key, value, **kwargs):
        calls.append((tuple(query.shape), kwargs.get("enable_gqa", False)))
        return real(query, key, value, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    sdpa_packed(GQA, *_qkv(1, 20), None, scaling=0.25)
    # 9 query heads folded onto the 3 key/value heads they share: no enable_gqa kernel
    assert calls == [((2, 3, 3, 16), False)]


@pytest.mark.parametrize(
    ("q_len", "mask"),
    [
        (4, None),
        (1, torch.ones(2, 1, 1, 20, dtype=torch.bool)),
        (4, torch.ones(2, 1, 4, 20).bool()),
    ],
)
def test_other_calls_are_transformers_own(q_len, mask):
    query, key, value = _qkv(q_len, 20)
    expected, _ = sdpa_attention_forward(GQA, query, key, value, mask, scaling=0.25)
    got, _ = sdpa_packed(GQA, query, key, value, mask, scaling=0.25)
    assert torch.equal(got, expected)


def test_cpu_models_generate_with_it_and_the_same_greedy_tokens(tiny_lm):
    model, tokenizer = tiny_lm
    assert decode_attention("cuda:0") == "sdpa"
    batch = tokenizer(["How many orders are there?"], return_tensors="pt")
    outputs = {}
    for impl in ("sdpa", decode_attention("cpu")):
        model.set_attn_implementation(impl)
        with torch.inference_mode():
            outputs[impl] = model.generate(
                **batch, max_new_tokens=12, min_new_tokens=12, do_sample=False
            ).tolist()
    model.set_attn_implementation("sdpa")
    assert outputs[NAME] == outputs["sdpa"]


def test_the_local_backend_loads_cpu_models_with_it(tiny_model_dir):
    from tailorlm.backends.local import LocalBackend

    backend = LocalBackend(str(tiny_model_dir), device="cpu")
    assert backend.model.config._attn_implementation == NAME
