"""The cost model: prices from a YAML price file, applied to measured tokens and times.

Pure arithmetic, no model calls. A system's cost is a one-off setup cost (prompt search or
training) plus a cost per request, under one of three scenarios:

* `self-hosted` — the machine the comparison ran on, at its $/hour: setup = setup wall time,
  per request = 1 / measured throughput (batched serving), falling back to the p50 latency.
* `api` — the measured tokens at an API provider's $/1M token prices (the fine-tuned systems at
  the provider's fine-tuned-model prices plus its training price per 1M training tokens).
* `api-cached` — as `api`, with the prompt prefix every request shares billed at the provider's
  cached-input price, when it is long enough for the provider to cache it.

The break-even volume is the number of requests after which a system with a higher setup cost
but a lower cost per request (typically the fine-tuned one) has cost less in total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailorlm.errors import ConfigError
from tailorlm.paths import home

PRICES_FILE = "prices.yaml"  # the user's override lives at $TAILOR_HOME/prices.yaml
SELF_HOSTED, API, API_CACHED = "self-hosted", "api", "api-cached"
SCENARIOS = (SELF_HOSTED, API, API_CACHED)
PER_1M = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenPrices(_Strict):
    input: float = Field(ge=0, description="$ per 1M input (prompt) tokens.")
    cached_input: float = Field(ge=0, description="$ per 1M input tokens read from the cache.")
    output: float = Field(ge=0, description="$ per 1M output (completion) tokens.")


class FinetunedPrices(TokenPrices):
    training: float = Field(ge=0, description="$ per 1M training tokens.")


class ApiModelPrices(TokenPrices):
    cache_min_tokens: int = Field(
        1024, ge=0, description="Shortest shared prefix the provider caches."
    )
    finetuned: FinetunedPrices | None = Field(
        None, description="Prices of a model fine-tuned on the provider's service; null: none."
    )


class Hardware(_Strict):
    cpu: float = Field(ge=0, description="$ per hour of the CPU machine.")
    gpu: float = Field(ge=0, description="$ per hour of one GPU machine.")


class PriceFile(_Strict):
    currency: str = "USD"
    hardware: Hardware
    api_model: str = Field(description="Which `api` entry the API scenarios use.")
    api: dict[str, ApiModelPrices]


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path | str, text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})", hint="fix the file's syntax") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of price settings at the top level")
    return data


def _validate(data: dict[str, Any], source: str) -> PriceFile:
    try:
        prices = PriceFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"{source}: field '{field}': {err['msg']}",
            hint="compare with the documented defaults (README: 'Report, costs and the advisor')",
        ) from e
    if prices.api_model not in prices.api:
        raise ConfigError(
            f"{source}: field 'api_model': '{prices.api_model}' is not an entry of 'api'",
            hint="choose one of: " + ", ".join(sorted(prices.api)),
        )
    return prices


def default_prices_text() -> str:
    return resources.files("tailorlm").joinpath(PRICES_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PriceTable:
    """Validated prices plus the files they came from (shown in reports)."""

    prices: PriceFile
    sources: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | str | None = None) -> PriceTable:
        """Defaults, overridden by `path` if given, else by $TAILOR_HOME/prices.yaml if present."""
        data = _read_yaml("default prices", default_prices_text())
        sources = ["tailorlm default prices"]
        user = Path(path) if path is not None else home() / PRICES_FILE
        if path is not None and not user.is_file():
            raise ConfigError(f"Price file {user} not found", hint="check the --prices path")
        if user.is_file():
            override = _read_yaml(user, user.read_text(encoding="utf-8"))
            data, sources = _deep_merge(data, override), [*sources, str(user)]
        return cls(_validate(data, sources[-1]), tuple(sources))

    @property
    def currency(self) -> str:
        return self.prices.currency

    @property
    def api_model(self) -> str:
        return self.prices.api_model

    def hourly(self, device: str | None) -> float:
        # mps/xpu and other accelerators are priced like a GPU; anything unknown like the CPU.
        return self.prices.hardware.cpu if device in (None, "cpu") else self.prices.hardware.gpu

    def api(self) -> ApiModelPrices:
        return self.prices.api[self.prices.api_model]

    def provider_model(self, model: str) -> tuple[str, bool] | None:
        """The `api` entry a provider's model name is priced at, and whether it is a model
        fine-tuned at the provider (`ft:BASE:org::id`); None when the file does not list it.
        A dated snapshot (gpt-4o-mini-2024-07-18) is priced as its model."""
        finetuned = model.startswith("ft:")
        name = model.split(":")[1] if finetuned else model
        for key in (name, re.sub(r"-\d{4}-\d{2}-\d{2}$", "", name)):
            if key in self.prices.api:
                return key, finetuned
        return None

    def using(self, api_model: str) -> PriceTable:
        """The same prices with `api_model` as the API scenarios' model, if the file has it."""
        if api_model not in self.prices.api:
            return self
        return PriceTable(self.prices.model_copy(update={"api_model": api_model}), self.sources)


@dataclass(frozen=True)
class Usage:
    """What the cost model needs from one measured system (means per request)."""

    prompt_tokens: float | None
    completion_tokens: float | None
    shared_prefix_tokens: float  # tokens of the prompt program every request repeats
    throughput_rps: float | None
    latency_p50_s: float | None
    serve_device: str | None
    setup_wall_s: float | None
    setup_device: str | None
    setup_model_calls: int = 0
    setup_spend: float | None = (
        0.0  # money already spent on setup (a teacher's labels); None: unknown
    )
    train_tokens: int = 0
    finetuned: bool = False


