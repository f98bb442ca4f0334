"""`tailor data split`: train/dev/test splits with no near-duplicate input across them.

Rows are first grouped: rows whose normalised input text is the same, or whose character
5-gram sets have a Jaccard similarity of at least `similarity`, share a group (transitively),
and so do rows with the same `--group-by` value. Whole groups are then dealt to test, dev and
train in a seeded random order. A test row therefore never has a near-copy in train, which
would reward memorisation rather than skill.

Candidate pairs come from prefix filtering (PPJoin, Xiao et al. 2008): with shingles ordered
rarest first, two sets with Jaccard >= t must share one of their first |x| - ceil(t|x|) + 1
shingles, so only rows sharing a rare shingle are compared. It finds exactly the pairs a
comparison of every pair would (a test checks this)."""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.errors import ConfigError, DataError
from tailorlm.tasks.folder import read_jsonl, staged_folder, write_jsonl
from tailorlm.tasks.loader import SPLITS, display_path, read_split, resolve_task, split_file
from tailorlm.tasks.validate import read_config
from tailorlm.types import Example

POOL_FILE = "data.jsonl"  # all rows before splitting; `tailor data import` writes it
RECORD_FILE = "split.json"  # how the current splits were made, for reproducibility
SHINGLE = 5
_PUNCT = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class SplitSpec:
    dev: float = 0.15
    test: float = 0.2
    seed: int = 0
    group_by: str | None = None
    similarity: float = 0.8  # 1.0: only identical normalised inputs are grouped

    def check(self) -> None:
        for name, value in (("dev", self.dev), ("test", self.test)):
            if not 0 <= value < 1:
                raise ConfigError(f"--{name} {value} must be a fraction in [0, 1)")
        if self.test <= 0:
            raise ConfigError("--test must be above 0", hint="every task needs a test split")
        if self.dev + self.test >= 1:
            raise ConfigError(
                f"--dev {self.dev} + --test {self.test} leave no rows for train",
                hint="e.g. --dev 0.15 --test 0.2",
            )
        if not 0 < self.similarity <= 1:
            raise ConfigError(f"--similarity {self.similarity} must be in (0, 1]")


@dataclass(frozen=True)
class SplitResult:
    counts: dict[str, int]
    groups: int
    grouped_rows: int  # rows that share their group with at least one other row
    largest_group: int


# ---------------------------------------------------------------------------- public API


def split_task(path: str | Path, spec: SplitSpec | None = None) -> SplitResult:
    """Re-split a task folder in place (all-or-nothing) from data.jsonl, else its splits."""
    spec = spec or SplitSpec()
    spec.check()
    root, builtin = resolve_task(path)
    if builtin:
        raise ConfigError(
            f"'{path}' is a built-in task; its splits are fixed",
            hint="copy the folder and split the copy",
        )
    with staged_folder(root, copy_existing=True) as stage:
        result = write_splits(stage, pool_rows(stage), spec)
    return result


def write_splits(
    root: Path,
    rows: list[tuple[int, dict[str, Any]]],
    spec: SplitSpec,
    *,
    dev_rows: Sequence[tuple[int, dict[str, Any]]] = (),
    source: str = POOL_FILE,
) -> SplitResult:
    """Split `rows` ((line, row) pairs) and write train/dev/test.jsonl and split.json to `root`.

    `dev_rows` (a provider's validation file) are the dev split as they are: `rows` only give
    test and train (`spec.dev` is unused), and no test row has a near-copy among them either.
    `source` says in split.json where the rows came from."""
    fields = list(read_config(root).input_fields)
    pooled = [*rows, *dev_rows]
    groups = group_rows(pooled, fields, spec, display_path(root / POOL_FILE))
    if dev_rows:
        assignment = _assign_around_dev(groups, len(rows), spec)
    else:
        assignment = assign_groups(groups, len(rows), spec)
    return _write_assignment(root, pooled, assignment, groups, spec, {"source": source})


