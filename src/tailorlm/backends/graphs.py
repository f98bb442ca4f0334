"""Greedy decoding that replays each decode step as one CUDA graph.

On a GPU a 135M model's decode step is a few hundred tiny kernels, and launching them from
Python is the whole cost: measured on an H100 with the best hand-built sql-sales prompt,
`generate` ran one request at ~54 ms per token and a batch of 24 at ~67 ms per step, where the
arithmetic takes well under 1 ms. Capturing the step once per batch and replaying it made both
~10x faster with the same outputs (BENCHMARKS.md), and `tailor demo` went from 195 s to 64 s.

A graph replays fixed tensors, so the loop keeps everything a step touches at fixed addresses:
a transformers `StaticCache` sized for the prompt plus the answer budget, an additive attention
mask over the whole cache (each step opens the slot it writes), and input buffers for the token
and its position. Positions and padding follow `generate` (left padding, positions counted over
real tokens), and rows stop on the end-of-sequence token or a stop string as they do there.

`graph=False` runs the same loop eagerly: that is how the CPU tests check it against `generate`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from tailorlm.backends.base import decoded_step, watched

WARM_UP_STEPS = 2  # eager steps on a side stream before capture (library handles, workspaces)


def cuda_graphs_enabled() -> bool:
    """False where TAILOR_CUDA_GRAPHS=0: no CUDA graphs by default, decoding or training."""
    return os.environ.get("TAILOR_CUDA_GRAPHS", "1") != "0"


def on_side_stream(run: Callable[[], Any]) -> Any:
    """`run()` on a fresh CUDA stream that waits for the current one, and the current stream
    waits for it: how work runs eagerly before a capture (the capture's own stream is a side
    stream too, so lazily made library handles and workspaces exist by then)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = run()
    torch.cuda.current_stream().wait_stream(side)
    return out


def greedy_decode(
    model: Any,
    ids: Any,
    mask: Any,
    *,
    max_new_tokens: int,
    eos_id: int | None,
    pad_id: int,
    stops_at: Callable[[list[int]], bool] | None = None,
    graph: bool = True,
) -> Any:
    """`generate`'s greedy output for left-padded `ids`/`mask`: the prompt followed by up to
    `max_new_tokens` new tokens per row, pad after a row's end. `stops_at(ids)` says whether
    a row's sequence so far (prompt included) ends a stop string."""
    import torch
    from transformers import StaticCache

    batch, width = ids.shape
    cache = StaticCache(config=model.config, max_cache_len=width + max_new_tokens)
    dtype = next(model.parameters()).dtype
    blocked = torch.finfo(dtype).min
    open_ = torch.zeros(batch, width + max_new_tokens, dtype=torch.bool, device=ids.device)
    open_[:, :width] = mask.bool()
    causal = torch.ones(width, width + max_new_tokens, dtype=torch.bool, device=ids.device)
    causal = causal.tril()
    allowed = causal[None] & open_[:, None, :]
    # Each query may see itself, so a padding position never has a row of only masked keys.
    allowed[:, torch.arange(width), torch.arange(width)] = True
    prefill_mask = torch.zeros(allowed.shape, dtype=dtype, device=ids.device)
    prefill_mask.masked_fill_(~allowed, blocked)
    positions = mask.long().cumsum(-1) - 1
    positions.masked_fill_(mask == 0, 1)

    forward = partial(next_tokens, model, cache)
    with torch.inference_mode():
        token = forward(ids, prefill_mask[:, None], positions)
        step_mask = torch.zeros(batch, 1, 1, width + max_new_tokens, dtype=dtype, device=ids.device)
        step_mask.masked_fill_(~open_[:, None, None, :], blocked)
        token_in = token[:, None].clone()
        position_in = positions[:, -1:] + 1
        rows = Rows(ids.tolist(), eos_id, pad_id, stops_at)
        runner = _StepRunner(forward, token_in, step_mask, position_in, graph)
        for step in range(max_new_tokens):
            if rows.take(token.tolist()) or step == max_new_tokens - 1:
                break
            step_mask[:, :, :, width + step] = 0  # the slot this step writes
            if step:
                position_in += 1
            token_in.copy_(token[:, None])
            token = runner.run()
        return rows.tensor(ids)


def next_tokens(
    model: Any, cache: Any, input_ids: Any, attention_mask: Any, position_ids: Any
) -> Any:
    """One forward pass of `input_ids` on top of `cache` (which it extends); each row's greedy
    next token."""
    with warnings.catch_warnings():  # transformers 5.x renames past_key_values to cache
        warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    return out.logits[:, -1].argmax(-1)


class _StepRunner:
    """Runs the decode step: eagerly, or (on a GPU) a few warm-up steps and then a captured
    graph that is replayed with the input buffers updated in place."""

    def __init__(self, forward: Any, token: Any, mask: Any, position: Any, graph: bool) -> None:
        self.forward, self.token, self.mask, self.position = forward, token, mask, position
        self.graph_wanted = graph
        self.steps = 0
        self.graph: Any = None
        self.output: Any = None

    def run(self) -> Any:
        import torch

        self.steps += 1
        if not self.graph_wanted:
            return self.forward(self.token, self.mask, self.position)
        with torch.cuda.device(self.token.device):  # the model's GPU, whichever is current
            return self._on_gpu()

    def _on_gpu(self) -> Any:
        import torch

        if self.graph is None and self.steps <= WARM_UP_STEPS:
            return on_side_stream(lambda: self.forward(self.token, self.mask, self.position))
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.output = self.forward(self.token, self.mask, self.position)
        self.graph.replay()
        return self.output.clone()


class Rows:
    """Each row's sequence (prompt, then new tokens) and whether it has ended (end-of-sequence
    or a stop string)."""

    def __init__(
        self,
        prompts: list[list[int]],
        eos_id: int | None,
        pad_id: int,
        stops_at: Callable[[list[int]], bool] | None,
    ) -> None:
        self.seqs, self.eos_id, self.pad_id, self.stops_at = prompts, eos_id, pad_id, stops_at
        self.done = [False] * len(prompts)
        self.steps = 0

    def take(self, tokens: Sequence[int]) -> bool:
        """Append one token per row (pad for rows that ended); True when every row has ended."""
        for row, token in enumerate(tokens):
            seq = self.seqs[row]
            if self.done[row]:
                seq.append(self.pad_id)
                continue
            seq.append(token)
            if token == self.eos_id or (self.stops_at is not None and self.stops_at(seq)):
                self.done[row] = True
        self.steps += 1
        if watched():  # nothing to count when no progress bar listens
            decoded_step(id(self), sum(self.done), len(self.done), self.steps)
        return all(self.done)

    def tensor(self, like: Any) -> Any:
        """The sequences as one tensor with `like`'s dtype and device (all have one length)."""
        import torch

        return torch.tensor(self.seqs, dtype=like.dtype, device=like.device)
