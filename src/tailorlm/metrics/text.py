"""Exact-match scorers for free text and for SQL written the same way modulo formatting."""

from __future__ import annotations

import unicodedata

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from tailorlm.types import Score

_QUOTES = "\"'`“”‘’«»"
# Only trailing sentence punctuation goes: a leading '.' or '-' can be part of a number (.5, -3).
_TRAILING = _QUOTES + ".,;:!?"


def normalize_text(s: str) -> str:
    """Lowercase, NFKC, collapse whitespace, drop surrounding quotes and trailing punctuation."""
    text = " ".join(unicodedata.normalize("NFKC", s).lower().split())
    previous = None
    while previous != text:  # peel nested layers such as '"yes."'
        previous = text
        text = text.lstrip(_QUOTES + " ").rstrip(_TRAILING + " ")
    return text


def _match(pred: str, gold: str) -> Score:
    if pred == gold:
        return Score(1.0)
    details = {"prediction": pred[:200], "gold": gold[:200]}
    return Score(0.0, reason="mismatch", details=details, well_formed=True)


def exact_match(prediction: str, gold: str) -> Score:
    """1.0 when both strings are equal after `normalize_text`."""
    return _match(normalize_text(prediction), normalize_text(gold))


def normalize_sql(s: str) -> str:
    """Canonical SQLite text when it parses as one statement, else whitespace/case folded.

    sqlglot re-renders keywords, spacing and aliases uniformly and lowercases unquoted
    identifiers (SQLite treats them case-insensitively); string literals keep their case.
    """
    try:
        trees = [t for t in sqlglot.parse(s, read="sqlite") if t is not None]
    except SqlglotError:
        trees = []
    if len(trees) == 1:
        return normalize_identifiers(trees[0], dialect="sqlite").sql(dialect="sqlite")
    return " ".join(s.split()).rstrip("; ").lower()


def sql_exact_match(prediction: str, gold: str) -> Score:
    """1.0 when both queries are identical after `normalize_sql`."""
    return _match(normalize_sql(prediction), normalize_sql(gold))
