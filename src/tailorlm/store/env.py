"""What every run records about where it ran (env.json): Python, platform, package versions
and the seed its config names."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from typing import Any

ENV_PACKAGES = ("tailorlm", "torch", "transformers", "peft", "trl", "accelerate")


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _find_seed(config: Mapping[str, Any]) -> Any:
    if "seed" in config:
        return config["seed"]
    for value in config.values():
        if isinstance(value, Mapping) and (seed := _find_seed(value)) is not None:
            return seed
    return None


def environment(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a rerun needs to match; versions via metadata so torch is never imported."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _package_version(name) for name in ENV_PACKAGES},
        "seed": _find_seed(config),
    }
