"""A very small comparison with the real default model (SmolLM2-135M): the whole pipeline,
fine-tuning included, on a few examples with tiny budgets. Quality is not asserted here; the
quick preset's figures are benchmarked, not tested."""

from __future__ import annotations

import pytest

from tailorlm.compare import run_compare
from tailorlm.finetune import FinetuneConfig
from tailorlm.optimize import OptimizeSettings

from .helpers import tiny

pytestmark = pytest.mark.slow

SEARCH = OptimizeSettings(
    budget=6, minibatch=2, bootstrap=0, proposals=0, similarity="lexical", select_rows=2
)
PRESET = tiny(
    test_limit=3,
    max_new_tokens=24,
    optimize=SEARCH,
    optimize_finetuned=OptimizeSettings(
        budget=4, minibatch=2, bootstrap=0, proposals=0, similarity="lexical", select_rows=2
    ),
    finetune=FinetuneConfig(
        train_size=16, dev_limit=4, batch_size=4, max_steps=2, eval_every=2, metric_limit=0
    ),
    latency_sample=1,
)


def test_a_tiny_real_comparison_runs_every_system():
    outcome = run_compare("sql-sales", preset=PRESET)
    c = outcome.comparison
    assert [s["status"] for s in c["systems"]] == ["ok"] * 7, [s["reason"] for s in c["systems"]]
    assert c["model"] == "smollm2-135m" and c["n_examples"] == 3
    systems = {s["id"]: s for s in c["systems"]}
    # The engineered prompts carry the schema (and demos): hundreds of tokens more per request.
    assert systems["best-prompt"]["artifacts"]["prompt_tokens"] > 200
    assert systems["finetuned"]["artifacts"]["prompt_tokens"] < 40
    assert systems["finetuned"]["setup"]["flops"] > 1e11  # 2 steps of 4 rows: ~6e11
    assert systems["optimized-prompt"]["setup"]["flops"] > 0
    again = run_compare("sql-sales", preset=PRESET)
    assert again.reused and again.run_id == outcome.run_id
