"""`tailor serve --engine`: a tailor server in front of an OpenAI-compatible engine (vLLM,
SGLang) that serves the fine-tuned weights. Here a second tailor server plays the engine: it
answers for the model named after the run, as `vllm serve ... --lora-modules RUN=...` would."""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest
from typer.testing import CliRunner

from tailorlm.backends import FakeBackend
from tailorlm.backends.http import HTTPSettings, OpenAIHTTPBackend
from tailorlm.cli.app import app as cli
from tailorlm.errors import ConfigError
from tailorlm.prompting.program import PromptProgram
from tailorlm.server import ServerSettings, create_app
from tailorlm.server.registry import Registry, engine_template
from tailorlm.server.scheduler import BatchScheduler, Relay
from tailorlm.store import RunStore
from tailorlm.training import engine_model_name
from tests.server.helpers import finetune_run, live_server, optimize_run

PROGRAM = PromptProgram(
    name="sql-front",
    system="Write one SQLite query.",
    schema="create",
    user_template="Question: {{ question }}",
    parser="sql",
)
ENGINE_REPLY = "Sure!\n```sql\nSELECT COUNT(*) FROM orders;\n```\nDone."
ASK = [
    {"role": "system", "content": "You are a pirate."},  # replaced by the program's
    {"role": "user", "content": "How many orders?"},
]


def _finetune_run(store: RunStore, program: PromptProgram = PROGRAM) -> str:
    """A finished LoRA run on sql-sales (its adapter is never loaded here: the engine has it)."""
    return finetune_run(store, program, task="sql-sales")


def _engine(tmp_path, served: str, backend: FakeBackend):
    """A tailor server standing in for vLLM: its one model is `served`; (app, specs it built)."""
    specs: list[str] = []

    def factory(spec, adapter):
        specs.append(spec)
        return backend

    app = create_app(
        ServerSettings(model=served),
        store=RunStore(tmp_path / "engine-runs"),
        backend_factory=factory,
        home=tmp_path / "engine",
        start_worker=False,
    )
    return app, specs


def _front(tmp_path, store: RunStore, engine: str):
    """The tailor server in front: (app, (spec, adapter) pairs it built backends for)."""
    built: list[tuple[str, str | None]] = []

    def factory(spec, adapter):
        built.append((spec, adapter))
        no_retries = HTTPSettings(max_retries=0, timeout_s=10)
        return OpenAIHTTPBackend(spec, settings=no_retries, api_key="")

    settings = ServerSettings(model="fake-base", engine=engine)
    app = create_app(
        settings, store=store, backend_factory=factory, home=tmp_path / "front", start_worker=False
    )
    return app, built


def test_the_front_applies_the_program_and_the_engine_serves_the_adapter(tmp_path, openai_client):
    store = RunStore()
    run = _finetune_run(store)
    engine_backend = FakeBackend(responder=lambda messages: ENGINE_REPLY)
    engine_app, engine_specs = _engine(tmp_path, engine_model_name(run), engine_backend)
    with live_server(engine_app) as engine_url:
        front_app, built = _front(tmp_path, store, f"openai@{engine_url}")
        with live_server(front_app) as url:
            client = openai_client(url)
            name = f"ft:base:{run}"
            assert name in [m.id for m in client.models.list()]  # the same name as served locally
            reply = client.chat.completions.create(model=name, messages=ASK)
            streamed = client.chat.completions.create(model=run, messages=ASK, stream=True)
            pieces = [c.choices[0].delta.content or "" for c in streamed if c.choices]

    # the parsed answer came back, streamed or not
    assert reply.choices[0].message.content == "SELECT COUNT(*) FROM orders"
    assert "".join(pieces) == "SELECT COUNT(*) FROM orders"
    # the engine received the program rendered: its system prompt with the task's schema, the
    # question in the program's template, not the client's system turn
    system, user = engine_backend.calls[0]
    assert system["role"] == "system" and system["content"].startswith("Write one SQLite query.")
    assert "Database schema:" in system["content"] and "CREATE TABLE" in system["content"]
    assert "pirate" not in system["content"]
    assert user == {"role": "user", "content": "Question: How many orders?"}
    assert engine_backend.calls[1] == engine_backend.calls[0]
    # the front asked the engine for the adapter by the name the vLLM export gives it
    assert engine_specs == [engine_model_name(run)]
    assert built == [(f"openai:{engine_model_name(run)}@{engine_url}", None)]


