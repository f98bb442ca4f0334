from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tailorlm.finetune.losses import CHUNK_ROWS, summed_cross_entropy


def _both(logits: torch.Tensor, targets: torch.Tensor):
    ours_in = logits.clone().requires_grad_()
    ref_in = logits.clone().requires_grad_()
    ours = summed_cross_entropy(ours_in, targets)
    ref = F.cross_entropy(ref_in.float(), targets, reduction="sum")
    (ours * 0.5).backward()
    (ref * 0.5).backward()
    return ours, ref, ours_in.grad, ref_in.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matches_cross_entropy_across_chunks(dtype):
    torch.manual_seed(0)
    rows = 2 * CHUNK_ROWS + 37  # two full chunks and a partial one
    logits = (torch.randn(rows, 1000) * 4).to(dtype)
    targets = torch.randint(0, 1000, (rows,))
    ours, ref, grad, ref_grad = _both(logits, targets)
    assert ours.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-3)
    # bf16: each gradient is rounded to bf16 once here; the reference rounds the same float
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(grad, ref_grad, **tolerance)


def test_no_rows_is_zero_with_a_gradient():
    logits = torch.zeros(0, 50, requires_grad=True)
    loss = summed_cross_entropy(logits, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad.shape == (0, 50)


def test_a_confident_right_answer_costs_nearly_nothing():
    logits = torch.full((3, 10), -20.0)
    targets = torch.tensor([1, 5, 9])
    logits[torch.arange(3), targets] = 20.0
    assert float(summed_cross_entropy(logits, targets)) < 1e-6
    logits[0, 1], logits[0, 2] = -20.0, 20.0  # now row 0 is confidently wrong
    assert float(summed_cross_entropy(logits, targets)) > 39.0


def test_threads_get_their_own_chunk_buffer():
    import threading

    from tailorlm.finetune.losses import _workspace

    logits = torch.zeros(4, 10)
    here = _workspace(logits)
    there = []
    worker = threading.Thread(target=lambda: there.append(_workspace(logits)))
    worker.start()
    worker.join()
    assert _workspace(logits) is here and there[0] is not here
