"""Request and response bodies of the OpenAI-compatible API (pydantic, at the boundary).

Requests accept and ignore fields we don't use (clients send many); bounds are checked here so
a handler only ever sees valid values."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    type: str
    text: str | None = None


class ChatMessageIn(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if any(p.type != "text" for p in self.content):
            raise ValueError("only text content parts are supported")
        return "".join(p.text or "" for p in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


_NO_TOOLS = (
    "it does not call tools; describe the tools in the prompt and parse the answer yourself, "
    "or leave it out"
)
_NO_LOGPROBS = "it returns no token log-probabilities; leave it out"
# Parameters whose effect this server cannot give: (the values that ask for nothing, what to do
# instead). Answering them with plain text breaks the client later, and confusingly: LangChain's
# bind_tools finds no tool call, with_structured_output fails to parse the text.
UNSUPPORTED: dict[str, tuple[tuple[Any, ...], str]] = {
    "tools": ((None, []), _NO_TOOLS),
    "tool_choice": ((None, "none"), _NO_TOOLS),
    "functions": ((None, []), _NO_TOOLS),
    "function_call": ((None, "none"), _NO_TOOLS),
    "response_format": (
        (None, {"type": "text"}),
        "it does not constrain the output to JSON; ask for JSON in the prompt and parse the "
        'answer, or send {"type": "text"}',
    ),
    "logprobs": ((None, False), _NO_LOGPROBS),
    "top_logprobs": ((None, 0), _NO_LOGPROBS),
}


class ChatCompletionRequest(_Request):
    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    # Greedy by default: a tailored system is served the way it was measured.
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice per request is supported.")
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Declared only to be refused when they ask for something (see UNSUPPORTED).
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[Any] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def unsupported(self) -> tuple[str, str] | None:
        """(parameter, what to do instead) for the first one given that asks for something
        this server cannot do."""
        for name, (harmless, instead) in UNSUPPORTED.items():
            if getattr(self, name) not in harmless:
                return name, instead
        return None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(s for s in self.stop if s)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "tailorlm"
    # Extras beyond OpenAI's fields: what the name stands for.
    base_model: str | None = None
    adapter_run: str | None = None
    prompt_program: str | None = None


class ListOf(BaseModel):
    object: Literal["list"] = "list"
    data: list[Any]
    has_more: bool | None = None
    first_id: str | None = None
    last_id: str | None = None
