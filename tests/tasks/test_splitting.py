from __future__ import annotations

import itertools
import json
import random

import pytest

from tailorlm.errors import ConfigError, DataError
from tailorlm.tasks import validate_task
from tailorlm.tasks.folder import write_jsonl
from tailorlm.tasks.scaffold import init_task
from tailorlm.tasks.splitting import (
    SplitSpec,
    group_rows,
    jaccard,
    normalize,
    shingles,
    split_task,
    write_splits,
)

WORDS = [
    "revenue",
    "orders",
    "customers",
    "region",
    "product",
    "month",
    "year",
    "total",
    "average",
    "count",
    "list",
    "top",
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12)))


def near_copy(text: str, rng: random.Random) -> str:
    """The same question written a little differently: case, punctuation, one typo."""
    i = rng.randrange(len(text))
    typo = text[:i] + text[i + 1 :] if len(text) > 40 else text
    return rng.choice([text.upper(), text + "?", f"  {text}. ", typo])


def make_task(tmp_path, rows, name="t"):
    root = init_task(tmp_path / name, "generation")
    write_jsonl(root / "data.jsonl", rows)
    return root


def split_of(root):
    where = {}
    for split in ("train", "dev", "test"):
        path = root / f"{split}.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            where[json.loads(line)["id"]] = split
    return where


def rows_with_near_copies(n=120, copies=15, seed=1):
    rng = random.Random(seed)
    texts = [f"question {i}: {sentence(rng)}" for i in range(n)]
    pairs = [(i, near_copy(texts[i], rng)) for i in rng.sample(range(n), copies)]
    rows = [{"id": f"r{i}", "input": {"text": t}, "output": "x"} for i, t in enumerate(texts)]
    rows += [{"id": f"c{i}", "input": {"text": t}, "output": "x"} for i, t in pairs]
    return rows, [(f"r{i}", f"c{i}") for i, _ in pairs]


def test_near_duplicates_never_cross_splits(tmp_path):
    rows, pairs = rows_with_near_copies()
    root = make_task(tmp_path, rows)
    result = split_task(root, SplitSpec(dev=0.15, test=0.2, seed=0))
    where = split_of(root)
    assert all(where[a] == where[b] for a, b in pairs)
    assert result.grouped_rows >= 2 * len(pairs)
    assert abs(result.counts["test"] - 0.2 * len(rows)) <= 2
    assert validate_task(root).ok
    # Brute force: no pair of rows in different splits is as similar as the threshold.
    sets = {r["id"]: shingles(normalize(r["input"]["text"])) for r in rows}
    for a, b in itertools.combinations(sets, 2):
        if where[a] != where[b]:
            assert jaccard(sets[a], sets[b]) < 0.8


def test_prefix_filter_finds_the_same_groups_as_brute_force():
    rng = random.Random(3)
    base = [sentence(rng) for _ in range(60)]
    texts = base + [near_copy(t, rng) for t in base[:20]] + [t[: len(t) // 2] for t in base[:5]]
    rows = [(i, {"input": {"text": t}}) for i, t in enumerate(texts)]
    for threshold in (0.3, 0.5, 0.7, 0.8, 0.9, 1.0):
        fast = group_rows(rows, ["text"], SplitSpec(similarity=threshold), "x")
        assert sorted(map(sorted, fast)) == brute_force_groups(texts, threshold)


def brute_force_groups(texts, threshold):
    sets = [shingles(normalize(t)) for t in texts]
    parent = list(range(len(texts)))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(texts)), 2):
        if jaccard(sets[i], sets[j]) >= threshold:
            parent[find(j)] = find(i)
    groups = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    return sorted(sorted(g) for g in groups.values())


