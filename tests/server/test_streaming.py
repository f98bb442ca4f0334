"""Token streaming through the real server, read with the official openai client."""

from __future__ import annotations

import threading

import openai
import pytest

from tailorlm.backends import FakeBackend
from tailorlm.backends.local import LocalBackend
from tests.server.helpers import SlowFake, echo, live_server

USER = [{"role": "user", "content": "How many orders are there in the West region?"}]


def _content(chunks) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


class GatedFake(FakeBackend):
    """Streams its first word, then waits until the test has received it before going on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.first_piece_seen_mid_generation: bool | None = None

    def generate_stream(self, batch, options, on_text):
        out = self.generate(batch, options)
        first, *rest = out[0].text.split(" ")
        on_text(0, first + " ")
        self.first_piece_seen_mid_generation = self.gate.wait(timeout=10)
        on_text(0, " ".join(rest))
        return out


def _read_opening_the_gate(client, backend: GatedFake) -> list[str]:
    """The streamed pieces of one request; the first one lets `backend` go on."""
    received: list[str] = []
    stream = client.chat.completions.create(model="fake-base", messages=USER, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            backend.gate.set()
    return received


def test_the_first_piece_arrives_before_generation_ends(make_app, openai_client):
    backend = GatedFake(default="alpha beta gamma delta")
    app, _ = make_app(backend=backend)
    with live_server(app) as url:
        received = _read_opening_the_gate(openai_client(url), backend)
    assert backend.first_piece_seen_mid_generation is True
    assert received == ["alpha ", "beta gamma delta"]


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir):
    return LocalBackend(str(tiny_model_dir))


@pytest.mark.parametrize("sampling", [{}, {"temperature": 1.0, "seed": 3}])
def test_tiny_model_stream_joins_to_the_non_streamed_answer(
    make_app, openai_client, tiny_backend, sampling
):
    app, _ = make_app(backend=tiny_backend, model="tiny")
    with live_server(app) as url:
        client = openai_client(url)
        ask = {"model": "tiny", "messages": USER, "max_tokens": 24, **sampling}
        full = client.chat.completions.create(**ask).choices[0].message.content
        stop = full[5:9]  # cut mid-answer: the stream must hold back the stop string
        cut = client.chat.completions.create(**ask, stop=[stop]).choices[0].message.content
        pieces = _content(client.chat.completions.create(**ask, stream=True))
        cut_pieces = _content(client.chat.completions.create(**ask, stop=[stop], stream=True))
    assert "".join(pieces) == full
    assert len(pieces) > 1
    assert "".join(cut_pieces) == cut and len(cut) < len(full)


def test_tiny_model_first_piece_comes_long_before_the_last(
    make_app, openai_client, tiny_backend, monkeypatch
):
    import time

    forward = tiny_backend.model.forward

    def slow_forward(*args, **kwargs):  # a model step as slow as a real one on a CPU
        time.sleep(0.05)
        return forward(*args, **kwargs)

    monkeypatch.setattr(tiny_backend.model, "forward", slow_forward)
    app, _ = make_app(backend=tiny_backend, model="tiny")
    arrivals = []
    with live_server(app) as url:
        started = time.perf_counter()
        stream = openai_client(url).chat.completions.create(
            model="tiny", messages=USER, max_tokens=30, stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.perf_counter() - started)
    assert len(arrivals) > 10
    assert arrivals[0] < arrivals[-1] / 3  # 30 steps take >= 1.5 s; the first is sent at once


def test_concurrent_streams_share_batches(make_app, openai_client):
    backend = SlowFake(delay=0.1, responder=echo)
    app, _ = make_app(backend=backend, max_batch=8, batch_wait_ms=50)
    answers: dict[int, str] = {}

    def ask(client, i: int) -> None:
        messages = [{"role": "user", "content": f"question number {i}"}]
        stream = client.chat.completions.create(model="fake-base", messages=messages, stream=True)
        answers[i] = "".join(_content(stream))

    with live_server(app) as url:
        client = openai_client(url)
        threads = [threading.Thread(target=ask, args=(client, i)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert answers == {i: f"user: question number {i}" for i in range(6)}
    assert max(backend.batches) > 1


def test_a_failure_mid_stream_reaches_the_client(make_app, openai_client):
    def broken(messages):
        raise RuntimeError("boom")

    app, _ = make_app(backend=FakeBackend(responder=broken))
    with live_server(app) as url, pytest.raises(openai.APIError) as err:
        list(
            openai_client(url).chat.completions.create(
                model="fake-base", messages=USER, stream=True
            )
        )
    assert "error" in str(err.value).lower()


@pytest.mark.slow
def test_real_model_streams_token_by_token(make_app, openai_client):
    import time

    from tailorlm.backends import load_backend

    app, _ = make_app(backend=load_backend("smollm2-135m"), model="smollm2-135m")
    question = "Describe a café in Zürich with naïve émigrés, in French."
    ask = {"model": "smollm2-135m", "messages": [{"role": "user", "content": question}]}
    ask["max_tokens"] = 16
    with live_server(app) as url:
        client = openai_client(url)
        full = client.chat.completions.create(**ask).choices[0].message.content
        started, first, pieces = time.perf_counter(), None, []
        for chunk in client.chat.completions.create(**ask, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - started
                pieces.append(chunk.choices[0].delta.content)
        total = time.perf_counter() - started
        stop = full.split()[len(full.split()) // 2]
        cut_pieces = _content(client.chat.completions.create(**ask, stop=[stop], stream=True))
    assert "".join(pieces) == full
    assert len(pieces) > 5
    assert first is not None and first < total / 3
    assert "".join(cut_pieces) == full[: full.index(stop)]  # what the non-streamed cut gives
    print(f"first piece after {first:.3f} s of {total:.3f} s; {len(pieces)} pieces")


def test_a_model_behind_an_openai_spec_streams_live(make_app, openai_client):
    from tailorlm.backends.http import OpenAIHTTPBackend

    upstream = GatedFake(default="alpha beta gamma delta")
    upstream_app, _ = make_app(backend=upstream)
    with live_server(upstream_app) as upstream_url:
        app, _ = make_app(backend=OpenAIHTTPBackend(f"openai:fake-base@{upstream_url}"))
        with live_server(app) as url:
            received = _read_opening_the_gate(openai_client(url), upstream)
    # the first piece came through both servers while the upstream model was still generating
    assert upstream.first_piece_seen_mid_generation is True
    assert received == ["alpha ", "beta gamma delta"]
