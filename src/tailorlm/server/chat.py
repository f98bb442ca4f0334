"""`/v1/models` and `/v1/chat/completions`.

A request to a tailored model gets its prompt program applied: the program's system message,
context and template replace the client's system turn, the last user message fills the
template's first input field (or, if it is a JSON object, the fields it names), and the
program's answer parser is applied to the output, so the answer is the one that was measured.
Streaming sends tokens as they are generated (server/sse.py), except for a tailored model whose
parser rewrites the whole output: its answer is sent once it is complete. A model that another
server generates (an engine behind `--engine`, an `openai:` base) renders and parses here the
same way; that server failing is a 502 (the gateway's upstream failed), not our own 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tailorlm.errors import ModelError
from tailorlm.server.errors import APIError
from tailorlm.server.registry import ModelEntry, Registry
from tailorlm.server.scheduler import Scheduler
from tailorlm.server.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessageOut,
    Choice,
    ListOf,
    ModelCard,
)
from tailorlm.server.settings import ServerSettings
from tailorlm.server.sse import completion_id, live_events, sse_events, usage
from tailorlm.types import Completion, Example, GenerationOptions, Messages


def router(registry: Registry, settings: ServerSettings) -> Any:
    from fastapi import APIRouter
    from fastapi.responses import StreamingResponse

    api = APIRouter()

    @api.get("/v1/models")
    def list_models() -> ListOf:
        return ListOf(data=[card(e) for e in registry.entries()])

    @api.get("/v1/models/{model_id:path}")
    def get_model(model_id: str) -> ModelCard:
        return card(registry.resolve(model_id))

    @api.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatCompletionRequest) -> Any:
        check_supported(req)
        entry = registry.resolve(req.model)
        messages = request_messages(entry, req)
        options = generation_options(req, settings, entry)
        scheduler = await registry.scheduler(entry)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        if req.stream and raw_answer(entry):

            def submit(on_text: Callable[[str], None]) -> Any:
                return generate(entry, scheduler, messages, options, on_text)

            live = live_events(req.model, submit, include_usage)
            return StreamingResponse(live, media_type="text/event-stream")
        completion = await generate(entry, scheduler, messages, options)
        answer = parse_answer(entry, completion.text)
        if req.stream:
            events = sse_events(req.model, answer, completion, include_usage)
            return StreamingResponse(events, media_type="text/event-stream")
        return response(req.model, answer, completion)

    return api


async def generate(
    entry: ModelEntry,
    scheduler: Scheduler,
    messages: Messages,
    options: GenerationOptions,
    on_text: Callable[[str], None] | None = None,
) -> Completion:
    """The model's completion. When another server generates, its failure (down, an error
    status) is a 502: the upstream of this gateway failed, not this server."""
    try:
        return await scheduler.submit(messages, options, on_text)
    except ModelError as exc:
        if not entry.upstream:
            raise
        raise APIError(
            502,
            f"The server that generates for '{entry.id}' failed: {exc.message}",
            type="server_error",
            code="upstream_error",
            hint=exc.hint,
        ) from exc


def card(entry: ModelEntry) -> ModelCard:
    return ModelCard(
        id=entry.id,
        created=entry.created,
        base_model=entry.base if entry.id != entry.base else None,
        adapter_run=entry.run_id if entry.adapter else None,
        prompt_program=entry.program.name if entry.program and not entry.passthrough else None,
    )


def check_supported(req: ChatCompletionRequest) -> None:
    found = req.unsupported()
    if found is not None:
        name, instead = found
        raise APIError(
            400,
            f"`{name}` is not supported by tailor serve: {instead}.",
            param=name,
            code="unsupported_parameter",
        )


def client_messages(req: ChatCompletionRequest) -> Messages:
    try:
        turns = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in req.messages
        ]
    except ValueError as exc:
        raise APIError(400, str(exc), param="messages", code="invalid_value") from exc
    return tuple(turns)


def request_messages(entry: ModelEntry, req: ChatCompletionRequest) -> Messages:
    messages = client_messages(req)
    if entry.program is None or entry.passthrough:
        return messages
    from tailorlm.prompting.requests import build_messages

    fields, resources = _task_info(entry.task)
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), None)
    if question is None:
        raise APIError(400, "A tailored model needs a user message", param="messages")
    example = request_example(question, fields, resources)
    try:
        return build_messages(entry.program, example, resources)
    except Exception as exc:  # noqa: BLE001 - a missing template field is the client's input
        raise APIError(400, f"Cannot apply the prompt program: {exc}", param="messages") from exc


DB_KEY = "db"  # a JSON user message names its database here, by the task's resource name


def request_example(question: str, fields: tuple[str, ...], resources: dict[str, Any]) -> Example:
    """The user message as the program's input row. A JSON object fills several input fields,
    and its `db` names which of the task's databases the question is about (a multi-database
    task: the program renders that database's schema). Only the task's own databases by name,
    never a path from the client."""
    data = _json_object(question)
    if data is None or (len(fields) == 1 and fields[0] not in data):
        return Example(id="request", inputs={fields[0]: question}, output="")
    meta = {}
    if DB_KEY in data:
        meta["db"] = _database(data.pop(DB_KEY), resources)
    return Example(id="request", inputs=data, output="", meta=meta)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _database(name: object, resources: dict[str, Any]) -> str:
    databases = sorted(k for k, v in resources.items() if k == "db" or str(v).endswith(_DB_ENDINGS))
    if not isinstance(name, str) or name not in databases:
        shown = ", ".join(databases) or "(none: this model's task has no databases)"
        raise APIError(
            400,
            f"Unknown database {name!r} in the user message's `{DB_KEY}` field; this model "
            f"answers about: {shown}",
            param="messages",
            code="invalid_value",
        )
    return str(resources[name])


_DB_ENDINGS = (".db", ".sqlite", ".sqlite3")


@lru_cache(maxsize=32)
def _task_info(task_ref: str | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(input fields, resources) of the task a program was made for; a task that is gone
    leaves the program usable for its plain question field."""
    if not task_ref:
        return ("question",), {}
    from tailorlm.errors import TailorError
    from tailorlm.tasks import load_task

    try:
        task = load_task(task_ref, allow_overlap=True)
    except TailorError:
        return ("question",), {}
    return tuple(task.config.input_fields), dict(task.resources())