def test_group_by_keeps_a_column_together_and_seed_decides(tmp_path):
    rows = [
        {"id": f"r{i}", "input": {"text": f"ticket number {i} about thing {i * 7}"},
         "output": "x", "meta": {"customer": f"c{i % 10}"}}
        for i in range(60)
    ]  # fmt: skip
    root = make_task(tmp_path, rows)
    split_task(root, SplitSpec(seed=0, group_by="customer"))
    where = split_of(root)
    by_customer = {}
    for row in rows:
        by_customer.setdefault(row["meta"]["customer"], set()).add(where[row["id"]])
    assert all(len(splits) == 1 for splits in by_customer.values())
    first = split_of(root)
    split_task(root, SplitSpec(seed=0, group_by="customer"))
    assert split_of(root) == first  # same seed, same split
    split_task(root, SplitSpec(seed=5, group_by="customer"))
    assert split_of(root) != first
    record = json.loads((root / "split.json").read_text())
    assert record["spec"]["seed"] == 5 and record["spec"]["group_by"] == "customer"


def test_resplits_a_folder_without_data_jsonl(tmp_path):
    root = init_task(tmp_path / "t", "classification")  # rows only in train/dev/test.jsonl
    result = split_task(root, SplitSpec(dev=0.0, test=0.3))
    assert sum(result.counts.values()) == 7 and "dev" not in result.counts
    assert validate_task(root).ok


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SplitSpec(dev=0.5, test=0.5), "no rows for train"),
        (SplitSpec(test=0.0), "above 0"),
        (SplitSpec(dev=-0.1), "fraction"),
        (SplitSpec(similarity=0.0), "similarity"),
    ],
)
def test_bad_fractions(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        split_task(init_task(tmp_path / "t", "generation"), spec)


def test_builtin_tasks_are_not_resplit():
    with pytest.raises(ConfigError, match="built-in"):
        split_task("sql-sales")


@pytest.mark.parametrize(
    ("rows", "spec", "error"),
    [
        ([{"input": {"text": "same question"}, "output": "x"}] * 10, SplitSpec(), "test split"),
        ([{"input": {"text": f"q {i}"}, "output": "x"} for i in range(9)],
         SplitSpec(group_by="nope"), "'nope'"),
    ],
)  # fmt: skip
def test_impossible_split_changes_nothing(tmp_path, rows, spec, error):
    root = make_task(tmp_path, rows)
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    with pytest.raises(DataError, match=error):
        split_task(root, spec)
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before


def chat_row(i: int, text: str, system: str) -> dict:
    turns = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    return {"id": f"r{i}", "messages": [*turns, {"role": "assistant", "content": "x"}]}


def test_a_shared_system_turn_does_not_make_chat_rows_near_copies(tmp_path):
    rng, system = random.Random(4), "Follow the house rules to the letter. " * 50
    rows = [chat_row(i, f"question {i}: {sentence(rng)}", system) for i in range(40)]
    groups = group_rows(list(enumerate(rows, 1)), ["text"], SplitSpec(), "data.jsonl")
    assert len(groups) == 40


def test_fixed_dev_rows_keep_their_near_copies_out_of_test(tmp_path):
    rows, pairs = rows_with_near_copies(n=60, copies=10)
    dev_ids = {b for _, b in pairs}
    root = init_task(tmp_path / "t", "generation")
    train = [(i, r) for i, r in enumerate(rows, 1) if r["id"] not in dev_ids]
    dev = [(i, r) for i, r in enumerate(rows, 1) if r["id"] in dev_ids]
    result = write_splits(root, train, SplitSpec(dev=0.5, test=0.2), dev_rows=dev, source="x")
    where = split_of(root)
    assert {i for i, s in where.items() if s == "dev"} == dev_ids  # dev is the given rows
    assert all(where[a] == "train" for a, _ in pairs)  # their near-copies never test
    assert result.counts == {"train": 48, "dev": 10, "test": 12}  # spec.dev is unused
    assert json.loads((root / "split.json").read_text())["source"] == "x"
    assert validate_task(root).ok


def test_fixed_dev_rows_that_copy_every_row_leave_no_test(tmp_path):
    rows = [{"id": f"r{i}", "input": {"text": f"question {i}"}, "output": "x"} for i in range(3)]
    root = init_task(tmp_path / "t", "generation")
    with pytest.raises(DataError, match="every training row has a near-copy"):
        write_splits(root, list(enumerate(rows)), SplitSpec(), dev_rows=list(enumerate(rows)))
