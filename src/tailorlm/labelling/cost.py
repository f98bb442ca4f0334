"""What labelling would cost, estimated before any request is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailorlm.backends import ModelLike, api_model_of, as_backend
from tailorlm.labelling.run import (
    default_program,
    label_options,
    teacher_cost,
    unlabelled,
)
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.requests import build_messages, request_tokens
from tailorlm.tasks import Task
from tailorlm.types import Example, GenerationOptions

ESTIMATE_SAMPLE = 100  # inputs rendered to estimate the prompt length


@dataclass(frozen=True)
class CostEstimate:
    """What labelling would cost, before any request: inputs x votes x (prompt + answer)."""

    inputs: int
    votes: int
    prompt_tokens: float  # mean per request, from rendering (a sample of) the inputs
    answer_tokens: float  # expected per answer
    answer_basis: str  # where `answer_tokens` comes from
    cost: float | None
    priced_as: str | None  # the prices.yaml entry; None: not priced

    @property
    def requests(self) -> int:
        return self.inputs * self.votes


def estimate_cost(
    inputs: Sequence[Example],
    *,
    task: Task,
    teacher: ModelLike,
    program: PromptProgram | None = None,
    votes: int = 1,
    options: GenerationOptions | None = None,
    api_key: str | None = None,
) -> CostEstimate:
    """Inputs x votes x (prompt tokens + expected answer tokens) at the teacher's prices. The
    prompt is rendered (demos and schema included) for a sample of the inputs; the answer
    length is the mean of the task's train answers, else half the answer token budget."""
    backend = as_backend(teacher, api_key=api_key)
    program = program or default_program(task)
    options = options or label_options(task)
    examples = unlabelled(inputs)
    step = max(1, len(examples) // ESTIMATE_SAMPLE)
    sample = examples[::step][:ESTIMATE_SAMPLE]
    resources = task.resources()
    prompts = [request_tokens(backend, build_messages(program, ex, resources)) for ex in sample]
    prompt = sum(prompts) / len(prompts)
    answers = task.split("train") if "train" in task.available_splits() else []
    if answers:
        answer = sum(backend.count_tokens(ex.output) for ex in answers) / len(answers)
        basis = "mean of the task's train answers"
    else:
        answer, basis = options.max_new_tokens / 2, "half the answer budget (no train answers)"
    requests = len(examples) * votes
    name = api_model_of(backend)
    cost = teacher_cost(name, requests * prompt, requests * answer)
    return CostEstimate(len(examples), votes, prompt, answer, basis, cost, name)
