"""The fine-tuning learning curve of a comparison: quality on the same frozen test subset vs the
number of training examples. Each size is an ordinary fine-tuning run (the largest one is the
`finetuned` system's own run, reused) evaluated like the `finetuned` system."""

from __future__ import annotations

import logging
from typing import Any

from tailorlm.compare.systems import Context
from tailorlm.compare.systems.base import train_event
from tailorlm.errors import exception_line
from tailorlm.experiments import run_eval
from tailorlm.types import EventFn

log = logging.getLogger("tailorlm")
SYSTEM = "learning-curve"  # the `system` of its progress events


def learning_curve(ctx: Context) -> tuple[list[dict[str, Any]], str | None]:
    """(points, None); ([], None) when the preset has no curve sizes; a failure leaves the
    curve empty with the reason, and a warning (the systems are already measured)."""
    if not ctx.preset.curve_sizes or ctx.model is None:
        return [], None
    from tailorlm.learning_curve import run_learning_curve

    try:
        curve = run_learning_curve(
            ctx.task,
            list(ctx.preset.curve_sizes),
            model=ctx.model,
            config=ctx.preset.finetune,
            store=ctx.store,
            progress=_training_events(ctx),
        )
        return [_point(ctx, p.run_id, p.size, p.best_dev_loss) for p in curve.points], None
    except Exception as exc:  # noqa: BLE001 - an extra view, not one of the systems
        reason = exception_line(exc)
        log.warning("learning curve not measured (%s); rerun the comparison to retry it", reason)
        return [], reason


def _training_events(ctx: Context) -> EventFn:
    """The curve's fine-tunes report like the fine-tuned system's: `step` events with a stage
    (the size being trained), which every progress view reads."""
    stage = "train"

    def on_event(event: dict[str, Any]) -> None:
        nonlocal stage
        if event.get("event") == "curve":
            stage = f"n={event['size']} train"
        out = train_event(SYSTEM, event)
        ctx.emit({**out, "stage": stage} if out["event"] == "step" else out)

    return on_event


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
                "system": SYSTEM,
                "stage": f"n={size} test",
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
