"""A whole comparison on the tiny random model: every system runs for real (LoRA training, the
adapter at evaluation, latency one request at a time), in seconds."""

from __future__ import annotations

from tailorlm.cli.compare_cmds import _progress
from tailorlm.compare import run_compare
from tailorlm.store import RunStore

from .helpers import tiny


def test_every_system_and_the_learning_curve_with_a_local_model(tiny_model_dir):
    preset = tiny(test_limit=4, max_new_tokens=6, curve_sizes=(12, 24))
    events: list[dict] = []
    with _progress() as show:  # the CLI's progress view reads every event (it failed the curve)

        def progress(event: dict) -> None:
            events.append(event)
            show(event)

        outcome = run_compare(
            "sql-sales", model=str(tiny_model_dir), preset=preset, progress=progress
        )
    c = outcome.comparison
    systems = {s["id"]: s for s in c["systems"]}
    assert [s["status"] for s in c["systems"]] == ["ok"] * 7, [s["reason"] for s in c["systems"]]
    # prompt -> weights trains on rows carrying the best prompt: more tokens for the same steps
    prompted = systems["prompted-finetune"]
    assert prompted["setup"]["train_tokens"] > systems["finetuned"]["setup"]["train_tokens"]
    assert prompted["builds_on"] == ["best-prompt"]
    tuned = systems["finetuned"]
    assert tuned["approach"] == "finetune" and tuned["artifacts"]["adapter_bytes"] > 0
    assert tuned["setup"]["train_tokens"] > 0 and tuned["setup"]["flops"] > 0
    assert tuned["runs"]["finetune"] == tuned["runs"]["setup"]
    assert tuned["change"] == {"action": "retrain the adapter", "wall_s": tuned["setup"]["wall_s"]}
    both = systems["finetuned-optimized"]
    assert both["runs"]["finetune"] == tuned["runs"]["finetune"]
    assert both["setup"]["wall_s"] > tuned["setup"]["wall_s"]
    assert both["setup"]["train_tokens"] == tuned["setup"]["train_tokens"]
    assert systems["optimized-prompt"]["setup"]["flops"] > 0  # 2 x params x tokens searched
    for s in c["systems"]:
        p = s["per_request"]
        assert 0 < p["latency_p50_s"] <= p["latency_p95_s"] and p["throughput_rps"] > 0
    assert len(c["loss_curve"]["train"]) == 4 and c["loss_curve"]["dev"]
    assert {("finetuned", "zero-shot"), ("finetuned", "best-prompt")} <= {
        (p["a"], p["b"]) for p in c["comparisons"]
    }
    assert c["hardware"]["device"] in ("cpu", "cuda") and c["wall_s"] > 0
    curve = c["learning_curve"]
    assert [p["n_train"] for p in curve] == [12, 24]
    assert curve[1]["run_id"] == tuned["runs"]["finetune"]  # the system's own run, reused
    assert curve[1]["score"] == tuned["quality"]["score"] and curve[0]["dev_loss"] > 0
    assert RunStore().get(outcome.run_id).is_complete
    stages = {
        e["stage"] for e in events if e["event"] == "step" and e["system"] == "learning-curve"
    }
    assert {"n=12 train", "n=12 test"} <= stages, stages  # n=24: the system's run, reused


def test_a_failed_learning_curve_is_said_and_a_rerun_measures_it(tiny_model_dir, monkeypatch):
    import tailorlm.learning_curve as curves
    from tailorlm.report import build_report

    preset = tiny(test_limit=2, max_new_tokens=4, curve_sizes=(12,), systems=("finetuned",))
    measure = curves.run_learning_curve

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(curves, "run_learning_curve", broken)
    first = run_compare("sql-sales", model=str(tiny_model_dir), preset=preset)
    assert first.comparison["learning_curve"] == []
    assert first.comparison["learning_curve_error"] == "RuntimeError: boom"
    report = build_report(first.comparison)
    assert "Not measured: RuntimeError: boom" in report.markdown()
    assert "Learning curve not measured: RuntimeError: boom" in report.html()
    # A rerun is not handed the comparison without its curve: it measures the curve (the
    # systems' steps reused), and the one after that reuses the complete comparison.
    monkeypatch.setattr(curves, "run_learning_curve", measure)
    second = run_compare("sql-sales", model=str(tiny_model_dir), preset=preset)
    assert not second.reused and second.run_id != first.run_id
    assert [p["n_train"] for p in second.comparison["learning_curve"]] == [12]
    assert second.comparison["learning_curve_error"] is None
    third = run_compare("sql-sales", model=str(tiny_model_dir), preset=preset)
    assert third.reused and third.run_id == second.run_id
