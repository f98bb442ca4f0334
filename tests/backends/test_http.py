from __future__ import annotations

import threading
import time

import pytest

from tailorlm.backends import ModelSpec, load_backend
from tailorlm.backends.http import HTTPSettings, OpenAIHTTPBackend
from tailorlm.errors import ConfigError, ModelError
from tailorlm.types import GenerationOptions
from tests.server.helpers import SlowFake, build_app, count_in_flight, echo, live_server

FAST_RETRY = HTTPSettings(backoff_s=0.01, max_backoff_s=0.05)


@pytest.mark.parametrize(
    ("spec", "model", "url"),
    [
        ("openai:gpt-4o-mini", "gpt-4o-mini", "https://api.openai.com/v1"),
        ("openai:m@http://127.0.0.1:8000/v1/", "m", "http://127.0.0.1:8000/v1"),
        ("openai:ft:smollm2-135m:run-1@http://h:1/v1", "ft:smollm2-135m:run-1", "http://h:1/v1"),
    ],
)
def test_parse_spec(spec, model, url):
    parsed = ModelSpec.parse(spec)
    assert (parsed.engine_key, parsed.weights, parsed.endpoint) == ("openai", model, url)
    assert parsed.engine.api and not parsed.engine.trainable and parsed.text == spec


@pytest.mark.parametrize("spec", ["openai:", "openai:m@ftp://x", "openai:@http://x"])
def test_bad_spec(spec):
    with pytest.raises(ConfigError):
        ModelSpec.parse(spec)


def test_load_backend_builds_it_from_the_spec():
    backend = load_backend("openai:m@http://127.0.0.1:9/v1")
    assert isinstance(backend, OpenAIHTTPBackend)
    assert backend.name == "openai:m@http://127.0.0.1:9/v1"


def _flaky(app, failures: list[int]):
    """Answer the first requests with the given statuses, then let them through."""
    from fastapi.responses import JSONResponse

    state = {"seen": 0}

    @app.middleware("http")
    async def fail_first(request, call_next):
        state["seen"] += 1
        if state["seen"] <= len(failures):
            status = failures[state["seen"] - 1]
            body = {"error": {"message": f"injected {status}", "type": "x"}}
            return JSONResponse(body, status_code=status, headers={"retry-after": "0"})
        return await call_next(request)

    return state


def test_batch_over_a_real_server_with_usage():
    app, _ = build_app(model="base")
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", api_key="k")
        batch = [({"role": "user", "content": f"q {i}"},) for i in range(5)]
        out = backend.generate(batch, GenerationOptions(max_new_tokens=16))
    assert [c.text for c in out] == [f"user: q {i}" for i in range(5)]
    assert all(c.prompt_tokens == 2 and c.completion_tokens == 3 for c in out)


def test_retries_429_and_500_then_succeeds():
    app, _ = build_app(model="base")
    state = _flaky(app, [429, 500, 503])
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", settings=FAST_RETRY)
        [completion] = backend.generate([({"role": "user", "content": "hi"},)])
    assert completion.text == "user: hi"
    assert backend.retries == 3
    assert state["seen"] == 4


def test_gives_up_after_max_retries():
    app, _ = build_app(model="base")
    _flaky(app, [500] * 10)
    settings = HTTPSettings(max_retries=2, backoff_s=0.01)
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", settings=settings)
        with pytest.raises(ModelError, match="HTTP 500 after 3 attempts: injected 500"):
            backend.generate([({"role": "user", "content": "hi"},)])


def test_auth_error_is_not_retried_and_says_what_to_do():
    app, _ = build_app(model="base", api_key="right")
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", api_key="wrong", settings=FAST_RETRY)
        with pytest.raises(ModelError) as err:
            backend.generate([({"role": "user", "content": "hi"},)])
    assert "HTTP 401" in err.value.message and "OPENAI_API_KEY" in err.value.hint
    assert backend.retries == 0


def test_timeout_becomes_a_model_error():
    app, _ = build_app(backend=SlowFake(delay=0.5), model="base")
    settings = HTTPSettings(timeout_s=0.2, max_retries=1, backoff_s=0.01)
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", settings=settings)
        started = time.perf_counter()
        with pytest.raises(ModelError, match="no answer after 2 attempt"):
            backend.generate([({"role": "user", "content": "hi"},)])
    assert time.perf_counter() - started < 1.5


