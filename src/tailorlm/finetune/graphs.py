"""Training steps whose forward and backward replay as one CUDA graph.

On a GPU a small model's training step is launch-bound: measured on an H100 with the 135M
default model, a LoRA step of 8 sql-sales rows took ~0.25 s, where its arithmetic takes a few
milliseconds; the time goes to launching thousands of tiny kernels from Python (the adapters
alone add a handful per adapted layer, forward and backward). As the decode loop does in
backends/graphs.py, the step is captured once per batch shape and replayed.

A graph replays fixed tensors at fixed addresses, so a step here is shaped for it:
* every batch is padded to `rows` rows (spare rows are pad tokens with no labels) and to a
  width from a few buckets (powers of two from 64), so a run meets at most a handful of shapes;
* the attention mask is built inside the step from each row's length (causal, padding keys
  closed) and passed to the model as 4D, which transformers uses as it is;
* the loss is the summed cross-entropy over every position whose label is not ignored, so no
  step depends on how many answer tokens it holds; the gradient is scaled by a one-element
  input (1 / answer tokens of the step), as the eager step divides it.

The gradients the captured backward writes stay the graph's: after each replay they are put
back on the parameters (`optimizer.zero_grad(set_to_none=True)` drops them), so clipping and the
optimizer step run as before, outside the graph. A shape's first `WARM_UP_STEPS` steps run
eagerly on a side stream (they are real steps, their gradients used), then it is captured.

`graph=False` runs the same padded step eagerly: that is how the CPU tests check it against the
eager step (same loss and gradients in float32). Used on one CUDA device, one process, one
micro-batch per step, for models under `AUTO_MAX_PARAMS` unless `cuda_graphs` says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from tailorlm.backends.graphs import WARM_UP_STEPS, cuda_graphs_enabled, on_side_stream
from tailorlm.finetune.data import IGNORE_INDEX, Row, collate

log = logging.getLogger(__name__)

MIN_WIDTH = 64
# Above this size a step's arithmetic outweighs its launches, and padding to the buckets' widths
# would cost more than the graph saves.
AUTO_MAX_PARAMS = 1_000_000_000


def bucket_width(longest: int, limit: int | None = None) -> int:
    """The padded width of a batch whose longest row has `longest` tokens: the next power of
    two from MIN_WIDTH, or `longest` rounded up to 8 where that power would pass `limit` (the
    model's largest position)."""
    width = MIN_WIDTH
    while width < longest:
        width *= 2
    if limit is not None and width > limit:
        return min(-(-longest // 8) * 8, max(limit, longest))
    return width


def use_graphs(setting: bool | None, accelerator: Any, params: dict[str, int], cfg: Any) -> bool:
    """Whether this run's steps replay as CUDA graphs: `setting` (None: auto, which
    TAILOR_CUDA_GRAPHS=0 turns off) where the step can be captured at all."""
    capturable = (
        accelerator.device.type == "cuda"
        and accelerator.num_processes == 1
        and not cfg.gradient_checkpointing
        and cfg.grad_accum == 1
    )
    if setting is None:
        return cuda_graphs_enabled() and capturable and params["total"] < AUTO_MAX_PARAMS
    return bool(setting) and capturable


@dataclass
class _Shape:
    """Static inputs, and once captured the graph with its outputs, for one (rows, width)."""

    ids: Any
    labels: Any
    lengths: Any
    scale: Any
    steps: int = 0
    graph: Any = None
    loss: Any = None
    grads: list[Any] = field(default_factory=list)


class StepGraphs:
    """Forward and backward of `net`'s padded loss, per batch shape, eager or as CUDA graphs."""

    def __init__(
        self,
        net: Any,
        pad_id: int,
        rows: int,
        *,
        bf16: bool,
        graph: bool = True,
        device: Any = None,
    ) -> None:
        import torch

        self.net, self.pad_id, self.rows, self.bf16 = net, pad_id, rows, bf16
        self.graph = graph
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.device = device if device is not None else self.params[0].device
        config = net.causal_lm.config
        self.limit = getattr(config, "max_position_embeddings", None)
        self.sdpa = config._attn_implementation != "eager"
        self.shapes: dict[int, _Shape] = {}
        self.failed = False
        self._torch = torch

    def step(self, batch: Sequence[Row]) -> tuple[Any, int, int]:
        """Loss (a tensor: summed over answer tokens) after the backward of loss / answer
        tokens has put the gradients on the parameters; answer tokens; real tokens."""
        torch = self._torch
        if len(batch) > self.rows:
            raise ValueError(f"{len(batch)} rows do not fit a step of {self.rows}")
        width = bucket_width(max(len(r) for r in batch), self.limit)
        shape = self.shapes.get(width)
        if shape is None:
            shape = self.shapes[width] = self._buffers(width)
        answer = self._fill(shape, batch, width)
        shape.scale.fill_(1.0 / max(answer, 1))
        shape.steps += 1
        if not self.graph:
            loss = self._forward_backward(shape)
        else:
            with torch.cuda.device(self.device):
                loss = self._on_gpu(shape)
        return loss.detach(), answer, sum(len(r) for r in batch)

    def _buffers(self, width: int) -> _Shape:
        torch, dev = self._torch, self.device
        return _Shape(
            ids=torch.full((self.rows, width), self.pad_id, dtype=torch.long, device=dev),
            labels=torch.full((self.rows, width), IGNORE_INDEX, dtype=torch.long, device=dev),
            lengths=torch.full((self.rows,), width, dtype=torch.long, device=dev),
            scale=torch.ones((), dtype=torch.float32, device=dev),
        )

    def _fill(self, shape: _Shape, batch: Sequence[Row], width: int) -> int:
        """Copy the batch into the static inputs (spare rows: pad tokens, no labels, all keys
        open so no query sees only closed keys). Returns the answer tokens."""
        tensors, n = collate(batch, self.pad_id, multiple=width), len(batch)
        shape.ids[:n].copy_(tensors["input_ids"])
        shape.ids[n:].fill_(self.pad_id)
        shape.labels[:n].copy_(tensors["labels"])
        shape.labels[n:].fill_(IGNORE_INDEX)
        shape.lengths[:n].copy_(tensors["attention_mask"].sum(1))
        shape.lengths[n:].fill_(width)
        return int((tensors["labels"][:, 1:] != IGNORE_INDEX).sum())

    def _forward_backward(self, shape: _Shape) -> Any:
        torch = self._torch
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)
            if self.bf16
            else nullcontext()
        )
        with autocast:
            loss = self.net.padded_loss(shape.ids, self._mask(shape), shape.labels)
        (loss * shape.scale).backward()
        return loss

    def _mask(self, shape: _Shape) -> Any:
        """[rows, 1, width, width]: causal, keys past a row's length closed, and each query
        sees itself (a padding position never has only closed keys). Boolean for SDPA, additive
        for eager attention."""
        torch = self._torch
        width = shape.ids.shape[1]
        at = torch.arange(width, device=self.device)
        causal = at[None, :] <= at[:, None]
        open_keys = at[None, :] < shape.lengths[:, None]
        allowed = (causal[None] & open_keys[:, None, :]) | torch.eye(
            width, dtype=torch.bool, device=self.device
        )
        if self.sdpa:
            return allowed[:, None]
        blocked = torch.finfo(torch.float32).min
        return torch.zeros(allowed.shape, device=self.device).masked_fill_(~allowed, blocked)[
            :, None
        ]

    def _on_gpu(self, shape: _Shape) -> Any:
        if self.failed or shape.steps <= WARM_UP_STEPS:
            return on_side_stream(lambda: self._forward_backward(shape))
        if shape.graph is None and not self._capture(shape):
            return self._on_gpu(shape)
        shape.graph.replay()
        for param, grad in zip(self.params, shape.grads):
            param.grad = grad
        return shape.loss

    def _capture(self, shape: _Shape) -> bool:
        """Capture the step; where that fails, say why and run every later step eagerly."""
        torch = self._torch
        for param in self.params:
            param.grad = None  # so the captured backward writes fresh gradients, not adds
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                loss = self._forward_backward(shape)
        except Exception as exc:  # noqa: BLE001 - any capture failure falls back to eager
            log.warning("training steps run eagerly: capturing one as a graph failed (%s)", exc)
            self.failed = True
            for param in self.params:
                param.grad = None
            return False
        # Detached: the captured autograd graph (its nodes belong to the capture stream) is
        # not kept alive, so later eager steps build their own.
        shape.graph, shape.loss = graph, loss.detach()
        shape.grads = [p.grad for p in self.params]
        return True
