from __future__ import annotations

import threading

import openai
import pytest
from fastapi.testclient import TestClient

from tailorlm.prompting.program import PromptProgram
from tailorlm.store import RunStore
from tests.server.helpers import SlowFake, live_server

USER = [{"role": "user", "content": "How many orders?"}]


def test_models_and_chat_with_the_openai_client(make_app, openai_client):
    app, _ = make_app(model="tiny-base")
    with live_server(app) as url:
        client = openai_client(url)
        assert [m.id for m in client.models.list()] == ["tiny-base"]
        reply = client.chat.completions.create(model="tiny-base", messages=USER, max_tokens=20)
    assert reply.choices[0].message.content == "user: How many orders?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 3
    assert reply.usage.completion_tokens == 4
    assert reply.usage.total_tokens == 7


def test_streaming_joins_to_the_same_answer(make_app, openai_client):
    app, _ = make_app(model="tiny-base")
    long_question = [{"role": "user", "content": " ".join(f"w{i}" for i in range(40))}]
    with live_server(app) as url:
        client = openai_client(url)
        full = client.chat.completions.create(model="tiny-base", messages=long_question)
        stream = client.chat.completions.create(
            model="tiny-base",
            messages=long_question,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_unknown_model_is_a_404_in_openai_shape(make_app, openai_client):
    app, _ = make_app()
    with live_server(app) as url, pytest.raises(openai.NotFoundError) as err:
        openai_client(url).chat.completions.create(model="gpt-nope", messages=USER)
    assert err.value.code == "model_not_found"
    assert err.value.body["param"] == "model"


def test_api_key_is_required_when_set(make_app, openai_client):
    app, _ = make_app(api_key="s3cret")
    with live_server(app) as url:
        with pytest.raises(openai.AuthenticationError) as err:
            openai_client(url, key="wrong").models.list()
        assert err.value.code == "invalid_api_key"
        assert [m.id for m in openai_client(url, key="s3cret").models.list()]
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 401  # no header at all
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 5000}, "max_tokens"),
        ({"n": 2}, "n"),
        ({"temperature": 3}, "temperature"),
        ({"messages": []}, "messages"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
    ],
)
def test_bad_requests_name_the_parameter(make_app, body, param):
    app, _ = make_app()
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions", json={"model": "fake-base", "messages": USER, **body}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith(param)


@pytest.mark.parametrize("chunked", [False, True])
def test_request_size_limit(make_app, chunked):
    import httpx

    app, _ = make_app(max_request_bytes=2048)
    body = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}'
    # A chunked body has no Content-Length to check up front: it is counted as it arrives.
    content = iter([body[:1000], body[1000:]]) if chunked else body
    with live_server(app) as url:
        response = httpx.post(
            f"{url}/chat/completions", content=content, headers={"content-type": "application/json"}
        )
    assert response.request.headers.get("transfer-encoding") == ("chunked" if chunked else None)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def _concurrent(client, n: int) -> list[str]:
    answers: list[str] = [""] * n

    def ask(i: int) -> None:
        messages = [{"role": "user", "content": f"question {i}"}]
        reply = client.chat.completions.create(model="fake-base", messages=messages)
        answers[i] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_requests_are_batched(make_app, openai_client, batching):
    from tests.server.helpers import echo

    backend = SlowFake(delay=0.1, responder=echo)
    app, _ = make_app(backend=backend, batching=batching, max_batch=8, batch_wait_ms=20)
    with live_server(app) as url:
        answers = _concurrent(openai_client(url), 8)
    assert answers == [f"user: question {i}" for i in range(8)]  # each got its own answer
    assert sum(backend.batches) == 8
    if batching:
        assert max(backend.batches) > 1
    else:
        assert backend.batches == [1] * 8


def _optimize_run(store: RunStore, program: PromptProgram, model: str = "fake") -> str:
    writer = store.start(
        "optimize", name="p", task="sql-sales", model=model, config={"x": 1}, data_hash="h"
    )
    program.save(writer.path("program.yaml"))
    writer.complete()
    return writer.id