def test_concurrency_limit_holds_across_callers():
    app, _ = build_app(backend=SlowFake(delay=0.05, responder=echo), model="base")
    inflight = count_in_flight(app)

    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", settings=HTTPSettings(concurrency=2))
        batch = [({"role": "user", "content": f"q {i}"},) for i in range(6)]
        callers = [threading.Thread(target=backend.generate, args=(batch,)) for _ in range(2)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
    assert inflight["max"] == 2


KEY = "s3cret-flag-key"


@pytest.mark.parametrize("command", [["eval", "sql-sales"], ["prompt", "try", "sql-sales"]])
def test_api_key_flag_reaches_the_server_and_is_never_stored(command, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from tailorlm.cli.app import app as cli

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server, _ = build_app(api_key=KEY)
    with live_server(server) as url:
        args = [*command, "--model", f"openai:fake-base@{url}", "--limit", "2"]
        without = CliRunner().invoke(cli, args)
        with_key = CliRunner().invoke(cli, [*args, "--api-key", KEY])
    assert without.exit_code == 1 and "401" in without.output
    assert with_key.exit_code == 0, with_key.output
    assert KEY not in with_key.output
    home = tmp_path / "tailor-home"
    configs = list(home.rglob("config.json"))
    assert configs  # the run was stored ...
    for path in home.rglob("*"):  # ... and the key is nowhere in it
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path


def test_compare_passes_the_api_key_to_its_model(monkeypatch):
    from typer.testing import CliRunner

    from tailorlm.cli.app import app as cli

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    answers = []

    def fake_compare(task, *, model=None, **kwargs):
        answers.append(model.generate([({"role": "user", "content": "hi"},)])[0].text)
        raise ConfigError("stop after the first call")

    monkeypatch.setattr("tailorlm.compare.run_compare", fake_compare)
    server, _ = build_app(api_key=KEY)
    with live_server(server) as url:
        args = ["compare", "sql-sales", "--model", f"openai:fake-base@{url}", "--api-key", KEY]
        result = CliRunner().invoke(cli, args)
    assert answers == ["user: hi"], result.output
    assert KEY not in result.output


def test_load_backend_takes_the_key_before_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    server, _ = build_app(api_key=KEY)
    with live_server(server) as url:
        spec = f"openai:fake-base@{url}"
        with pytest.raises(ModelError):
            load_backend(spec).generate([({"role": "user", "content": "q"},)])
        reply = load_backend(spec, api_key=KEY).generate([({"role": "user", "content": "q"},)])
    assert reply[0].text == "user: q"


# ---------------------------------------------------------------- streaming


def _stream(backend, batch, options=None):
    pieces: dict[int, list[str]] = {}
    lock = threading.Lock()

    def on_text(row, piece):
        with lock:
            pieces.setdefault(row, []).append(piece)

    out = backend.generate_stream(batch, options or GenerationOptions(max_new_tokens=16), on_text)
    return out, pieces


def test_streams_pieces_over_a_real_server_with_usage():
    app, _ = build_app(model="base")
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", api_key="k")
        batch = [({"role": "user", "content": f"q {i} and more words"},) for i in range(3)]
        out, pieces = _stream(backend, batch)
        plain = backend.generate(batch, GenerationOptions(max_new_tokens=16))
    assert [c.text for c in out] == [c.text for c in plain] == [echo(m) for m in batch]
    assert all("".join(pieces[row]) == out[row].text for row in range(3))
    assert all(len(pieces[row]) > 1 for row in range(3))  # it arrived in pieces
    assert [(c.prompt_tokens, c.completion_tokens) for c in out] == [
        (c.prompt_tokens, c.completion_tokens) for c in plain
    ]


def test_a_stream_is_retried_until_it_starts():
    app, _ = build_app(model="base")
    state = _flaky(app, [429, 503])
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", settings=FAST_RETRY)
        [completion], pieces = _stream(backend, [({"role": "user", "content": "hi"},)])
    assert completion.text == "".join(pieces[0]) == "user: hi"
    assert backend.retries == 2 and state["seen"] == 3


def test_a_refused_stream_is_a_model_error_with_a_hint():
    app, _ = build_app(model="base", api_key="right")
    with live_server(app) as url:
        backend = OpenAIHTTPBackend(f"openai:base@{url}", api_key="wrong", settings=FAST_RETRY)
        with pytest.raises(ModelError) as err:
            _stream(backend, [({"role": "user", "content": "hi"},)])
    assert "HTTP 401" in err.value.message and "OPENAI_API_KEY" in err.value.hint


def _mocked(handler):
    import httpx

    backend = OpenAIHTTPBackend("openai:m@http://mock/v1", settings=FAST_RETRY)
    backend._client = httpx.Client(
        base_url=backend.base_url, transport=httpx.MockTransport(handler)
    )
    return backend


def _sse(*events):
    import httpx

    body = "".join(f"data: {e}\n\n" for e in events)
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def test_a_server_that_ignores_stream_gives_one_piece():
    import httpx

    answer = {"choices": [{"message": {"content": "SELECT 1"}, "finish_reason": "stop"}]}
    backend = _mocked(lambda request: httpx.Response(200, json=answer))
    [completion], pieces = _stream(backend, [({"role": "user", "content": "hi"},)])
    assert completion.text == "SELECT 1" and pieces == {0: ["SELECT 1"]}


def test_a_stream_without_usage_gets_estimated_counts_and_its_finish_reason():
    delta = '{"choices": [{"delta": {"content": "%s"}, "finish_reason": %s}]}'
    backend = _mocked(
        lambda request: _sse(delta % ("SELECT ", "null"), delta % ("1", '"length"'), "[DONE]")
    )
    [completion], pieces = _stream(backend, [({"role": "user", "content": "count rows"},)])
    assert pieces == {0: ["SELECT ", "1"]} and completion.text == "SELECT 1"
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 2 and completion.prompt_tokens == 3  # ~4 chars/token


def test_an_error_event_in_a_stream_is_a_model_error():
    backend = _mocked(
        lambda request: _sse(
            '{"choices": [{"delta": {"content": "SEL"}}]}', '{"error": {"message": "overloaded"}}'
        )
    )
    with pytest.raises(ModelError, match="the stream ended with an error: overloaded"):
        _stream(backend, [({"role": "user", "content": "hi"},)])