def _write_assignment(
    root: Path,
    pooled: Sequence[tuple[int, dict[str, Any]]],
    assignment: dict[str, list[int]],
    groups: list[list[int]],
    spec: SplitSpec,
    record: dict[str, Any],
    kept: dict[str, int] | None = None,
) -> SplitResult:
    """Write each assigned split (replacing its old file; `kept`: splits left as they are,
    with their row counts) and split.json (`record`'s keys after the spec and result)."""
    for split in assignment:
        for ext in ("jsonl", "csv"):
            (root / f"{split}.{ext}").unlink(missing_ok=True)
    counts = {
        split: write_jsonl(root / f"{split}.jsonl", [pooled[i][1] for i in members])
        for split, members in assignment.items()
        if members  # an empty file would not validate; a missing dev/train is only a warning
    }
    counts.update(kept or {})
    sizes = [len(g) for g in groups] or [0]
    result = SplitResult(counts, len(groups), sum(s for s in sizes if s > 1), max(sizes))
    record = {"spec": asdict(spec), "result": asdict(result), **record}
    (root / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return result


def pool_rows(root: Path) -> list[tuple[int, dict[str, Any]]]:
    """All rows to split: data.jsonl if present, else the rows of the current split files."""
    if (root / POOL_FILE).is_file():
        rows = read_jsonl(root / POOL_FILE)
    else:
        rows = []
        for split in SPLITS:
            found = split_file(root, split)
            if found is not None and found.suffix == ".csv":
                raise DataError(
                    "splitting reads JSONL rows",
                    path=display_path(found),
                    hint=f"convert it first: tailor data import {found} --input COL "
                    f"--output COL --task {display_path(root)}",
                )
            rows += read_jsonl(found) if found is not None else []
    if not rows:
        raise DataError("no rows to split", path=display_path(root), hint="tailor data import")
    return _unique_ids(rows)


# ---------------------------------------------------------------------------- grouping


def group_rows(
    rows: Sequence[tuple[int, dict[str, Any]]], fields: list[str], spec: SplitSpec, source: str
) -> list[list[int]]:
    """Indices of `rows` grouped so that no group may be split across train/dev/test."""
    texts = [row_text(row, fields) for _, row in rows]
    parent = list(range(len(rows)))
    _union_near_duplicates(texts, spec.similarity, parent)
    if spec.group_by:
        first: dict[str, int] = {}
        for i, (line, row) in enumerate(rows):
            key = json.dumps(_group_value(row, spec.group_by, line, source), sort_keys=True)
            _union(parent, i, first.setdefault(key, i))
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        groups.setdefault(_find(parent, i), []).append(i)
    return list(groups.values())


def row_text(row: dict[str, Any], fields: list[str]) -> str:
    """The text a model sees for a raw row: its input fields, or its prompt turns."""
    if "messages" in row:
        # System turns are the instruction, not the input (as task.yaml's system_prompt is for
        # other rows): a long one that every row shares would make all rows near-copies.
        turns = [m for m in row["messages"][:-1] if m.get("role") != "system"]
        return "\n".join(str(m.get("content", "")) for m in turns)
    value = row.get("input")
    if isinstance(value, dict):
        return "\n".join(str(value.get(f, "")) for f in fields)
    return str(value)


def normalize(text: str) -> str:
    """Case, punctuation and spacing do not make an input new."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())


def shingles(text: str) -> frozenset[str]:
    if len(text) <= SHINGLE:
        return frozenset([text])
    return frozenset(text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _union_near_duplicates(texts: list[str], threshold: float, parent: list[int]) -> None:
    keys = [normalize(t) for t in texts]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        _union(parent, i, first.setdefault(key, i))  # identical after normalising
    sets = _ranked_sets({i: shingles(keys[i]) for i in first.values()})
    index: dict[int, list[int]] = {}
    skip: dict[int, int] = {}  # posting-list entries too short for every later (larger) set
    for i in sorted(sets, key=lambda i: len(sets[i])):
        tokens = sorted(sets[i])
        size, min_size = len(tokens), threshold * len(tokens)
        candidates: set[int] = set()
        for token in tokens[: size - _ceil(threshold * size) + 1]:
            postings = index.get(token, [])
            k = skip.get(token, 0)
            while k < len(postings) and len(sets[postings[k]]) < min_size:
                k += 1
            skip[token] = k
            candidates.update(postings[k:])
        # Sets arrive in size order, so indexing a shorter prefix than is probed stays exact.
        for token in tokens[: size - _ceil(2 * threshold / (1 + threshold) * size) + 1]:
            index.setdefault(token, []).append(i)
        for j in candidates:
            if _find(parent, i) != _find(parent, j) and _similar(sets[i], sets[j], threshold):
                _union(parent, i, j)


def _ranked_sets(sets: dict[int, frozenset[str]]) -> dict[int, frozenset[int]]:
    """Shingles as ranks, rarest first: the global order prefix filtering needs, and small ints
    compare and hash faster than strings."""
    freq = Counter(s for shingle_set in sets.values() for s in shingle_set)
    rank = {s: r for r, s in enumerate(sorted(freq, key=lambda s: (freq[s], s)))}
    return {i: frozenset(rank[s] for s in shingle_set) for i, shingle_set in sets.items()}


def _ceil(value: float) -> int:
    return math.ceil(value - 1e-9)  # 0.8 * 5 is 4.000000000000001, whose ceiling must be 4


def _similar(a: frozenset[int], b: frozenset[int], threshold: float) -> bool:
    small, large = sorted((len(a), len(b)))
    return small >= threshold * large and jaccard(a, b) >= threshold


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _union(parent: list[int], i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)


def _group_value(row: dict[str, Any], column: str, line: int, source: str) -> Any:
    for container in (row.get("input"), row.get("meta"), row):
        if isinstance(container, dict) and column in container:
            return container[column]
    raise DataError(
        "no such column to group by",
        path=source,
        line=line,
        field=column,
        hint="--group-by names an input field or a column kept in the row's meta",
    )


# ---------------------------------------------------------------------------- assignment


def assign_groups(groups: list[list[int]], n_rows: int, spec: SplitSpec) -> dict[str, list[int]]:
    """Deal whole groups, in a seeded random order, to test, then dev, then train."""
    targets = {"test": max(1, round(spec.test * n_rows)), "dev": round(spec.dev * n_rows)}
    out = deal_groups(groups, targets, spec.seed)
    if not out["test"]:
        raise DataError(
            f"could not fill a test split: the smallest group of near-duplicate rows has "
            f"{min(len(g) for g in groups)} of {n_rows} rows",
            hint="add rows, raise --test, or raise --similarity to group fewer rows",
        )
    return out


def deal_groups(
    groups: list[list[int]], targets: dict[str, int], seed: int
) -> dict[str, list[int]]:
    """Deal whole groups, in an order fixed by `seed`, to each split of `targets` in turn
    while it has room for them (its target row count), and the rest to train."""
    order = sorted(groups, key=min)
    random.Random(seed).shuffle(order)
    out: dict[str, list[int]] = {s: [] for s in SPLITS if s == "train" or s in targets}
    for group in order:
        split = next((s for s, t in targets.items() if len(out[s]) + len(group) <= t), "train")
        out[split].extend(group)
    return {split: sorted(members) for split, members in out.items()}


def _assign_around_dev(
    groups: list[list[int]], n_rows: int, spec: SplitSpec
) -> dict[str, list[int]]:
    """Indices from `n_rows` on are fixed dev rows: a group holding one never goes to test (its
    other rows train), the other groups are dealt to test and train as usual."""
    free = [g for g in groups if max(g) < n_rows]
    if not free:
        raise DataError(
            "every training row has a near-copy in the validation rows: no test split is left",
            hint="add training rows that are not near-copies of the validation rows",
        )
    out = assign_groups(free, n_rows, replace(spec, dev=0.0))
    tied = [i for g in groups if max(g) >= n_rows for i in g]
    out["train"] = sorted([*out["train"], *(i for i in tied if i < n_rows)])
    out["dev"] = sorted(i for i in tied if i >= n_rows)
    return out


def write_around_test(
    root: Path, rows: list[tuple[int, dict[str, Any]]], spec: SplitSpec, *, source: str
) -> tuple[SplitResult, int]:
    """Deal `rows` to train and dev around `root`'s own test split, which stays as it is (hand
    labelled, or a source task's frozen one). A row grouped with a test row (a near-copy of a
    test input, or the same `group_by` value) is left out, so neither split leaks the test
    set. Returns the result and how many rows were left out; `source` goes in split.json."""
    config = read_config(root)
    test = read_split(root, config, "test", max_errors=1)
    if test.errors:
        raise test.errors[0]
    fixed = [(line, _raw_row(ex)) for ex, line in zip(test.examples, test.lines, strict=True)]
    pooled = [*rows, *fixed]
    groups = group_rows(pooled, list(config.input_fields), spec, source)
    free = [g for g in groups if max(g) < len(rows)]
    left_out = len(rows) - sum(len(g) for g in free)
    assignment = deal_groups(free, {"dev": round(spec.dev * len(rows))}, spec.seed)
    record = {"source": source, "left_out_near_test": left_out}
    kept = {"test": len(fixed)}
    return _write_assignment(root, pooled, assignment, free, spec, record, kept), left_out


def _raw_row(example: Example) -> dict[str, Any]:
    """A parsed row as the raw row `row_text` and `--group-by` read."""
    if example.messages is not None:
        answer = {"role": "assistant", "content": example.output}
        return {"messages": [*example.messages, answer], "meta": dict(example.meta)}
    return {"input": dict(example.inputs), "meta": dict(example.meta)}


def _unique_ids(rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    # Pooled split files may reuse ids ("1" in train and in test); a new split must not.
    seen: Counter[str] = Counter()
    out = []
    for line, row in rows:
        if "id" in row:
            key = str(row["id"])
            seen[key] += 1
            if seen[key] > 1:
                row = {**row, "id": f"{key}-{seen[key]}"}
        out.append((line, row))
    return out
