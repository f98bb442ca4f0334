from __future__ import annotations

import pytest

from tailorlm.errors import DataError, ModelError
from tailorlm.finetune.data import (
    WIDTH_MULTIPLE,
    Row,
    build_rows,
    check_chat_template,
    check_enough,
    collate,
    default_program,
    encode,
    plan_batches,
    shard,
    split_by_tokens,
    subset,
)
from tailorlm.prompting.requests import build_messages
from tailorlm.tasks import load_task


@pytest.fixture(scope="module")
def tokenizer(packaged_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(packaged_tokenizer_dir)


@pytest.fixture(scope="module")
def task():
    return load_task("sql-sales")


def test_default_program_is_short_and_has_no_schema(task):
    program = default_program(task.config)
    example = task.split("train")[0]
    messages = build_messages(program, example, task.resources())
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "\n" not in messages[0]["content"] and len(messages[0]["content"]) < 80
    assert messages[1]["content"] == example.inputs["question"]
    assert program.parser == "sql"


def test_encode_masks_the_prompt_and_ends_at_end_of_turn(tokenizer, task):
    example = task.split("train")[0]
    messages = build_messages(default_program(task.config), example, task.resources())
    row = encode(tokenizer, messages, example.output, example.id)
    prompt = tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
    )
    # The prompt part is exactly what generation sees; the rest is the answer + end of turn.
    assert (
        list(row.input_ids[: row.prompt_len])
        == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    )
    answer = tokenizer.decode(row.input_ids[row.prompt_len :])
    assert answer == example.output + tokenizer.eos_token
    batch = collate([row], pad_id=0)
    labels = batch["labels"][0]
    assert (labels[: row.prompt_len] == -100).all()
    assert labels[row.prompt_len : len(row)].tolist() == list(row.input_ids[row.prompt_len :])
    # the width is rounded up to WIDTH_MULTIPLE; the extra columns are masked padding
    assert labels.shape[0] % WIDTH_MULTIPLE == 0 and labels.shape[0] - len(row) < WIDTH_MULTIPLE
    assert (labels[len(row) :] == -100).all() and batch["attention_mask"][0].sum() == len(row)


def test_rows_longer_than_max_length_are_one_error_naming_the_fix(tokenizer, task):
    program = default_program(task.config)
    with pytest.raises(DataError, match="longer than max_length=20") as err:
        build_rows(task.split("train")[:5], program, tokenizer, task.resources(), 20)
    assert "--max-length" in err.value.hint


def test_too_few_rows_is_an_error():
    with pytest.raises(DataError, match="needs at least 10") as err:
        check_enough([Row("a", (1, 2), 1)] * 3)
    assert "train.jsonl" in err.value.hint


def test_model_without_chat_template_is_an_error(tokenizer):
    class NoTemplate:
        chat_template = None

    check_chat_template(tokenizer, "ok")
    with pytest.raises(ModelError, match="no chat template") as err:
        check_chat_template(NoTemplate(), "base-model")
    assert "chat_template" in err.value.hint


def test_subsets_are_nested_and_seeded(task):
    train = task.split("train")
    small, large = subset(train, 50, seed=0), subset(train, 100, seed=0)
    assert large[:50] == small
    assert subset(train, 50, seed=1) != small


@pytest.mark.parametrize("group", [True, False])
def test_batches_cover_every_row_once_and_depend_only_on_seed_and_epoch(group):
    lengths = [(i * 37) % 101 + 5 for i in range(203)]
    batches = plan_batches(lengths, 8, seed=3, epoch=1, group_by_length=group)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert batches == plan_batches(lengths, 8, seed=3, epoch=1, group_by_length=group)
    assert batches != plan_batches(lengths, 8, seed=3, epoch=2, group_by_length=group)


def test_grouping_by_length_cuts_padding():
    lengths = [(i * 37) % 101 + 5 for i in range(400)]
    rows = [Row(str(i), tuple(range(n)), 1) for i, n in enumerate(lengths)]
    grouped = plan_batches(lengths, 8, seed=0, epoch=0, group_by_length=True)
    plain = plan_batches(lengths, 8, seed=0, epoch=0, group_by_length=False)
    assert padding_efficiency(rows, grouped) > 0.9 > padding_efficiency(rows, plain)


def test_shards_are_disjoint_and_equal_sized():
    batches = [[i] for i in range(7)]
    a, b = shard(batches, 0, 2), shard(batches, 1, 2)
    assert len(a) == len(b) == 3 and not set(map(tuple, a)) & set(map(tuple, b))


@pytest.mark.parametrize(
    ("lengths", "cap", "parts"),
    [
        ([10, 30, 20, 40], None, [[3, 1, 2, 0]]),  # no cap: one part, longest first
        ([10, 30, 20, 40], 0, [[3, 1, 2, 0]]),
        ([10, 30, 20, 40], 80, [[3, 1], [2, 0]]),  # 2 x 40 fits, 3 x 40 does not
        ([10, 30, 20, 40], 120, [[3, 1, 2], [0]]),
        ([100, 10], 50, [[0], [1]]),  # a row over the cap goes alone
        ([5, 5, 5, 5], 20, [[0, 1, 2, 3]]),
    ],
)
def test_split_by_tokens_bounds_padded_size(lengths, cap, parts):
    """Table-driven with exact widths (multiple=1); the rounded case is checked below."""
    got = split_by_tokens(range(len(lengths)), lengths, cap, multiple=1)
    assert got == parts
    assert sorted(i for p in got for i in p) == list(range(len(lengths)))
    for part in got:
        assert len(part) == 1 or len(part) * lengths[part[0]] <= (cap or 10**9)


def test_split_by_tokens_counts_the_width_collate_pads_to():
    # 30 tokens pad to 32: two rows are 64 padded tokens, over a cap of 60
    assert split_by_tokens([0, 1], [30, 30], 60, multiple=32) == [[0], [1]]
    assert split_by_tokens([0, 1], [30, 30], 64, multiple=32) == [[0, 1]]


def padding_efficiency(rows, batches) -> float:
    """Real tokens / tokens computed (1.0 = no padding), before rounding widths up."""
    real = sum(len(rows[i]) for b in batches for i in b)
    computed = sum(max(len(rows[i]) for i in b) * len(b) for b in batches)
    return real / computed if computed else 1.0
