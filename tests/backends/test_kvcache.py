from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tailorlm.backends.kvcache import filled_cache, growing_cache


def _generate(model, tokenizer, cache, new_tokens=12):
    texts = ["How many orders are there?", "Revenue by region?", "List every city we ship to."]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    kwargs = {} if cache is None else {"past_key_values": cache}
    with torch.inference_mode():
        out = model.generate(
            **batch,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            **kwargs,
        )
    return out.tolist()


@pytest.mark.parametrize("reserve", [12, 1])  # 1: the buffer regrows on every step
def test_same_greedy_tokens_as_transformers_own_cache(tiny_lm, reserve):
    model, tokenizer = tiny_lm
    expected = _generate(model, tokenizer, None)
    assert _generate(model, tokenizer, growing_cache(model, reserve)) == expected


def _states(length, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, 2, length, 4)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_steps_write_into_one_buffer_without_copying_the_cache(tiny_lm):
    model, _ = tiny_lm
    layer = growing_cache(model, reserve=3).layers[0]
    keys, values = _states(5)
    layer.update(keys, values)
    buffer = layer.keys.data_ptr()
    for step in range(3):
        k, v = _states(1, seed=step + 1)
        got_k, got_v = layer.update(k, v)
        keys, values = torch.cat([keys, k], dim=-2), torch.cat([values, v], dim=-2)
        assert got_k.data_ptr() == buffer  # a view of the same buffer: nothing was copied
        assert torch.equal(got_k, keys) and torch.equal(got_v, values)
    assert layer.get_seq_length() == 8
    layer.update(*_states(1, seed=9))  # past the reserve: a larger buffer, same contents
    assert layer.keys.data_ptr() != buffer and torch.equal(layer.keys[:, :, :8], keys)


def test_base_class_edits_are_picked_up(tiny_lm):
    """crop and batch selection replace the views; the next update starts from what they hold,
    as transformers' own layer does."""
    from transformers.cache_utils import DynamicLayer

    model, _ = tiny_lm
    ours, theirs = growing_cache(model, reserve=4).layers[0], DynamicLayer()
    for layer in (ours, theirs):
        layer.update(*_states(6))
        layer.crop(-2)
        layer.update(*_states(1, seed=1))
        layer.batch_select_indices(torch.tensor([1]))
        layer.update(*_states(1, batch=1, seed=2))
    assert torch.equal(ours.keys, theirs.keys) and torch.equal(ours.values, theirs.values)
    assert ours.get_seq_length() == theirs.get_seq_length() == 6


def test_filled_cache_repeats_a_prefix_over_the_batch(tiny_lm):
    model, _ = tiny_lm
    source = growing_cache(model, reserve=0)
    prefix = [_states(4, batch=1, seed=i) for i in range(model.config.num_hidden_layers)]
    for i, (k, v) in enumerate(prefix):
        source.update(k, v, i)
    cache = filled_cache(model, source, batch_size=3, reserve=5)
    for layer, (k, v) in zip(cache.layers, prefix):
        assert torch.equal(layer.keys, k.expand(3, -1, -1, -1))
        assert torch.equal(layer.values, v.expand(3, -1, -1, -1))
        assert layer._keys.shape[2] == 4 + 5


def test_models_with_sliding_window_layers_keep_transformers_cache():
    from transformers import MistralConfig

    model = SimpleNamespace(config=MistralConfig(num_hidden_layers=2, sliding_window=16))
    assert growing_cache(model, 8) is None
    model = SimpleNamespace(config=MistralConfig(num_hidden_layers=2, sliding_window=None))
    assert growing_cache(model, 8) is not None
