"""OpenAI-compatible HTTP backend: any server that speaks `POST /v1/chat/completions` (OpenAI,
vLLM, llama.cpp, Ollama, a `tailor serve`) becomes a model through one spec,
`openai:MODEL@BASE_URL` (`openai:MODEL` alone means api.openai.com).

A batch is sent as concurrent requests (at most `concurrency` in flight per backend, shared by
all callers), each retried with exponential backoff on 429/5xx and network errors, honouring a
server's `Retry-After`. Token counts come from the response's `usage`; cost is not computed
here: the report layer prices tokens."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tailorlm.errors import ConfigError, ModelError
from tailorlm.types import Completion, GenerationOptions, Messages

PREFIX = "openai:"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class HTTPSettings:
    concurrency: int = 8
    max_retries: int = 4
    timeout_s: float = 60.0
    backoff_s: float = 0.5  # first wait; doubles per attempt, with jitter
    max_backoff_s: float = 20.0


def is_http_spec(spec: str | None) -> bool:
    return bool(spec) and str(spec).startswith(PREFIX)


def parse_spec(spec: str) -> tuple[str, str]:
    """`openai:MODEL@BASE_URL` -> (MODEL, BASE_URL without a trailing slash)."""
    body = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    model, _, base_url = body.partition("@")
    base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if not model or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"Model spec {spec!r} is not openai:MODEL@BASE_URL",
            hint="e.g. openai:gpt-4o-mini or openai:my-model@http://127.0.0.1:8000/v1",
        )
    return model, base_url


class OpenAIHTTPBackend:
    """A `Backend` over an OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self,
        spec: str,
        *,
        api_key: str | None = None,
        settings: HTTPSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.name = spec if spec.startswith(PREFIX) else PREFIX + spec
        self.model, self.base_url = parse_spec(spec)
        self.settings = settings or HTTPSettings()
        key = api_key if api_key is not None else os.environ.get(KEY_ENV, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=self.settings.timeout_s
        )
        self._slots = threading.BoundedSemaphore(self.settings.concurrency)
        self._sleep = sleep
        self.retries = 0  # retried attempts so far (for tests and reports)

    def count_tokens(self, text: str) -> int:
        """An estimate (about 4 characters per token): the server's tokenizer is not at hand.
        Reported usage always comes from the server's responses."""
        return max(1, (len(text) + 3) // 4) if text else 0

    def generate(
        self, batch: Sequence[Messages], options: GenerationOptions | None = None
    ) -> list[Completion]:
        options = options or GenerationOptions()
        if len(batch) <= 1:
            return [self._one(m, options) for m in batch]
        workers = min(len(batch), self.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-http") as pool:
            return list(pool.map(lambda m: self._one(m, options), batch))

    def close(self) -> None:
        self._client.close()

    def _one(self, messages: Messages, options: GenerationOptions) -> Completion:
        body = request_body(self.model, messages, options)
        with self._slots:
            started = time.perf_counter()
            data = self._post_with_retries(body)
            return parse_completion(data, time.perf_counter() - started)

    def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        for attempt in range(self.settings.max_retries + 1):
            last = attempt == self.settings.max_retries
            try:
                response = self._client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise ModelError(
                        f"{self.base_url}: no answer after {attempt + 1} attempt(s): {exc!r}",
                        hint="is the server running and reachable? raise the timeout?",
                    ) from exc
                self._backoff(attempt, None)
                continue
            if response.status_code in RETRY_STATUS and not last:
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            return self._checked(response, attempt)
        raise AssertionError("unreachable")  # the last attempt always returns or raises

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        wait = min(self.settings.max_backoff_s, self.settings.backoff_s * 2**attempt)
        wait *= random.uniform(0.5, 1.0)  # jitter, so concurrent retries don't stampede
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own backoff
                wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER_S))
        self._sleep(wait)

    def _checked(self, response: Any, attempt: int) -> dict[str, Any]:
        if response.status_code >= 400:
            raise http_error(response, self.base_url, self.model, attempt + 1)
        try:
            data = response.json()
        except ValueError as exc:
            raise ModelError(f"{self.base_url}: the answer is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not data.get("choices"):
            raise ModelError(f"{self.base_url}: the answer has no 'choices': {str(data)[:200]}")
        return data


def request_body(model: str, messages: Messages, options: GenerationOptions) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": options.max_new_tokens,
        "temperature": options.temperature,
        "n": 1,
        "seed": options.seed,
    }
    if options.temperature > 0:
        body["top_p"] = options.top_p
    if options.stop:
        body["stop"] = list(options.stop)[:4]  # OpenAI accepts at most 4 stop sequences
    return body


def parse_completion(data: dict[str, Any], latency_s: float) -> Completion:
    choice = data["choices"][0]
    text = (choice.get("message") or {}).get("content") or ""
    usage = data.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    return Completion(text, prompt_tokens, completion_tokens, latency_s, finish)


def http_error(response: Any, base_url: str, model: str, attempts: int) -> ModelError:
    """A one-line ModelError with the server's own message and what to do about it."""
    try:
        detail = response.json().get("error", {}).get("message") or response.text
    except (ValueError, AttributeError):
        detail = response.text
    status = response.status_code
    hints = {
        401: f"set {KEY_ENV} (or the server's --api-key) to a valid key",
        403: "the key may not use this model",
        404: f"is '{model}' served there? list models with GET {base_url}/models",
    }
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    return ModelError(
        f"{base_url}: HTTP {status}{tried}: {str(detail)[:300]}",
        hint=hints.get(status, "check the request and the server's log"),
    )
