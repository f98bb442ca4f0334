"""Decoding that drops ended rows (backends/compact.py) against transformers' `generate`."""

from __future__ import annotations

import pytest

from tailorlm.backends.local import LocalBackend
from tailorlm.types import GenerationOptions
from tests.backends.test_local import QUESTIONS, _batch


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("TAILOR_CPU_BF16", "0")  # compare outputs exactly: float32
    try:
        yield LocalBackend(str(tiny_model_dir))
    finally:
        mp.undo()


def _batch_sizes(model, sizes):
    """Record the batch size of every forward pass of `model` (a hook: the forward's
    signature, which `generate` inspects, stays the model's own)."""

    def record(module, args, kwargs):
        sizes.append(kwargs["input_ids"].shape[0])

    return model.register_forward_pre_hook(record, with_kwargs=True)


def _both(backend, options):
    """(outputs with ended rows dropped, outputs of `generate`), and the batch sizes the
    dropping decoder ran its steps at."""
    sizes: list[int] = []
    hook = _batch_sizes(backend.model, sizes)
    try:
        backend.drop_ended_rows = True
        dropping = backend.generate(_batch(QUESTIONS), options)
    finally:
        hook.remove()
    backend.drop_ended_rows = False
    try:
        plain = backend.generate(_batch(QUESTIONS), options)
    finally:
        backend.drop_ended_rows = True
    return dropping, plain, sizes


def _answers(completions):
    return [(c.text, c.completion_tokens, c.finish_reason) for c in completions]


def test_rows_that_end_early_leave_the_batch_with_the_same_outputs(backend):
    # The tiny random model answers every row with newlines. A stop string that starts in the
    # end of two rows' prompts and ends with the first newline ends those two rows after one
    # token (stop strings match across the prompt boundary, as in transformers); the other
    # three run to the budget.
    stops = []
    for question, messages in zip(QUESTIONS[2::2], _batch(QUESTIONS[2::2])):
        prompt = backend.render(messages)
        stops.append(prompt[prompt.rindex(question) + len(question) - 8 :] + "\n")
    options = GenerationOptions(max_new_tokens=10, batch_size=8, stop=tuple(stops))
    dropping, plain, sizes = _both(backend, options)
    assert _answers(dropping) == _answers(plain)
    assert any(c.finish_reason == "stop" for c in plain)
    assert any(c.finish_reason == "length" for c in plain)
    assert sizes[0] == len(QUESTIONS) and min(sizes) < len(QUESTIONS)  # the batch shrank


@pytest.mark.parametrize("budget", [1, 2, 7])
def test_same_outputs_as_generate_without_stops(backend, budget):
    options = GenerationOptions(max_new_tokens=budget, batch_size=3)
    dropping, plain, _ = _both(backend, options)
    assert _answers(dropping) == _answers(plain)


@pytest.mark.slow
def test_the_real_model_gives_the_same_sql_with_ended_rows_dropped(monkeypatch):
    from tailorlm.prompting import get_strategy
    from tailorlm.prompting.requests import build_messages
    from tailorlm.tasks import load_task

    monkeypatch.setenv("TAILOR_CPU_BF16", "0")  # float32: outputs comparable exactly
    backend = LocalBackend()  # the packaged SmolLM2-135M
    task = load_task("sql-sales")
    program = get_strategy("schema-role")(task)
    requests = [build_messages(program, ex, task.resources()) for ex in task.split("test")[:6]]
    options = GenerationOptions(max_new_tokens=40, batch_size=6, stop=(";",))
    sizes: list[int] = []
    hook = _batch_sizes(backend.model, sizes)
    dropping = backend.generate(requests, options)
    hook.remove()
    backend.drop_ended_rows = False
    plain = backend.generate(requests, options)
    assert _answers(dropping) == _answers(plain)
    assert min(sizes) < 6  # rows that wrote their ';' left the batch
