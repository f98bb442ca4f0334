from __future__ import annotations

import pytest

from tailorlm.backends.local import LocalBackend
from tailorlm.backends.prefix import MIN_PREFIX_TOKENS, common_prefix_length, layout
from tailorlm.types import GenerationOptions

SYSTEM = (
    "You are a senior data analyst who writes correct SQLite queries. Schema: "
    "orders(order_id integer, customer_id integer, order_date text, status text), "
    "customers(customer_id integer, name text, region text, city text, signup_date text)."
)
QUESTIONS = ["How many orders are there?", "Total revenue by region, highest first?", "Cities?"]


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [
        ([[1, 2, 3], [1, 2, 4]], 2),
        ([[1, 2, 3], [1, 2, 3]], 2),  # each keeps one token of its own
        ([[1, 2, 3], [1, 2]], 1),
        ([[5, 2], [1, 2]], 0),
        ([[7]], 0),
        ([], 0),
    ],
)
def test_common_prefix_length(seqs, expected):
    assert common_prefix_length(seqs) == expected


def test_layout_puts_padding_between_prefix_and_own_tokens():
    ids, mask = layout([[1, 2, 3, 4], [1, 2, 5]], 2, pad_id=0, device="cpu")
    assert ids.tolist() == [[1, 2, 3, 4], [1, 2, 0, 5]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 1]]


def _requests(system=SYSTEM):
    return [
        ({"role": "system", "content": system}, {"role": "user", "content": q}) for q in QUESTIONS
    ]


@pytest.fixture(scope="module")
def backends(tiny_model_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("TAILOR_CPU_BF16", "0")  # compare outputs exactly: float32
    try:
        yield (
            LocalBackend(str(tiny_model_dir)),
            LocalBackend(str(tiny_model_dir), prefix_cache=False),
        )
    finally:
        mp.undo()


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_shared_prefix_gives_the_same_greedy_outputs(backends, batch_size):
    cached, plain = backends
    options = GenerationOptions(max_new_tokens=10, batch_size=batch_size)
    with_cache = cached.generate(_requests(), options)
    without = plain.generate(_requests(), options)
    assert [c.text for c in with_cache] == [c.text for c in without]
    assert [c.prompt_tokens for c in with_cache] == [c.prompt_tokens for c in without]
    assert cached.prefixes is not None and cached.prefixes.hits + cached.prefixes.misses > 0


def test_the_prefix_is_computed_once_and_reused_across_calls(backends):
    cached, _ = backends
    cached.prefixes.__init__(cached.model)  # empty the LRU
    options = GenerationOptions(max_new_tokens=4, batch_size=2)
    cached.generate(_requests(), options)
    assert (cached.prefixes.misses, cached.prefixes.hits) == (1, 1)  # two chunks, one prefill
    cached.generate(_requests()[:2], options)  # a later call with the same head
    assert (cached.prefixes.misses, cached.prefixes.hits) == (1, 2)
    seqs = [cached.encode(cached.render(r)) for r in _requests()]
    assert len(cached.prefixes.prefix_for(seqs)) >= MIN_PREFIX_TOKENS


def test_unrelated_prompts_share_nothing(backends):
    cached, _ = backends
    assert cached.prefixes.prefix_for([[1] * 40 + [2], [3] * 41]) == ()
    assert cached.prefixes.prefix_for([[1] * 40 + [2]]) == ()  # one request: nothing to share