def generation_options(
    req: ChatCompletionRequest, settings: ServerSettings, entry: ModelEntry
) -> GenerationOptions:
    max_tokens = req.max_completion_tokens or req.max_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens_limit:
        raise APIError(
            400,
            f"max_tokens is {max_tokens}; this server allows at most {settings.max_tokens_limit}",
            param="max_tokens",
            code="invalid_value",
        )
    stops = req.stops()
    if entry.program is not None and not entry.passthrough:
        stops = entry.program.merged_stops(stops)
    return GenerationOptions(
        max_new_tokens=max_tokens,
        stop=stops,
        temperature=req.temperature or 0.0,
        top_p=req.top_p if req.top_p is not None else 1.0,
        seed=req.seed or 0,
    )


def raw_answer(entry: ModelEntry) -> bool:
    """Whether the answer is the model's output as generated (so it can be streamed live)."""
    return entry.program is None or entry.passthrough or entry.program.parser == "raw"


def parse_answer(entry: ModelEntry, text: str) -> str:
    if raw_answer(entry) or entry.program is None:  # (the second test is for mypy)
        return text
    from tailorlm.prompting.extract import PARSERS

    return PARSERS[entry.program.parser](text)


def response(model: str, answer: str, completion: Completion) -> ChatCompletion:
    return ChatCompletion(
        id=completion_id(),
        model=model,
        choices=[
            Choice(
                message=ChatMessageOut(content=answer),
                finish_reason="length" if completion.finish_reason == "length" else "stop",
            )
        ],
        usage=usage(completion),
    )