def test_tailored_model_applies_its_prompt_program_and_parser(make_app, openai_client):
    from tailorlm.backends import FakeBackend

    program = PromptProgram(
        name="winner", system="You write SQL.", user_template="Q: {{ question }}", parser="sql"
    )
    run_id = _optimize_run(RunStore(), program)
    seen = []

    def responder(messages):
        seen.append(messages)
        return "Sure!\n```sql\nSELECT COUNT(*) FROM orders;\n```"

    app, built = make_app(backend=FakeBackend(responder=responder))
    with live_server(app) as url:
        client = openai_client(url)
        names = [m.id for m in client.models.list()]
        assert f"prompt:fake:{run_id}" in names
        for name in (f"prompt:fake:{run_id}", run_id[:22]):  # full name or a run id prefix
            reply = client.chat.completions.create(
                model=name, messages=[{"role": "system", "content": "ignored"}, *USER]
            )
            assert reply.choices[0].message.content == "SELECT COUNT(*) FROM orders"
    assert seen[0] == (
        {"role": "system", "content": "You write SQL."},
        {"role": "user", "content": "Q: How many orders?"},
    )
    with live_server(app) as url, pytest.raises(openai.NotFoundError):
        openai_client(url).chat.completions.create(model=f"prompt:other:{run_id}", messages=USER)


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
SCHEMA = {"name": "answer", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [TOOL]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"functions": [TOOL["function"]]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": SCHEMA}}, "response_format"),
        ({"logprobs": True}, "logprobs"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        # harmless values: answered as usual
        ({"tools": []}, None),
        ({"tools": None, "tool_choice": None}, None),
        ({"tool_choice": "none"}, None),
        ({"response_format": {"type": "text"}}, None),
        ({"response_format": None}, None),
        ({"logprobs": False, "top_logprobs": 0}, None),
        ({"logprobs": None}, None),
        ({"user": "u1", "store": False, "metadata": {"a": "b"}, "presence_penalty": 0}, None),
    ],
)
def test_unsupported_parameters_are_refused_by_name(make_app, extra, param):
    app, _ = make_app()
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions", json={"model": "fake-base", "messages": USER, **extra}
        )
    if param is None:
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "user: How many orders?"
        return
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "unsupported_parameter")
    assert error["type"] == "invalid_request_error"
    assert f"`{param}` is not supported by tailor serve" in error["message"]


def test_tools_are_refused_through_the_openai_client(make_app, openai_client):
    app, _ = make_app()
    with live_server(app) as url, pytest.raises(openai.BadRequestError) as err:
        openai_client(url).chat.completions.create(model="fake-base", messages=USER, tools=[TOOL])
    assert err.value.code == "unsupported_parameter" and err.value.param == "tools"


def test_malformed_json_is_described_in_words(make_app):
    app, _ = make_app()
    body = b'{"model": "fake-base", "messages": [] "stream": true}'
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == (
        "Request body is not valid JSON: Expecting ',' delimiter: line 1 column 39 (char 38)"
    )
    assert error["param"] is None and error["code"] == "invalid_json"


def _two_database_task(tmp_path):
    import shutil
    import sqlite3

    import yaml

    from tailorlm.tasks.loader import BUILTIN_DIR

    root = shutil.copytree(BUILTIN_DIR / "sql-sales", tmp_path / "task")
    with sqlite3.connect(root / "zoo.db") as conn:
        conn.execute("CREATE TABLE keepers (keeper_id INTEGER PRIMARY KEY, shift TEXT)")
    config = yaml.safe_load((root / "task.yaml").read_text())
    config["resources"]["zoo"] = "zoo.db"
    (root / "task.yaml").write_text(yaml.safe_dump(config))
    return root


def test_a_json_user_message_names_the_database_a_schema_program_renders(
    make_app, openai_client, tmp_path
):
    """A tailored model whose program carries a schema answers about the database the client
    names in a `db` field, by the task's resource name only (never a path)."""
    from tailorlm.backends import FakeBackend

    task = _two_database_task(tmp_path)
    program = PromptProgram(name="schema", system="You write SQL.", schema="create", parser="sql")
    store = RunStore()
    writer = store.start(
        "optimize", name="p", task="t", model="fake", config={"task": str(task)}, data_hash="h"
    )
    program.save(writer.path("program.yaml"))
    run_id = writer.complete().id
    seen = []
    app, _ = make_app(backend=FakeBackend(responder=lambda m: seen.append(m) or "SELECT 1"))
    ask = '{{"question": "Which shifts are there?", "db": {}}}'
    with live_server(app) as url:
        client = openai_client(url)

        def chat(content):
            messages = [{"role": "user", "content": content}]
            return client.chat.completions.create(model=run_id[:22], messages=messages)

        chat(ask.format('"zoo"'))
        assert "CREATE TABLE keepers" in seen[-1][0]["content"]
        assert seen[-1][-1]["content"] == "Which shifts are there?"
        chat("How many orders?")  # plain text: the task's default database
        assert "order_items" in seen[-1][0]["content"] and "keepers" not in seen[-1][0]["content"]
        for bad in ('"aquarium"', '"/etc/passwd"', '"../zoo.db"', "3"):
            with pytest.raises(openai.BadRequestError) as err:
                chat(ask.format(bad))
            assert "Unknown database" in str(err.value) and "db, zoo" in str(err.value)
