"""The one generate -> parse -> score loop (L3, pure): evaluation, the optimizer and training's
dev metric all send a batch through `score_batch`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tailorlm.prompting.extract import PARSERS
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.requests import build_messages
from tailorlm.types import Completion, Example, GenerationOptions, Messages, Metric, Score


@dataclass(frozen=True)
class Scored:
    """One example through the loop: the request sent, the completion, the parsed prediction
    and the metric's score."""

    example: Example
    request: Messages
    completion: Completion
    prediction: str
    score: Score


Generate = Callable[[list[Messages], GenerationOptions], list[Completion]]


def score_batch(
    program: PromptProgram,
    examples: Sequence[Example],
    generate: Generate,
    metric: Metric,
    *,
    resources: Mapping[str, Path],
    options: GenerationOptions,
    pool: Sequence[Example] | None = None,
) -> list[Scored]:
    """The one generate -> parse -> score loop (evaluation, the optimizer, training's dev
    metric): one `generate` call for `examples`. A program with a demo selector draws its demos
    from `pool`, or else from the selector's own task split."""
    requests = [build_messages(program, ex, resources, pool=pool) for ex in examples]
    completions = generate(requests, program.generation_options(options))
    parse = PARSERS[program.parser]
    out = []
    for ex, request, comp in zip(examples, requests, completions, strict=True):
        prediction = parse(comp.text)
        out.append(Scored(ex, request, comp, prediction, metric(prediction, ex)))
    return out
