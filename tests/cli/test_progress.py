"""Progress moves inside a batch, prints plain lines where output is not a terminal, and log
lines go above a live bar instead of through it."""

from __future__ import annotations

import io
import logging
import sys

from typer.testing import CliRunner

from tailorlm.cli import render
from tailorlm.cli.app import _StderrNow, app
from tailorlm.experiments import run_eval
from tailorlm.types import GenerationOptions


def test_an_eval_in_one_batch_reports_progress_before_it_ends(tiny_model_dir):
    calls: list[tuple[float, int]] = []
    run_eval(
        "sql-sales",
        model=str(tiny_model_dir),
        strategy="zero-shot",
        limit=4,
        options=GenerationOptions(max_new_tokens=12, batch_size=8),  # 4 rows: one batch
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[0] == (0, 4)  # the total is known from the start
    assert calls[-1] == (4, 4)
    inside = [done for done, _ in calls if 0 < done < 4]
    assert len(inside) >= 5, calls  # it moved with the decoding steps
    assert inside == sorted(inside)


def test_plain_lines_where_output_is_not_a_terminal(monkeypatch, capsys):
    clock = iter([0.0, 1.0, 2.0, 12.0, 13.0, 30.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    with render.plain_progress("eval sql-sales") as advance:
        for done in (1, 2, 3, 4, 6):  # at t = 1, 2, 12, 13, 30
            advance(done, 6)
    lines = capsys.readouterr().out.splitlines()
    # The first call, the one 10 s later, and the end; not every call.
    assert lines == [
        "eval sql-sales: 1/6 rows (1 s, ~5 s left)",
        "eval sql-sales: 3/6 rows (12 s, ~12 s left)",
        "eval sql-sales: 6/6 rows (30 s)",
    ]


def test_the_cli_eval_prints_plain_progress_through_a_pipe(tiny_model_dir):
    args = ["eval", "sql-sales", "--model", str(tiny_model_dir), "--limit", "2"]
    result = CliRunner().invoke(app, [*args, "--max-new-tokens", "2"])
    assert result.exit_code == 0, result.output
    assert "eval sql-sales [zero-shot]: 2/2 rows" in result.output


def test_log_lines_follow_the_stderr_a_live_bar_installs(monkeypatch):
    handler = _StderrNow()
    log = logging.getLogger("tailorlm.test-progress")
    log.addHandler(handler)
    try:
        swapped = io.StringIO()
        monkeypatch.setattr(sys, "stderr", swapped)  # what rich's live display does
        log.warning("Converting model.gguf ...")
        assert "Converting model.gguf" in swapped.getvalue()
    finally:
        log.removeHandler(handler)


def test_a_batched_eval_labels_its_times_as_batch_times(tiny_model_dir):
    args = ["eval", "sql-sales", "--model", str(tiny_model_dir), "--limit", "2"]
    batched = CliRunner().invoke(app, [*args, "--max-new-tokens", "2"]).output
    assert "time per batch (up to 8 rows, not one request) p50" in batched
    assert "latency/request" not in batched
    alone = CliRunner().invoke(app, [*args, "--max-new-tokens", "2", "--batch-size", "1"])
    assert "latency/request p50" in alone.output


def test_the_merge_message_says_what_was_done_and_why():
    from tailorlm.backends.local import merge_words

    merged = merge_words(True, "bfloat16", 0.11)
    assert merged.startswith("LoRA adapter merged into the bfloat16 weights")
    assert "11%" in merged and "within the 20% allowed" in merged and "lose" not in merged
    kept = merge_words(False, "bfloat16", 0.31)
    assert kept.startswith("LoRA adapter kept as a separate float32 layer") and "31%" in kept
