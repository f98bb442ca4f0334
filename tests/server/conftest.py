from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.server.helpers import build_app


@pytest.fixture
def make_app() -> Callable[..., tuple[Any, list[Any]]]:
    return build_app


@pytest.fixture
def openai_client() -> Callable[..., Any]:
    def make(base_url: str, key: str = "test-key", **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, **kwargs)

    return make
