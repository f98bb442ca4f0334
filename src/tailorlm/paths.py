"""The user's home folder for tailorlm state (model cache, run store).

Like simonw/llm's LLM_USER_PATH: one folder, relocatable by an environment variable, which tests
point at a temp dir."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "TAILOR_HOME"
# The converted-model cache can live apart from the run store (tests share one across a session).
MODEL_CACHE_ENV = "TAILOR_MODEL_CACHE"


def home() -> Path:
    env = os.environ.get(HOME_ENV)
    path = Path(env).expanduser() if env else Path.home() / ".tailor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    env = os.environ.get(MODEL_CACHE_ENV)
    path = Path(env).expanduser() if env else home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
