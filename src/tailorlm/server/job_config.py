"""A job request's `method` / deprecated `hyperparameters` -> our FinetuneConfig.

`"auto"` means our default for the value (2 epochs, batch 8, learning-rate multiplier 1 on
the LoRA default 1e-3). The server's `finetune` settings apply last, so an operator can cap
steps or sequence length for every job."""

from __future__ import annotations

from typing import Any

from tailorlm.finetune.config import DEFAULT_LR, FinetuneConfig
from tailorlm.server.errors import APIError
from tailorlm.server.settings import ServerSettings

BOUNDS = {"n_epochs": (1, 50), "batch_size": (1, 256), "learning_rate_multiplier": (1e-4, 100)}


def job_config(body: dict[str, Any], settings: ServerSettings) -> tuple[dict[str, Any], Any]:
    """(resolved hyperparameters as the API reports them, method object)."""
    method = body.get("method") or {"type": "supervised"}
    if method.get("type") != "supervised":
        raise APIError(
            400,
            f"method.type {method.get('type')!r} is not supported; use 'supervised'",
            param="method.type",
            code="invalid_value",
        )
    given = dict(body.get("hyperparameters") or {})
    given.update(((method.get("supervised") or {}).get("hyperparameters")) or {})
    values = {k: _checked(k, given.get(k, "auto")) for k in BOUNDS}
    config = finetune_config(values, body.get("seed") or 0, settings)
    resolved = {
        "n_epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate_multiplier": config.lr / DEFAULT_LR[config.method],
    }
    method = {"type": "supervised", "supervised": {"hyperparameters": resolved}}
    return resolved, method


def finetune_config(values: dict[str, Any], seed: int, settings: ServerSettings) -> Any:
    from pydantic import ValidationError

    fields: dict[str, Any] = {"seed": seed}
    if values["n_epochs"] != "auto":
        fields["epochs"] = values["n_epochs"]
    if values["batch_size"] != "auto":
        fields["batch_size"] = values["batch_size"]
    if values["learning_rate_multiplier"] != "auto":
        fields["learning_rate"] = DEFAULT_LR["lora"] * values["learning_rate_multiplier"]
    try:
        return FinetuneConfig(**{**fields, **settings.finetune}).resolved()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise APIError(400, f"hyperparameters: {err['msg']}", param="hyperparameters") from None


def from_stored(hyper: dict[str, Any], seed: int, settings: ServerSettings) -> Any:
    """The config a stored job trains with (its resolved hyperparameters)."""
    values = {k: hyper[k] for k in BOUNDS}
    return finetune_config(values, seed, settings)


def _checked(name: str, value: Any) -> Any:
    if value == "auto" or value is None:
        return "auto"
    low, high = BOUNDS[name]
    number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name != "learning_rate_multiplier" and not isinstance(value, int):
        number_ok = False
    if not number_ok or not low <= value <= high:
        raise APIError(
            400,
            f"hyperparameters.{name} must be 'auto' or a number in "
            f"[{low}, {high}], found {value!r}",
            param=f"hyperparameters.{name}",
            code="invalid_value",
        )
    return value
