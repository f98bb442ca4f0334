"""`tailor data label`: a strong model (the teacher) answers inputs that have no answers yet, and
the answers the task can check on its own become a task folder a small model learns from. A
thin wrapper over tailorlm.labelling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tailorlm.cli.data_cmds import Dev, GroupBy, Seed, Similarity
from tailorlm.cli.options import ApiKeyOpt

if TYPE_CHECKING:
    from tailorlm.labelling import CostEstimate, LabelOutcome, LabelSource
    from tailorlm.prompting.program import PromptProgram

Inputs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="CSV, JSONL or Parquet files of inputs (none: the train inputs of --from-task).",
        metavar="INPUTS",
        show_default=False,
    ),
]
Teacher = Annotated[
    str,
    typer.Option(
        help="The model that labels: any model spec, e.g. openai:gpt-4o@https://api.openai.com/v1"
        ", or a `tailor serve` model: openai:ft:RUN@http://127.0.0.1:8000/v1.",
        show_default=False,
    ),
]
TaskDir = Annotated[
    Path,
    typer.Option(
        "--task",
        help="Task folder to write: the labelled rows become its train and dev splits.",
        show_default=False,
    ),
]
FromTask = Annotated[
    str | None,
    typer.Option(
        help="A task whose train inputs to label (its answers ignored), or, with INPUTS, the "
        "task they are for; --task becomes a copy of it with the labelled rows."
    ),
]


def register(data_app: typer.Typer) -> None:
    data_app.command("label")(label_cmd)


def label_cmd(
    teacher: Teacher,
    task: TaskDir,
    inputs: Inputs = None,
    from_task: FromTask = None,
    input_cols: Annotated[
        str | None,
        typer.Option("--input", help="Input column(s), comma-separated (default: the task's)."),
    ] = None,
    prompt: Annotated[
        Path | None, typer.Option(help="A saved prompt program (YAML/JSON) for the teacher.")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", "-s", help="A prompt strategy (default: the best hand-built prompt)."
        ),
    ] = None,
    votes: Annotated[
        int, typer.Option(min=1, help="Answers sampled per input; the majority is kept.")
    ] = 1,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature of the votes.")
    ] = 0.7,
    check: Annotated[
        bool,
        typer.Option(
            help="Keep only answers the task can check without gold (--no-check: every "
            "non-empty answer, to measure what the check buys)."
        ),
    ] = True,
    dry_run: Annotated[bool, typer.Option(help="Print the cost estimate and stop.")] = False,
    min_kept: Annotated[
        int, typer.Option(min=1, help="Write no task with fewer usable answers than this.")
    ] = 20,
    task_type: Annotated[
        str | None,
        typer.Option("--type", help="Type of a new task folder: classification, generation, code."),
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Metric of a new task folder.")] = None,
    labels: Annotated[
        str | None, typer.Option(help="Allowed labels of a new classification task (a,b,c).")
    ] = None,
    dev: Dev = 0.15,
    test: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Share of labelled rows held out as test, for a folder without a test split.",
        ),
    ] = 0.0,
    seed: Seed = 0,
    group_by: GroupBy = None,
    similarity: Similarity = 0.8,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Cap on answer length.")] = None,
    api_key: ApiKeyOpt = None,
    skip_empty: Annotated[bool, typer.Option(help="Drop rows with an empty input cell.")] = False,
    allow_mixed: Annotated[
        bool, typer.Option(help="Read columns that mix numbers and text as text.")
    ] = False,
    reuse: Annotated[bool, typer.Option(help="Reuse an identical stored labelling.")] = True,
) -> None:
    """Label inputs with a strong model; keep the answers the task can check; write a task."""
    from tailorlm.backends import LazyBackend
    from tailorlm.cli import render
    from tailorlm.labelling import estimate_cost, label_inputs, label_options, label_source
    from tailorlm.tasks.labelled import check_target

    source = label_source(
        inputs or [],
        out_dir=task,
        from_task=from_task,
        input_fields=_names(input_cols),
        task_type=task_type,
        metric=metric,
        labels=_names(labels),
        skip_empty=skip_empty,
        allow_mixed=allow_mixed,
    )
    source_root = source.source_task.root if source.source_task else None
    check_target(task, source=source_root, test_share=test)
    program = _program(source, prompt, strategy)
    backend = LazyBackend(teacher, api_key=api_key)
    options = label_options(source.task, max_new_tokens)
    if dry_run or backend.spec.engine.api:
        estimate = estimate_cost(
            source.inputs,
            task=source.task,
            teacher=backend,
            program=program,
            votes=votes,
            options=options,
        )
        _echo_estimate(estimate, teacher)
    if dry_run:
        return
    with render.progress_bar(f"label {source.task.name} [{teacher}]") as advance:
        outcome = label_inputs(
            source.inputs,
            task=source.task,
            teacher=backend,
            program=program,
            votes=votes,
            temperature=temperature,
            options=options,
            reuse=reuse,
            progress=advance,
            filtered=check,
        )
    _echo_outcome(outcome, source.skipped)
    _write(outcome, source, task, min_kept, test, (dev, seed, group_by, similarity))


def _names(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _program(source: LabelSource, prompt: Path | None, strategy: str | None) -> PromptProgram:
    from tailorlm.labelling import default_program
    from tailorlm.prompting.program import PromptProgram
    from tailorlm.prompting.strategies import get_strategy

    if prompt is not None:
        return PromptProgram.load(prompt)
    if strategy is not None:
        return get_strategy(strategy)(source.task)
    return default_program(source.task)


def _write(
    outcome: LabelOutcome,
    source: LabelSource,
    out_dir: Path,
    min_kept: int,
    test: float,
    split: tuple[float, int, str | None, float],
) -> None:
    from tailorlm.labelling import write_labelled_task
    from tailorlm.tasks.splitting import SplitSpec

    dev, seed, group_by, similarity = split
    written = write_labelled_task(
        outcome,
        out_dir,
        source_task=source.source_task,
        config_text=source.config_text,
        split=SplitSpec(dev=dev, seed=seed, group_by=group_by, similarity=similarity),
        test_share=test,
        min_kept=min_kept,
    )
    counts = ", ".join(f"{k} {v}" for k, v in written.split.counts.items())
    near = (
        f"; {written.left_out} left out as near-copies of test inputs" if written.left_out else ""
    )
    typer.echo(f"wrote {written.rows} labelled rows to {written.root}/ ({counts}){near}")
    typer.echo(f"next: tailor data validate {written.root}; tailor finetune {written.root}")


def _money(cost: float | None) -> str:
    return f"${cost:.4f}" if cost is not None else "not priced"


def _echo_estimate(estimate: CostEstimate, teacher: str) -> None:
    tokens = estimate.requests * (estimate.prompt_tokens + estimate.answer_tokens)
    priced = (
        f"{_money(estimate.cost)} at {estimate.priced_as} list prices"
        if estimate.priced_as and estimate.cost is not None
        else f"not priced ({teacher} has no entry in prices.yaml)"
    )
    typer.echo(
        f"estimate: {estimate.inputs} inputs x {estimate.votes} vote(s) x "
        f"({estimate.prompt_tokens:.0f} prompt + {estimate.answer_tokens:.0f} answer tokens; "
        f"answers: {estimate.answer_basis}) = {tokens:,.0f} tokens, {priced}"
    )


def _echo_outcome(outcome: LabelOutcome, skipped: int) -> None:
    from tailorlm.labelling import describe_dropped

    how = " (reused)" if outcome.reused else " (resumed)" if outcome.resumed else ""
    empty = f"; {skipped} input rows with empty cells skipped" if skipped else ""
    typer.echo(f"labelling run {outcome.run_id}{how}")
    typer.echo(
        f"kept {outcome.kept} of {outcome.total} answers; dropped: "
        f"{describe_dropped(outcome.dropped)}{empty}"
    )
    typer.echo(
        f"tokens: {outcome.prompt_tokens:,} prompt + {outcome.completion_tokens:,} completion; "
        f"cost: {_money(outcome.cost)}"
        + (" (when the run was made; nothing new)" if outcome.reused else "")
    )
