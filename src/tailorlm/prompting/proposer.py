"""A proposer model writes new instruction candidates from the failures of the best prompt so
far (OPRO/MIPRO-style). Any backend can propose: the student itself, a larger local model, or an
OpenAI-compatible endpoint. Each proposal is one model call, counted in the budget."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tailorlm.backends.base import Backend
from tailorlm.types import GenerationOptions, Messages

MAX_WORDS = 120
_SYSTEM = (
    "You improve the instructions given to a small language model. You see the task, the "
    "current instruction with its score, and examples the model got wrong. Reply with one new "
    "instruction only: plain text, at most 80 words, no preamble, no examples."
)


@dataclass(frozen=True)
class Failure:
    question: str
    expected: str
    got: str


def proposal_request(
    task_description: str,
    instruction: str,
    score: float,
    failures: Sequence[Failure],
    variant: int,
) -> Messages:
    shown = "\n\n".join(
        f"Question: {f.question}\nExpected: {f.expected}\nModel wrote: {f.got[:300]}"
        for f in failures
    )
    user = (
        f"Task: {task_description or 'answer the question'}\n\n"
        f"Current instruction (score {score:.0%}):\n{instruction or '(none)'}\n\n"
        f"Examples the model got wrong:\n\n{shown}\n\n"
        f"Write new instruction #{variant + 1}: one that would help the model answer these "
        "correctly, different from the current one."
    )
    return ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": user})


def clean_instruction(text: str) -> str:
    """The instruction in a proposer's reply: without fences, quotes and a leading label, cut
    to MAX_WORDS words."""
    text = re.sub(r"```[A-Za-z]*", "", text).strip()
    text = re.sub(r"^(new\s+)?instruction(\s*#?\d+)?\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip().strip("\"'").strip()
    words = text.split()
    return " ".join(words[:MAX_WORDS]) if len(words) > MAX_WORDS else text


def propose(
    proposer: Backend,
    requests: Sequence[Messages],
    *,
    seed: int,
    max_new_tokens: int = 160,
) -> list[str]:
    """One instruction per request (empty when the reply had none). Sampled with a seed, so
    several requests give different proposals and the same seed the same ones."""
    options = GenerationOptions(
        max_new_tokens=max_new_tokens, temperature=0.7, top_p=0.95, seed=seed, batch_size=4
    )
    return [clean_instruction(c.text) for c in proposer.generate(list(requests), options)]
