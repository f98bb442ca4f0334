"""What a task's answers look like, read from its train answers, so format instructions fit
tasks whose output type alone says too little: labels with several fields
(`category: bug; priority: high`), reports of N bullet points, code that assigns its answer to
a variable, explanations of a few sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_FIELD = re.compile(r"^\s*([A-Za-z][\w-]*)\s*:\s*([\w-]+)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+\S")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*=(?!=)", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
SAMPLE = 200  # train answers looked at: enough to see every label value of a small task


@dataclass(frozen=True)
class AnswerShape:
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, values seen) per field
    bullets: int = 0  # the usual number of bullet lines, when answers are bullet lists
    variable: str = ""  # the variable code answers assign their result to
    sentences: int = 0  # the most sentences a prose answer has


def answer_shape(outputs: Sequence[str]) -> AnswerShape:
    outputs = list(outputs)[:SAMPLE]
    if not outputs:
        return AnswerShape()
    return AnswerShape(
        fields=_fields(outputs),
        bullets=_bullets(outputs),
        variable=_variable(outputs),
        sentences=max(len(_SENTENCE_END.findall(o.strip())) for o in outputs),
    )


def _fields(outputs: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    parsed = [[_FIELD.match(part) for part in o.split(";")] for o in outputs]
    if not all(row and all(row) for row in parsed):
        return ()
    keys = [m.group(1) for m in parsed[0] if m]
    values: dict[str, set[str]] = {k: set() for k in keys}
    for row in parsed:
        for m in row:
            if m and m.group(1) in values:
                values[m.group(1)].add(m.group(2))
    return tuple((k, tuple(sorted(values[k]))) for k in keys)


def _bullets(outputs: list[str]) -> int:
    counts = Counter(sum(bool(_BULLET.match(line)) for line in o.splitlines()) for o in outputs)
    usual, seen = counts.most_common(1)[0]
    return usual if usual >= 2 and seen >= len(outputs) / 2 else 0


def _variable(outputs: list[str]) -> str:
    last = Counter(found[-1] for o in outputs if (found := _ASSIGN.findall(o)))
    if not last:
        return ""
    name, seen = last.most_common(1)[0]
    return name if seen >= len(outputs) / 2 else ""


def shape_rule(shape: AnswerShape, output_type: str, *, final: bool = False) -> str:
    """A format instruction for answers of this shape; "" when the shape adds nothing.
    `final` words it for the answer that follows a chain of thought."""
    lead = "The final answer is" if final else "Answer with"
    only = "" if final else ", and nothing else"
    if shape.fields:
        spec = "; ".join(f"{k}: <{'|'.join(v)}>" for k, v in shape.fields)
        return f"{lead} one line, `{spec}`{only}."
    if shape.bullets:
        return (
            f"{lead} exactly {shape.bullets} bullet points, each on its own line starting "
            f"with '- '{only}."
        )
    if output_type == "code" and shape.variable:
        return (
            f"{lead} Python code only: no explanation, no markdown fences. Assign the final "
            f"answer to a variable named `{shape.variable}`."
        )
    if output_type == "text" and 0 < shape.sentences <= 5 and not final:
        return f"Answer in at most {shape.sentences} sentences, without preamble."
    return ""
