"""Compare presets: how much compute each system of a comparison may spend.

`quick` is what `tailor demo` runs and is budgeted for a 2-core CPU from a warm model cache
(target: `tailor demo` within 5 minutes for the systems it runs). Rough costs there, measured
on SmolLM2-135M: batched generation ~60-90 tokens/s, one LoRA step of 8 rows ~3.5 s, one
optimizer call with a long few-shot prompt ~2 s, one request at a time ~14 tokens/s. `standard`
and `thorough` use the whole test split and add the fine-tuning learning curve."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from tailorlm.errors import ConfigError
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.optimize import OptimizeSettings

BEST_PROMPT = "role+context+format+few-shot"


@dataclass(frozen=True)
class Preset:
    """Every knob of a comparison; all of it goes into the compare run's config."""

    name: str
    test_limit: int | None  # the frozen test subset: the first N of the (shuffled) test split
    max_new_tokens: int | None  # None: the task's default answer length
    batch_size: int
    optimize: OptimizeSettings  # system 3: searching a prompt for the base model
    optimize_finetuned: OptimizeSettings  # system 5: searching a prompt for the adapted model
    finetune: FinetuneConfig
    latency_sample: int  # requests timed one at a time per system
    curve_sizes: tuple[int | None, ...] = ()  # learning curve train sizes; (): none
    best_prompt: str = BEST_PROMPT
    # The registered systems this preset runs (None: all); the others keep a "skipped" row.
    systems: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "finetune"}
        data["finetune"] = self.finetune.resolved().model_dump()
        data["curve_sizes"] = list(self.curve_sizes)
        data["systems"] = list(self.systems) if self.systems is not None else None
        return data

    def runs(self, system_id: str) -> bool:
        return self.systems is None or system_id in self.systems

    def with_overrides(
        self,
        *,
        budget: int | None = None,
        limit: int | None = None,
        systems: str | list[str] | tuple[str, ...] | None = None,
    ) -> Preset:
        """`budget` sets both optimizer budgets (model calls on dev); `limit` the test subset;
        `systems` the systems run (ids, with the systems they build on added, or "all")."""
        out = self
        if systems is not None:
            ids = systems.split(",") if isinstance(systems, str) else list(systems)
            ids = [i.strip() for i in ids if i.strip()]
            if ids == ["all"]:
                out = replace(out, systems=None)
            else:
                from tailorlm.compare.registry import with_bases

                out = replace(out, systems=with_bases(ids))
        if budget is not None:
            out = replace(
                out,
                optimize=replace(out.optimize, budget=budget),
                optimize_finetuned=replace(out.optimize_finetuned, budget=budget),
            )
        if limit is not None:
            out = replace(out, test_limit=limit)
        return out


# Bootstrapped demos and proposer calls are off in `quick`: each costs model calls the small
# budget needs for scoring candidates. Every search chooses its winner on at least 32 dev rows
# (OptimizeSettings.select_rows): the 5-8 rows of earlier presets picked noise.
_QUICK_SEARCH = OptimizeSettings(budget=72, minibatch=4, bootstrap=0, proposals=0)
# A prompt searched for a fine-tuned model keeps the prompt it was trained with unless a
# candidate beats that one on dev by a paired test (p < 0.05): a combined system is never
# chosen below the system it is built from (incumbent=True below).

PRESETS: dict[str, Preset] = {
    "quick": Preset(
        name="quick",
        # 40 = two batches of 20: a 95% CI of about +-13 points at 25%, enough to separate the
        # systems measured here (0% zero-shot, ~30-45% with k-NN demos), at 1/5 of the test cost.
        test_limit=40,
        # Covers ~90% of sql-sales gold queries (train p90: 125 tokens) and bounds the systems
        # that ramble (zero-shot has no stop string) at 128 tokens per request.
        max_new_tokens=128,
        # Decoding 20 rows costs little more per step than 8 on a CPU (the step is dominated
        # by per-layer overhead and weight reads), so larger batches finish the evaluation in
        # fewer steps; greedy outputs in bf16 can differ in places with the batch shape.
        batch_size=20,
        # 72 calls: 4 candidates on 4 dev rows, the best 2 on 32 (run by `standard` only: see
        # `systems` below).
        optimize=_QUICK_SEARCH,
        # 64 calls: the training prompt (the incumbent) and one challenger on 32 dev rows.
        optimize_finetuned=replace(_QUICK_SEARCH, budget=64, incumbent=True),
        # 96 steps x 8 rows (1.3 epochs of sql-sales) at lr 2e-3. Dev quality keeps rising
        # with steps at lr 1e-3 (first 40 dev rows, bf16, this 2-core CPU: 48 steps 27.5%,
        # 96 steps 55%, 112 steps 70%, a full 2-epoch run of 146 steps 80%); at 2e-3, 96 steps
        # reached 72.5% (80 steps 60%; lr 3e-3: 80 steps 45%, 96 steps 52.5%), in 16 fewer
        # steps (~21 s here) than 112 at 1e-3: what the demo's 5-minute target needed.
        finetune=FinetuneConfig(
            max_steps=96,
            learning_rate=2e-3,
            batch_size=8,
            eval_every=48,
            save_every=48,
            dev_limit=32,
            metric_limit=0,
        ),
        # Each system answers one request alone for its latency figure (~2-3 s each here; the
        # report says it is one request). Two took ~13 s more of the demo's 5 minutes.
        latency_sample=1,
        # What fits the demo's 5 minutes on a 2-core CPU with searches that choose on 32 dev
        # rows: the optimized prompt's search (72 calls of long prompts, ~2 s each here) would
        # add about a minute and a half, so `quick` leaves it to `standard` (BENCHMARKS.md).
        systems=("zero-shot", "best-prompt", "finetuned", "finetuned-optimized"),
    ),
    "standard": Preset(
        name="standard",
        test_limit=None,
        max_new_tokens=None,
        batch_size=8,
        optimize=OptimizeSettings(budget=150, proposals=0),
        optimize_finetuned=OptimizeSettings(budget=80, proposals=0, incumbent=True),
        finetune=FinetuneConfig(
            max_steps=200, eval_every=50, save_every=50, dev_limit=64, metric_limit=0
        ),
        latency_sample=8,
        curve_sizes=(64, 192, None),
    ),
    "thorough": Preset(
        name="thorough",
        test_limit=None,
        max_new_tokens=None,
        batch_size=8,
        optimize=OptimizeSettings(budget=400, proposals=0),
        optimize_finetuned=OptimizeSettings(budget=200, proposals=0, incumbent=True),
        finetune=FinetuneConfig(epochs=3, eval_every=50, save_every=50, metric_limit=0),
        latency_sample=16,
        curve_sizes=(50, 100, 200, 400, None),
    ),
}


def get_preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset '{name}'", hint=f"choose from: {', '.join(PRESETS)}")
    return PRESETS[name]
