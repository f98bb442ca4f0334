"""Numbers in prose: which ones a text states, whether each is supported by a source (a result
table, the question), and whether the key facts of a reference answer are covered.

"Supported" means derivable by *rounding* from a source number: 4,512 and "about 4,500" and
"4.5k" are supported by 4512.37; 4,600 is not, and neither is a sum or a percentage change the
source does not show. That is deliberately strict: a reader cannot tell a computed figure from
an invented one, so the explanation should quote what the table says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# 1,234.5 | 1234.5 | .5 | 12% | $3.2k | 1.2 million. A '-' counts as a sign only where it
# cannot be a separator (2024-03 is a year and a month, not 2024 and -3).
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>(?<![\d-])-)?\$?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?!\d|st\b|nd\b|rd\b|th\b)(?P<pct>\s?%)?(?:\s?(?P<scale>(?i:k|thousand|m|million|bn|billion))\b)?"
)
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_WORD = re.compile(r"[a-z0-9]+")
KEY_TOLERANCE = 0.05  # a key figure rounded by more than 5% no longer states it


@dataclass(frozen=True)
class Stated:
    """A number as written: its value and the unit its last written digit stands for."""

    text: str
    value: float
    unit: float  # 0.01 for "4.51", 1 for "4512", 100 for "4,500", 100_000 for "4.5 million"
    percent: bool = False


def stated_numbers(text: str) -> list[Stated]:
    """Every number written in `text`, with thousands separators, %, $ and k/million read."""
    out = []
    for match in _NUMBER.finditer(text):
        digits = match.group("num").replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = _SCALES.get((match.group("scale") or "").lower(), 1.0)
        value = float(digits) * scale * (-1 if match.group("sign") else 1)
        unit = 10.0**-decimals * scale
        if decimals == 0 and scale == 1.0:
            unit = _integer_unit(digits)
        out.append(Stated(match.group(0).strip(), value, unit, bool(match.group("pct"))))
    return out


def _integer_unit(digits: str) -> float:
    # "4,500" may be 4512 rounded to hundreds; "40" is forty, not 36 rounded to tens: only
    # numbers of four or more digits are read as rounded to their trailing zeros.
    stripped = digits.rstrip("0")
    zeros = len(digits) - len(stripped)
    return 10.0 ** min(zeros, len(digits) - 2) if len(digits) >= 4 and stripped else 1.0


def source_values(texts: Iterable[str]) -> list[float]:
    """Numbers a text may quote: every number in the sources (dates count as their parts)."""
    values: list[float] = []
    for text in texts:
        values.extend(s.value for s in stated_numbers(text))
    return values


def supports(source: float, number: Stated) -> bool:
    """True when `number` is `source` rounded to the written precision (or as a percentage of
    a ratio: 35% from 0.35)."""
    candidates = [source, source * 100] if number.percent else [source]
    return any(_rounds_to(c, number) for c in candidates)


def _rounds_to(source: float, number: Stated) -> bool:
    half = number.unit / 2
    # A writer may drop the sign ("a loss of 120" for -120) but not change the magnitude.
    return any(abs(s - number.value) <= half + 1e-9 * max(1.0, abs(s)) for s in (source, -source))


@dataclass(frozen=True)
class Faithfulness:
    value: float  # supported / stated; 1.0 when nothing is stated
    stated: int
    invented: tuple[str, ...]


def faithfulness(answer: str, sources: Sequence[str]) -> Faithfulness:
    """Share of the numbers in `answer` that some number in `sources` supports."""
    values = source_values(sources)
    stated = stated_numbers(answer)
    invented = tuple(s.text for s in stated if not any(supports(v, s) for v in values))
    value = 1.0 if not stated else (len(stated) - len(invented)) / len(stated)
    return Faithfulness(value, len(stated), invented)


# ---------------------------------------------------------------------------- key facts


def is_number(text: str) -> bool:
    found = stated_numbers(text)
    return len(found) == 1 and found[0].text == text.strip()


def mentions(answer: str, part: str) -> bool:
    """A key part is in the answer: a number (by rounding, within 5%) or words (any case)."""
    if is_number(part):
        key = stated_numbers(part)[0].value
        return any(_states_key(key, s) for s in stated_numbers(answer))
    words = " ".join(_WORD.findall(part.lower()))
    return bool(words) and f" {words} " in f" {' '.join(_WORD.findall(answer.lower()))} "


def _states_key(key: float, number: Stated) -> bool:
    close = math.isclose(number.value, key, rel_tol=KEY_TOLERANCE) or math.isclose(
        number.value, key * 100, rel_tol=KEY_TOLERANCE
    )
    return close and supports(key, number)


def default_facts(reference: str) -> list[list[str]]:
    """Without listed facts, each number in the reference answer is one fact."""
    return [[s.text] for s in stated_numbers(reference)]


def coverage(answer: str, facts: Sequence[Sequence[str]]) -> tuple[float, list[str]]:
    """Share of facts whose every part the answer mentions; also the facts it misses."""
    if not facts:
        return 1.0, []
    missed = [" + ".join(f) for f in facts if not all(mentions(answer, p) for p in f)]
    return (len(facts) - len(missed)) / len(facts), missed