def test_a_raw_answer_streams_live_through_the_front(tmp_path, openai_client):
    store = RunStore()
    run = _finetune_run(store, PromptProgram(name="raw", system="Answer."))
    engine_app, _ = _engine(tmp_path, run, FakeBackend(default="alpha beta gamma delta"))
    with live_server(engine_app) as engine_url:
        front_app, _ = _front(tmp_path, store, f"openai@{engine_url}")
        with live_server(front_app) as url:
            stream = openai_client(url).chat.completions.create(
                model=run, messages=ASK, stream=True
            )
            pieces = [c.choices[0].delta.content for c in stream if c.choices]
    assert [p for p in pieces if p] == ["alpha ", "beta ", "gamma ", "delta"]  # as generated


def test_the_engine_down_is_a_502_in_openai_shape(tmp_path, openai_client):
    store = RunStore()
    run = _finetune_run(store)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    front_app, _ = _front(tmp_path, store, f"openai@http://127.0.0.1:{port}/v1")
    with live_server(front_app) as url:
        client = openai_client(url)
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model=run, messages=ASK)
        with pytest.raises(openai.APIStatusError) as streamed:
            client.chat.completions.create(model=run, messages=ASK, stream=True)
    for error in (err.value, streamed.value):
        assert error.status_code == 502
        assert error.body["code"] == "upstream_error" and error.body["type"] == "server_error"
        assert f"http://127.0.0.1:{port}/v1" in error.body["message"]
        assert "is the server running" in error.body["message"]


def test_which_models_the_engine_runs():
    store = RunStore()
    ft = _finetune_run(store)
    on_adapter = optimize_run(store, f"base+adapter:{ft}")
    on_base = optimize_run(store, "base")
    registry = Registry("base", store, engine="openai@http://gpu:8001/v1")
    entries = {e.id: e for e in registry.entries()}
    on_engine = f"openai:{engine_model_name(ft)}@http://gpu:8001/v1"
    assert entries[f"ft:base:{ft}"].key == (on_engine, None)
    assert entries[f"prompt:base:{on_adapter}"].key == (on_engine, None)  # its program, here
    assert entries[f"prompt:base:{on_adapter}"].program.system == "W"
    assert entries[f"prompt:base:{on_base}"].key == ("base", None)  # no fine-tuned weights
    assert entries["base"].key == ("base", None)
    # what the card shows is the system, wherever it runs
    assert entries[f"ft:base:{ft}"].adapter == str(store.root / ft / "adapter")


def test_engine_models_are_relayed_and_do_not_push_local_models_out():
    store = RunStore()
    ft = _finetune_run(store)
    registry = Registry(
        "base",
        store,
        factory=lambda spec, adapter: FakeBackend(),
        capacity=1,
        engine="openai@http://gpu:8001/v1",
    )

    async def load(name):
        return await registry.scheduler(registry.resolve(name))

    local = asyncio.run(load("base"))
    relayed = asyncio.run(load(ft))
    assert isinstance(local, BatchScheduler) and isinstance(relayed, Relay)
    assert registry.loaded() == [local, relayed]  # the engine's model holds no weights here
    registry.close()


@pytest.mark.parametrize(
    ("engine", "template"),
    [
        ("openai@http://gpu:8001/v1", "openai:{run}@http://gpu:8001/v1"),
        ("openai@https://gpu/v1/", "openai:{run}@https://gpu/v1"),
        ("openai:/models/base:{run}@http://gpu:30000/v1", None),  # SGLang's BASE:NAME
    ],
)
def test_engine_specs(engine, template):
    assert engine_template(engine) == (template or engine)


@pytest.mark.parametrize(
    "engine",
    ["http://gpu:8001/v1", "openai@gpu:8001", "openai:fixed@http://gpu/v1", "vllm@http://gpu/v1"],
)
def test_bad_engine_specs_are_refused(engine):
    with pytest.raises(ConfigError, match="is not openai@BASE_URL"):
        engine_template(engine)


def test_tailor_serve_takes_an_engine(monkeypatch):
    seen = {}
    monkeypatch.setattr("tailorlm.server.serve", lambda settings: seen.update(s=settings))
    result = CliRunner().invoke(cli, ["serve", "--engine", "openai@http://127.0.0.1:8001/v1"])
    assert result.exit_code == 0, result.output
    assert seen["s"].engine == "openai@http://127.0.0.1:8001/v1"


def test_tailor_serve_refuses_a_bad_engine_in_one_line(monkeypatch):
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", "--engine", "http://127.0.0.1:8001/v1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "is not openai@BASE_URL" in result.output and "Hint:" in result.output
