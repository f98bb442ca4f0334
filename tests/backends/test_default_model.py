"""The real packaged SmolLM2-135M model: conversion cache and a 10-example evaluation."""

from __future__ import annotations

import os

import pytest

from tailorlm import paths
from tailorlm.backends.models import resolve_model
from tailorlm.experiments import run_eval
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tailorlm.types import GenerationOptions

pytestmark = pytest.mark.slow


def test_gguf_is_converted_once_and_cached():
    first = resolve_model("smollm2-135m")
    folder = first.path
    assert os.path.isfile(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json")) as fh:
        assert "quantization_config" not in fh.read()
    stamp = os.path.getmtime(os.path.join(folder, "model.safetensors"))
    assert resolve_model("smollm2-135m").path == folder
    assert os.path.getmtime(os.path.join(folder, "model.safetensors")) == stamp
    leftovers = [p for p in paths.model_cache_dir().iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_partial_conversion_is_never_taken_for_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_MODEL_CACHE", str(tmp_path))
    from tailorlm.backends import models

    def crash(gguf, out):
        (out / "config.json").write_text("{}")  # half-written folder
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(models, "_convert", crash)
    with pytest.raises(RuntimeError):
        resolve_model("smollm2-135m")
    assert list(tmp_path.iterdir()) == []


def test_real_model_on_ten_sql_sales_examples():
    task = load_task("sql-sales")
    options = GenerationOptions(max_new_tokens=96, batch_size=5)
    outcome = run_eval(task, strategy="schema-role", limit=10, options=options)
    s = outcome.summary
    assert s.n == 10 and 0.0 <= s.ci_low <= s.quality <= s.ci_high <= 1.0
    assert s.prompt_tokens_mean > 200  # the schema is in the prompt
    assert s.completion_tokens_mean > 0 and s.throughput_tokens_s > 0
    rows = RunStore().get(outcome.run_id).read_jsonl("examples.jsonl")
    assert all(r["output"] for r in rows)
    assert sum("SELECT" in r["prediction"].upper() for r in rows) >= 5  # it writes SQL, mostly
    assert run_eval(task, strategy="schema-role", limit=10, options=options).reused