@dataclass(frozen=True)
class Cost:
    """One system under one scenario; None where it cannot be priced, `note` says why/how."""

    setup: float | None
    per_request: float | None
    note: str = ""

    @property
    def per_1000(self) -> float | None:
        return None if self.per_request is None else 1000 * self.per_request

    def total(self, volume: float) -> float | None:
        if self.setup is None or self.per_request is None:
            return None
        return self.setup + volume * self.per_request


def _self_hosted(usage: Usage, prices: PriceTable) -> Cost:
    rate = prices.hourly(usage.serve_device) / 3600  # $ per second of the machine
    if usage.throughput_rps:
        per_request: float | None = rate / usage.throughput_rps
        note = f"{prices.hourly(usage.serve_device):g} {prices.currency}/h / measured throughput"
    elif usage.latency_p50_s is not None:
        per_request, note = rate * usage.latency_p50_s, "one request at a time (p50 latency)"
    else:
        per_request, note = None, "no throughput or latency measured"
    setup = None
    if usage.setup_wall_s is not None:
        setup = usage.setup_wall_s / 3600 * prices.hourly(usage.setup_device)
    return Cost(setup, per_request, note)


def _token_cost(usage: Usage, tokens: TokenPrices, cache_min: int, cached: bool) -> float | None:
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    prefix = usage.shared_prefix_tokens if cached and usage.shared_prefix_tokens >= cache_min else 0
    prefix = min(prefix, usage.prompt_tokens)
    fresh = usage.prompt_tokens - prefix
    dollars = fresh * tokens.input + prefix * tokens.cached_input
    return (dollars + usage.completion_tokens * tokens.output) / PER_1M


def _api(usage: Usage, prices: PriceTable, cached: bool) -> Cost:
    model = prices.api()
    tokens: TokenPrices = model
    note = prices.api_model
    if usage.finetuned:
        if model.finetuned is None:
            return Cost(None, None, f"{prices.api_model} cannot be fine-tuned at the provider")
        tokens, note = model.finetuned, f"fine-tuned {prices.api_model}"
    per_request = _token_cost(usage, tokens, model.cache_min_tokens, cached)
    if (
        cached
        and usage.shared_prefix_tokens
        and usage.shared_prefix_tokens < model.cache_min_tokens
    ):
        note += f"; prefix {usage.shared_prefix_tokens:.0f} < {model.cache_min_tokens} not cached"
    if per_request is None:
        return Cost(None, None, "no token counts measured")
    return Cost(_api_setup(usage, model, per_request), per_request, note)


def _api_setup(usage: Usage, model: ApiModelPrices, per_request: float) -> float:
    # Optimizer calls are priced like requests of the system itself: an estimate, since a
    # candidate prompt is about as long as the winner; training is billed per training token.
    training = model.finetuned.training if model.finetuned else 0.0
    return usage.setup_model_calls * per_request + usage.train_tokens * training / PER_1M


def system_cost(usage: Usage, prices: PriceTable, scenario: str) -> Cost:
    """One system's cost under `scenario`; what setup already spent (a teacher's labels) is
    added to the setup in every scenario."""
    if scenario == SELF_HOSTED:
        return _spent(_self_hosted(usage, prices), usage)
    if scenario in (API, API_CACHED):
        return _spent(_api(usage, prices, cached=scenario == API_CACHED), usage)
    raise ConfigError(
        f"Unknown cost scenario '{scenario}'", hint="use one of " + ", ".join(SCENARIOS)
    )


def _spent(cost: Cost, usage: Usage) -> Cost:
    if usage.setup_spend is None:  # spent, at prices the file does not list: setup unknown
        return replace(cost, setup=None)
    if not usage.setup_spend or cost.setup is None:
        return cost
    note = f"{cost.note}; setup includes the teacher's labels" if cost.note else cost.note
    return replace(cost, setup=cost.setup + usage.setup_spend, note=note)


@dataclass(frozen=True)
class BreakEven:
    """Requests after which `challenger` (e.g. fine-tuned) has cost less than `reference`."""

    volume: float | None
    reason: str

    @property
    def reached(self) -> bool:
        return self.volume is not None


def break_even(reference: Cost, challenger: Cost) -> BreakEven:
    if None in (reference.setup, reference.per_request, challenger.setup, challenger.per_request):
        return BreakEven(None, "not priced: " + (challenger.note or reference.note))
    assert reference.per_request is not None and challenger.per_request is not None
    assert reference.setup is not None and challenger.setup is not None
    saving = reference.per_request - challenger.per_request
    extra = challenger.setup - reference.setup
    if saving <= 0:
        if extra <= 0 and saving == 0:
            return BreakEven(0.0, "same cost per request and no higher setup cost")
        return BreakEven(None, "never: it costs more per request")
    if extra <= 0:
        return BreakEven(0.0, "cheaper from the first request")
    return BreakEven(extra / saving, "setup cost paid back by the lower cost per request")


def tokens_cost(
    prices: PriceTable, model: str, prompt_tokens: float, completion_tokens: float
) -> float | None:
    """What the provider's model `model` bills for these tokens at list prices (no cache, no
    batch discount); None when the price file does not list it."""
    found = prices.provider_model(model)
    if found is None:
        return None
    name, finetuned = found
    entry = prices.prices.api[name]
    tokens: TokenPrices | None = entry.finetuned if finetuned else entry
    if tokens is None:
        return None
    return (prompt_tokens * tokens.input + completion_tokens * tokens.output) / PER_1M
