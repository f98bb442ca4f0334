"""Shared-prefix KV cache for batched generation.

Engineered prompts repeat the same system message, schema and demos on every request. The key
and value tensors of that shared token prefix are computed once, kept in a small LRU, and copied
into every batch, so each request's prefill covers only its own tokens. The full prompts are
tokenized first and the prefix is taken on token ids, so the model sees exactly the tokens of
the uncached path; requests are laid out as `prefix + left padding + own tokens`, with the
padding masked out and positions counted over real tokens only."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tailorlm.backends.kvcache import filled_cache

MIN_PREFIX_TOKENS = 32  # below this, the copy costs about what it saves
CACHED_PREFIXES = 4


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence shares from the start, leaving each at least one of its own (the
    model must run on one new token to produce the first logits)."""
    if not seqs:
        return 0
    first, limit = seqs[0], min(len(s) for s in seqs) - 1
    for i in range(max(limit, 0)):
        if any(s[i] != first[i] for s in seqs):
            return i
    return max(limit, 0)


class PrefixCache:
    """An LRU of prefilled prefixes for one model."""

    def __init__(self, model: Any, capacity: int = CACHED_PREFIXES) -> None:
        self.model = model
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def prefix_for(self, seqs: Sequence[Sequence[int]]) -> tuple[int, ...]:
        """The longest cached prefix all `seqs` start with, else their own common prefix; ()
        when there is nothing worth sharing (one request, or a short common head)."""
        for key in sorted(self._entries, key=len, reverse=True):
            if all(len(s) > len(key) and tuple(s[: len(key)]) == key for s in seqs):
                return key
        n = common_prefix_length(seqs) if len(seqs) > 1 else 0
        return tuple(seqs[0][:n]) if n >= MIN_PREFIX_TOKENS else ()

    def cache_for(self, prefix: tuple[int, ...], batch_size: int, reserve: int = 0) -> Any:
        """A fresh cache holding `prefix` for `batch_size` rows (generate extends it in place),
        with room for `reserve` more tokens per row where the model allows (backends/kvcache)."""
        entry = self._entries.get(prefix)
        if entry is None:
            self.misses += 1
            entry = self._prefill(prefix)
            self._entries[prefix] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(prefix)
        if reserve and (cache := filled_cache(self.model, entry, batch_size, reserve)):
            return cache
        cache = copy.deepcopy(entry)
        if batch_size > 1:
            cache.batch_repeat_interleave(batch_size)
        return cache

    def _prefill(self, prefix: tuple[int, ...]) -> Any:
        import torch

        device = next(self.model.parameters()).device
        ids = torch.tensor([prefix], device=device)
        with torch.inference_mode():
            out = self.model(input_ids=ids, use_cache=True)
        return out.past_key_values


def layout(
    seqs: Sequence[Sequence[int]], prefix_len: int, pad_id: int, device: str
) -> tuple[Any, Any]:
    """(input_ids, attention_mask): each row is the shared prefix, then left padding, then the
    row's own tokens. With prefix_len 0 this is plain left padding."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        own = len(seq) - prefix_len
        ids[row, :prefix_len] = torch.tensor(seq[:prefix_len])
        ids[row, width - own :] = torch.tensor(seq[prefix_len:])
        mask[row, :prefix_len] = 1
        mask[row, width - own :] = 1
    return ids.to(device), mask.to(device)
