"""The `comparison.json` a compare run stores (docs/comparison-schema.md), read at the boundary.

Unknown keys are ignored rather than rejected: this file is written by `tailor compare`, not by
a person, and a report from an older tailorlm must still render a newer run's file. Missing
measurements are null and stay None here; nothing is filled in with a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailorlm.errors import StoreError, TailorError


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Quality(_Read):
    score: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    passed: int | None = None


class TeacherTokens(_Read):
    api_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Setup(_Read):
    wall_s: float | None = None
    device: str | None = None
    model_calls: int | None = None
    train_tokens: int | None = None
    flops: float | None = None
    teacher: TeacherTokens | None = None  # a teacher's labelling (the distilled system)


class PerRequest(_Read):
    prompt_tokens: float | None = None
    completion_tokens: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_n: int | None = None  # requests timed one at a time (None: not recorded)
    throughput_rps: float | None = None


class Artifacts(_Read):
    prompt_tokens: float | None = None
    prompt_bytes: int | None = None
    adapter_bytes: int | None = None


class Change(_Read):
    action: str | None = None
    wall_s: float | None = None


class Texts(_Read):
    """What the criteria table says of a system beyond its measurements (its registration's
    texts, stored with the comparison; see compare/registry.py)."""

    access: str
    effort: str
    personalization: str
    use_case: str
    keeps: str


class System(_Read):
    id: str
    label: str
    approach: Literal["prompt", "finetune", "both"]
    status: Literal["ok", "not_possible", "failed", "skipped"]
    reason: str | None = None
    runs: dict[str, str | None] = Field(default_factory=dict)
    reused: bool = False
    description: str = ""
    builds_on: tuple[str, ...] | None = None  # None: a file from before it was stored
    texts: Texts | None = None  # None: a file from before they were stored
    quality: Quality = Quality()
    setup: Setup = Setup()
    per_request: PerRequest = PerRequest()
    artifacts: Artifacts = Artifacts()
    change: Change = Change()
    api_model: str | None = None  # served by a provider's API (that model's prices)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.quality.score is not None

    @property
    def shown_texts(self) -> Texts:
        if self.texts is not None:
            return self.texts
        from tailorlm.compare.registry import texts_for  # a file written before texts were

        return Texts(**texts_for(self.id, self.approach).to_dict())

    @property
    def built_from(self) -> tuple[str, ...]:
        """The systems this one builds on (files before `builds_on`: the one combined system
        there was, fine-tuned + optimized prompt, built on the fine-tune)."""
        if self.builds_on is not None:
            return self.builds_on
        return ("finetuned",) if self.approach == "both" else ()


class PairedTest(_Read):
    a: str
    b: str
    diff: float
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    test: str = "paired_bootstrap"
    mcnemar_p: float | None = None


class CurvePoint(_Read):
    n_train: int
    score: float | None = None
    ci: tuple[float, float] | None = None
    dev_loss: float | None = None
    run_id: str | None = None


class LossCurve(_Read):
    train: list[tuple[float, float]] = Field(default_factory=list)
    dev: list[tuple[float, float]] = Field(default_factory=list)


class ItemOutput(_Read):
    output: str | None = None
    passed: bool | None = Field(None, alias="pass")
    score: float | None = None
    reason: str | None = None


class Item(_Read):
    id: str
    input: Any = None
    gold: Any = None
    outputs: dict[str, ItemOutput] = Field(default_factory=dict)


class Comparison(_Read):
    schema_version: int = Field(1, alias="schema")
    run_id: str | None = None
    task: str
    task_kind: str | None = None
    metric: str | None = None
    model: str | None = None
    preset: str | None = None
    created: str | None = None
    wall_s: float | None = None
    hardware: dict[str, Any] = Field(default_factory=dict)
    split: str = "test"
    n_examples: int | None = None
    split_rows: int | None = None  # rows in the whole split (n_examples: the subset measured)
    baseline: str = "zero-shot"
    systems: list[System]
    comparisons: list[PairedTest] = Field(default_factory=list)
    learning_curve: list[CurvePoint] = Field(default_factory=list)
    learning_curve_error: str | None = None  # why the curve was not measured
    loss_curve: LossCurve | None = None
    items: list[Item] = Field(default_factory=list)

    @property
    def api_model(self) -> str | None:
        """The provider's model name when the comparison ran on an API engine (its prices)."""
        from tailorlm.backends.spec import ModelSpec

        if not self.model:
            return None
        try:
            spec = ModelSpec.parse(self.model)
        except TailorError:
            return None
        return spec.api_model

    def system(self, system_id: str) -> System | None:
        return next((s for s in self.systems if s.id == system_id), None)

    @property
    def device(self) -> str | None:
        return self.hardware.get("device")


def parse_comparison(data: dict[str, Any], source: str | Path = "comparison.json") -> Comparison:
    """Validate a comparison dict; a bad file names the field, so it can be fixed or re-run."""
    try:
        return Comparison.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise StoreError(
            f"{source}: field '{field}': {err['msg']}",
            hint="re-run `tailor compare` to write it again",
        ) from e
