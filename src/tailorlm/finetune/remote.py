"""Fine-tuning through an OpenAI-compatible fine-tuning API (`--target openai@BASE_URL`), pure
of the run store: the task rendered with a prompt program into chat JSONL, the target's base
URL, the job's hyper-parameters, and a small client with retries. `tailorlm.remote_training`
makes a job a stored `finetune-remote` run; `tailorlm.migrate` reads a job's data back."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tailorlm.backends.http import KEY_ENV, RETRY_STATUS, http_error
from tailorlm.backends.spec import DEFAULT_BASE_URL
from tailorlm.errors import ConfigError, ModelError, TailorError
from tailorlm.finetune.config import DEFAULT_LR
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.requests import build_messages
from tailorlm.tasks import Task


def parse_target(target: str) -> str:
    """`openai@BASE_URL` (or bare `openai`, meaning api.openai.com) -> BASE_URL."""
    provider, _, base_url = target.partition("@")
    base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if provider != "openai" or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--target {target!r} is not openai@BASE_URL",
            hint="e.g. --target openai@http://127.0.0.1:8000/v1 (a tailor server) or "
            "--target openai (api.openai.com)",
        )
    return base_url


def chat_jsonl(task: Task, split: str, program: PromptProgram) -> bytes:
    """One chat example per row: the program's request plus the gold answer."""
    resources = task.resources()
    lines = []
    for example in task.split(split):
        messages = [dict(m) for m in build_messages(program, example, resources)]
        messages.append({"role": "assistant", "content": example.output})
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def hyperparameters(
    epochs: int | None, batch_size: int | None, learning_rate: float | None
) -> dict[str, Any]:
    """OpenAI's names; what the user did not set stays "auto" (the provider's choice)."""
    return {
        "n_epochs": epochs or "auto",
        "batch_size": batch_size or "auto",
        "learning_rate_multiplier": learning_rate / DEFAULT_LR["lora"] if learning_rate else "auto",
    }


class ApiStatusError(ModelError):
    """An error answer (HTTP 4xx/5xx) from the API: `status` and the server's own `detail`
    let a caller say what a 404 or a refusal means in its own terms."""

    def __init__(self, error: ModelError, status: int, detail: str) -> None:
        super().__init__(error.message, hint=error.hint)
        self.status, self.detail = status, detail


class Api:
    """A few JSON calls with retries on 429/5xx and network errors."""

    def __init__(self, base_url: str, api_key: str | None, retries: int = 4) -> None:
        import httpx

        key = api_key if api_key is not None else os.environ.get(KEY_ENV, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.base_url, self.retries = base_url, retries
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=120.0)

    def upload(self, filename: str, data: bytes) -> str:
        files = {"file": (filename, data, "application/jsonl")}
        return str(self.call("POST", "/files", files=files, data={"purpose": "fine-tune"})["id"])

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request."""
        response = self.send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise TailorError(
                f"{self.base_url}{path}: the answer is not JSON",
                hint="is BASE_URL the API's own (it usually ends in /v1)?",
            ) from exc

    def content(self, path: str) -> bytes:
        """The raw body of a GET (a file's content)."""
        return bytes(self.send("GET", path).content)

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response of a request, retried; an error answer raises ApiStatusError."""
        import httpx

        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise ModelError(
                        f"{self.base_url}: cannot reach the server: {exc!r}",
                        hint="is it running? is BASE_URL right (…/v1)?",
                    ) from exc
            else:
                if response.status_code not in RETRY_STATUS or attempt == self.retries:
                    break
            time.sleep(min(2.0**attempt, 20.0))
        if response.status_code >= 400:
            error = http_error(response, self.base_url, path, attempt + 1)
            raise ApiStatusError(error, response.status_code, _detail(response))
        return response


def _detail(response: Any) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or response.text)
    except (ValueError, AttributeError):
        return str(response.text)
