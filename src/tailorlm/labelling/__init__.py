"""Labelling (L4): a strong model (the teacher) answers inputs that have no gold answer, and the
answers the task's metric can check on its own become training rows for a small model.

    from tailorlm.labelling import label_inputs, write_labelled_task
    outcome = label_inputs(rows, task=task, teacher="openai:gpt-4o@https://api.openai.com/v1")
    outcome.examples      # Examples: the inputs, `output` = the teacher's answer, meta says how
    write_labelled_task(outcome, "my-task", source_task=task)

Every answer goes through the one generate -> parse loop (`score_batch`) with the prompt
program, then through the task's gold-free check (metrics/checks.py). With `votes` > 1 each
input is sampled that many times (temperature > 0, one seed per vote) and the answer most
votes agree on (by result for SQL and code, by value for labels and text) is kept if more than
half agree. Labelling is a stored run (kind `label`): an identical one is reused, an
interrupted one resumes from the rows already written. The kept rows become a task folder
through the leak-free splitter (tasks/labelled.py)."""

from tailorlm.labelling.cost import CostEstimate, estimate_cost
from tailorlm.labelling.run import (
    KIND,
    LabelOutcome,
    check_kept,
    default_program,
    describe_dropped,
    label_inputs,
    label_options,
    label_split,
    majority,
)
from tailorlm.labelling.source import LabelSource, label_source, write_labelled_task

__all__ = [
    "KIND",
    "CostEstimate",
    "LabelOutcome",
    "LabelSource",
    "check_kept",
    "default_program",
    "describe_dropped",
    "estimate_cost",
    "label_inputs",
    "label_options",
    "label_source",
    "label_split",
    "majority",
    "write_labelled_task",
]
