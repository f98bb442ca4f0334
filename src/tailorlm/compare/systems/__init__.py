"""The compared systems: one module per system, each registering a `SystemSpec` (see
compare/registry.py). Every module in this package is imported here, so a new system is one new
module (plus its test); `base` holds what they build with."""

from __future__ import annotations

import importlib
import pkgutil

from tailorlm.compare.registry import SystemSpec, registered
from tailorlm.compare.systems.base import (
    Context,
    NotPossible,
    Setup,
    SystemRun,
    model_params,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

SPECS: tuple[SystemSpec, ...] = registered()
BASELINE = SPECS[0].id
# The build of each system by id, looked up when a comparison runs (tests replace one).
STEPS = {spec.id: spec.build for spec in SPECS}

__all__ = [
    "BASELINE",
    "SPECS",
    "STEPS",
    "Context",
    "NotPossible",
    "Setup",
    "SystemRun",
    "SystemSpec",
    "model_params",
]
