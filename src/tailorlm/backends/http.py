"""OpenAI-compatible HTTP backend: any server that speaks `POST /v1/chat/completions` (OpenAI,
vLLM, llama.cpp, Ollama, a `tailor serve`) becomes a model through one spec,
`openai:MODEL@BASE_URL` (`openai:MODEL` alone means api.openai.com).

A batch is sent as concurrent requests (at most `concurrency` in flight per backend, shared by
all callers), each retried with exponential backoff on 429/5xx and network errors, honouring a
server's `Retry-After`. Token counts come from the response's `usage`; cost is not computed
here: the report layer prices tokens.

`generate_stream` asks the server to stream (`stream: true`, server-sent events) and passes
each piece of text on as it arrives; a request is retried only until its first piece has been
passed on (after that a retry would repeat text), and a server that sends no usage gets
estimated token counts."""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from tailorlm.backends.spec import ModelSpec
from tailorlm.backends.streaming import OnText
from tailorlm.errors import ModelError
from tailorlm.types import Completion, GenerationOptions, Messages

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


class OpenAIHTTPBackend:
    """A `Backend` over an OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self,
        spec: str | ModelSpec,
        *,
        api_key: str | None = None,
        settings: HTTPSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        parsed = ModelSpec.parse(spec)
        if not parsed.engine.api:  # a bare remote model name
            parsed = ModelSpec.parse(f"openai:{spec}")
        self.name, self.model, self.base_url = parsed.text, parsed.weights, str(parsed.endpoint)
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
        return self._each(batch, lambda _row, messages: self._one(messages, options))

    def generate_stream(
        self, batch: Sequence[Messages], options: GenerationOptions | None, on_text: OnText
    ) -> list[Completion]:
        """`generate`, calling `on_text(row, piece)` with each piece of text the server
        streams (the pieces of a row join to its completion's text)."""
        options = options or GenerationOptions()
        return self._each(
            batch, lambda row, messages: self._streamed(messages, options, partial(on_text, row))
        )

    def close(self) -> None:
        self._client.close()

    def _each(
        self, batch: Sequence[Messages], one: Callable[[int, Messages], Completion]
    ) -> list[Completion]:
        """`one(row, messages)` for every row, concurrently up to the backend's limit."""
        if len(batch) <= 1:
            return [one(row, m) for row, m in enumerate(batch)]
        workers = min(len(batch), self.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-http") as pool:
            return list(pool.map(one, range(len(batch)), batch))

    def _one(self, messages: Messages, options: GenerationOptions) -> Completion:
        body = request_body(self.model, messages, options)
        with self._slots:
            started = time.perf_counter()
            response, attempts = self._with_retries(
                lambda: self._client.post("/chat/completions", json=body)
            )
            data = self._checked(response, attempts)
            return parse_completion(data, time.perf_counter() - started)

    def _streamed(
        self, messages: Messages, options: GenerationOptions, on_piece: Callable[[str], None]
    ) -> Completion:
        body = {
            **request_body(self.model, messages, options),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with self._slots:
            started = time.perf_counter()
            request = self._client.build_request("POST", "/chat/completions", json=body)
            response, attempts = self._with_retries(lambda: self._client.send(request, stream=True))
            try:
                if response.status_code >= 400 or "json" in response.headers.get(
                    "content-type", ""
                ):  # an error, or a server that does not stream: one answer, one piece
                    response.read()
                    data = self._checked(response, attempts)
                    whole = parse_completion(data, time.perf_counter() - started)
                    if whole.text:
                        on_piece(whole.text)
                    return whole
                pieces: list[str] = []
                usage: dict[str, Any] = {}
                reason = None
                for chunk in self._events(response):
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            pieces.append(piece)
                            on_piece(piece)
                        reason = choice.get("finish_reason") or reason
            finally:
                response.close()
        text = "".join(pieces)
        prompt = " ".join(m["content"] for m in messages)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(prompt)),
            completion_tokens=int(usage.get("completion_tokens") or self.count_tokens(text)),
            latency_s=time.perf_counter() - started,
            finish_reason="length" if reason == "length" else "stop",
        )

    def _events(self, response: Any) -> Iterator[dict[str, Any]]:
        """The JSON objects of a server-sent event stream, up to `data: [DONE]`."""
        import httpx

        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise ModelError(
                        f"{self.base_url}: a streamed event is not JSON: {exc}"
                    ) from exc
                if isinstance(chunk, dict) and chunk.get("error"):
                    message = (
                        chunk["error"].get("message")
                        if isinstance(chunk["error"], dict)
                        else chunk["error"]
                    )
                    raise ModelError(f"{self.base_url}: the stream ended with an error: {message}")
                if isinstance(chunk, dict):
                    yield chunk
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise ModelError(
                f"{self.base_url}: the stream broke off: {exc!r}",
                hint="is the server still running? raise the timeout?",
            ) from exc

    def _with_retries(self, send: Callable[[], Any]) -> tuple[Any, int]:
        """(the response of `send()`, attempts made), retried with backoff on network errors
        and on 408, 409, 429 and 5xx answers (the last answer is returned whatever its status)."""
        import httpx

        for attempt in range(self.settings.max_retries + 1):
            last = attempt == self.settings.max_retries
            try:
                response = send()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise ModelError(
                        f"{self.base_url}: no answer after {attempt + 1} attempt(s): {exc!r}",
                        hint="is the server running and reachable? raise the timeout?",
                    ) from exc
                self._backoff(attempt, None)
                continue
            if response.status_code in RETRY_STATUS and not last:
                response.close()
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            return response, attempt + 1
        raise AssertionError("unreachable")  # the last attempt always returns or raises

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        wait = min(self.settings.max_backoff_s, self.settings.backoff_s * 2**attempt)
        wait *= random.uniform(0.5, 1.0)  # jitter, so concurrent retries don't stampede
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own backoff
                wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER_S))
        self._sleep(wait)

    def _checked(self, response: Any, attempts: int) -> dict[str, Any]:
        if response.status_code >= 400:
            raise http_error(response, self.base_url, self.model, attempts)
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
