"""The training loss: summed cross-entropy over answer tokens, computed in chunks of rows.

`F.cross_entropy(logits.float(), targets, reduction="sum")` makes a float32 copy of every
logit, log-softmaxes it, and in backward builds the float32 gradient and casts it back: several
passes over N x vocabulary floats that do not fit a CPU's caches. Here each chunk of rows is
converted, reduced and (in backward) turned into its gradient while it is hot, and only the
per-row log-sum-exp is kept between the passes. Measured on this 2-core CPU, 600 answer tokens x
the 49k vocabulary in bf16, projection + loss, forward and backward: 150 ms instead of
200-250 ms. The values are the same up to float rounding (tests/finetune/test_losses.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

CHUNK_ROWS = 128  # 128 x 49k float32 logits = 25 MB per pass


def summed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over rows of -log softmax(logits)[target], computed in float32 whatever the
    logits' dtype; the gradient comes back in the logits' dtype."""
    loss: torch.Tensor = _SummedCrossEntropy.apply(logits, targets)
    return loss


class _SummedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        lse = logits.new_empty(logits.shape[0], dtype=torch.float32)
        picked = torch.empty_like(lse)
        for rows in _chunks(logits.shape[0]):
            chunk = logits[rows].float()
            lse[rows] = torch.logsumexp(chunk, dim=-1)
            picked[rows] = chunk.gather(1, targets[rows, None]).squeeze(1)
        ctx.save_for_backward(logits, targets, lse)
        return (lse - picked).sum()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, targets, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for rows in _chunks(logits.shape[0]):
            # (softmax - one_hot(target)) x the incoming gradient
            probs = logits[rows].float().sub_(lse[rows, None]).exp_()
            minus_one = probs.new_full((probs.shape[0], 1), -1.0)
            probs.scatter_add_(1, targets[rows, None], minus_one)
            grad[rows] = probs.mul_(grad_out)
        return grad, None


def _chunks(n: int) -> Iterator[slice]:
    return (slice(start, start + CHUNK_ROWS) for start in range(0, n, CHUNK_ROWS))
