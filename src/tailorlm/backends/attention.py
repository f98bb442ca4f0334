"""`sdpa_packed`: transformers' SDPA attention, except that a one-token decode step without a
mask runs on the key/value heads directly on a CPU.

With grouped-query attention (SmolLM2: 9 query heads over 3 key/value heads), transformers 5
decodes one token in one of two ways. With a mask it folds the query heads that share a
key/value head into the query length (`pack_gqa`) and calls SDPA once per key/value head. When
the mask can be dropped (no padding: one request at a time, or a batch of equal lengths) it
calls SDPA with `enable_gqa=True` instead, and PyTorch's CPU kernel is slow there in bf16:
measured on this 2-core CPU, 0.32 ms instead of 0.056 ms a layer for one request with 700
cached tokens, 5.6 ms instead of 0.74 ms for 20 (about 8 ms of a 25-30 ms decode step for one
request with a few-shot prompt). The packed call computes the same attention (bit for bit in
those measurements; over whole answers the kernels' summation order can differ, and in bf16 6-7
of 8 greedy answers came out identical, as they do between batch shapes), so this function takes
it in both cases. Everything else goes to transformers' `sdpa_attention_forward` unchanged, with
the masks transformers builds for `sdpa`."""

from __future__ import annotations

from typing import Any

NAME = "sdpa_packed"
_registered = False


def decode_attention(device: str) -> str:
    """The attention implementation to generate with on `device`: `sdpa_packed` on a CPU
    (registered with transformers on first use), `sdpa` elsewhere."""
    if not device.startswith("cpu"):
        return "sdpa"
    register()
    return NAME


def register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, sdpa_packed)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _registered = True


def sdpa_packed(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    plain = attention_mask is None and kwargs.get("position_bias") is None
    if query.shape[2] != 1 or groups == 1 or not plain or kwargs.get("softcap") is not None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    import torch

    batch, heads, _, dim = query.shape
    out = torch.nn.functional.scaled_dot_product_attention(
        query.reshape(batch, heads // groups, groups, dim),
        key,
        value,
        dropout_p=dropout,
        scale=scaling,
    )
    return out.reshape(batch, heads, 1, value.shape[-1]).transpose(1, 2).contiguous(), None
