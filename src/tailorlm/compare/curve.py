"""The fine-tuning learning curve of a comparison: quality on the same frozen test subset vs the
number of training examples. Each size is an ordinary fine-tuning run (the largest one is the
`finetuned` system's own run, reused) evaluated like the `finetuned` system."""

from __future__ import annotations

import logging
from typing import Any

from tailorlm.compare.systems import Context
from tailorlm.experiments import run_eval

log = logging.getLogger("tailorlm")


def learning_curve(ctx: Context) -> list[dict[str, Any]]:
    """[] when the preset has no curve sizes; a failure leaves the curve empty, with a warning
    (the systems are already measured)."""
    if not ctx.preset.curve_sizes or ctx.model is None:
        return []
    from tailorlm.learning_curve import run_learning_curve

    try:
        curve = run_learning_curve(
            ctx.task,
            list(ctx.preset.curve_sizes),
            model=ctx.model,
            config=ctx.preset.finetune,
            store=ctx.store,
            progress=lambda event: ctx.emit({**event, "system": "learning-curve"}),
        )
        return [_point(ctx, p.run_id, p.size, p.best_dev_loss) for p in curve.points]
    except Exception as exc:  # noqa: BLE001 - an extra view, not one of the systems
        log.warning("learning curve not measured: %s", exc)
        return []


def _point(ctx: Context, run_id: str, size: int, dev_loss: float | None) -> dict[str, Any]:
    from tailorlm.training import program_path_for_run, tuned_backend

    outcome = run_eval(
        ctx.task,
        model=tuned_backend(run_id, ctx.model, ctx.store),
        prompt_file=program_path_for_run(run_id, ctx.store),
        limit=ctx.preset.test_limit,
        options=ctx.options,
        store=ctx.store,
        progress=lambda done, total: ctx.emit(
            {
                "event": "step",
                "system": "learning-curve",
                "stage": f"n={size}",
                "done": done,
                "total": total,
            }
        ),
    )
    s = outcome.summary
    return {
        "n_train": size,
        "score": s.quality,
        "ci": [s.ci_low, s.ci_high],
        "dev_loss": dev_loss,
        "run_id": run_id,
    }
