"""Command definitions. Each command parses flags, calls the library, and renders the result."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tailorlm.cli.errors import TailorGroup
from tailorlm.cli.options import ApiKeyOpt, JsonOpt, ModelOpt, TaskArg
from tailorlm.paths import disk_error


class _DiskErrors(TyperGroup):
    """A read-only or full disk met by code that writes under TAILOR_HOME on its own (the
    server's job database, the model cache, saved prompts) becomes the one-line NotWritable,
    which TailorGroup prints like any TailorError."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            error = disk_error(exc)
            if error is None:
                raise
            raise error from exc


class _StderrNow(logging.StreamHandler):
    """Writes to the sys.stderr of the moment, not the one at start-up: a live progress bar
    swaps it for a proxy that prints above the bar, so a log line never breaks the bar."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _AppGroup(TailorGroup, _DiskErrors):
    """TailorGroup's handler around _DiskErrors (the method order puts it outside)."""


app = typer.Typer(
    cls=_AppGroup,
    help="Measure prompt engineering vs fine-tuning on your own task, then serve the winner.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (README: Shell completion)
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    cls=TailorGroup, help="Import, split, check and describe task data.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


def _register_subcommands() -> None:
    from tailorlm.cli import (
        compare_cmds,
        data_cmds,
        finetune_cmds,
        report_cmds,
        runs_cmds,
        serve_cmds,
    )
    from tailorlm.cli.prompt_cmds import prompt_app

    app.add_typer(prompt_app, name="prompt")
    runs_cmds.register(app)
    finetune_cmds.register(app)
    serve_cmds.register(app)
    compare_cmds.register(app)
    report_cmds.register(app)
    data_cmds.register(app, data_app)
    from tailorlm.cli import label_cmds

    label_cmds.register(data_app)
    from tailorlm.cli import import_cmds

    import_cmds.register(app)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
) -> None:
    import logging
    import signal
    import sys

    # `kill` (SIGTERM) unwinds like Ctrl-C, so the run store marks the run interrupted and the
    # same command resumes it; kill -9 leaves it "running", which resumes just the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log = logging.getLogger("tailorlm")
    if not log.handlers:
        log.addHandler(_StderrNow())
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    from tailorlm.tracking import log_runs_from_env

    log_runs_from_env()  # TAILOR_MLFLOW_TRACKING_URI set: each finished run goes to MLflow


@app.command("tasks")
def tasks_cmd(as_json: JsonOpt = False) -> None:
    """List the built-in tasks."""
    from tailorlm.cli import render
    from tailorlm.tasks import list_builtin_tasks

    tasks = list_builtin_tasks()
    if as_json:
        render.print_json([render.task_json(t) for t in tasks])
    else:
        render.tasks_table(tasks)


@data_app.command("validate")
def data_validate(
    path: Annotated[str, typer.Argument(help="A task folder or built-in task name.")],
    allow_overlap: Annotated[
        bool, typer.Option(help="Downgrade train/test overlap to a warning.")
    ] = False,
) -> None:
    """Check a task folder and report every problem with file, line and field."""
    from tailorlm.cli import render
    from tailorlm.tasks import validate_task

    report = validate_task(path, allow_overlap=allow_overlap)
    render.validation_report(report)
    if report.errors:
        raise typer.Exit(1)


@data_app.command("stats")
def data_stats(
    path: Annotated[str, typer.Argument(help="A task folder or built-in task name.")],
    model: ModelOpt = None,
    tokens: Annotated[bool, typer.Option(help="Count tokens with the model's tokenizer.")] = True,
) -> None:
    """Rows, lengths (characters and tokens) and label balance per split."""
    from tailorlm.cli import render
    from tailorlm.tasks import load_task, task_stats

    task = load_task(path, allow_overlap=True)
    render.stats(task_stats(task, _token_counter(model) if tokens else None))


@app.command("eval")
def eval_cmd(
    task: TaskArg,
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="Prompt strategy name.")
    ] = "zero-shot",
    prompt: Annotated[Path | None, typer.Option(help="A saved prompt program (YAML/JSON).")] = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    split: Annotated[str, typer.Option(help="train, dev or test.")] = "test",
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate the first N examples.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Requests generated together.")] = 8,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Cap on answer length.")] = None,
    reuse: Annotated[bool, typer.Option(help="Reuse an identical stored run.")] = True,
    allow_overlap: Annotated[
        bool, typer.Option(help="Accept inputs shared by train/dev and test (a warning).")
    ] = False,
    adapter: Annotated[
        str | None,
        typer.Option(
            help="A fine-tuning run id: evaluate its model with the prompt it was "
            "trained with (unless --prompt is given)."
        ),
    ] = None,
) -> None:
    """Evaluate a system (model + prompt strategy) on a split and store the run."""
    from tailorlm.backends import LazyBackend
    from tailorlm.cli import render
    from tailorlm.experiments import run_eval
    from tailorlm.tasks import load_task

    loaded = load_task(task, allow_overlap=allow_overlap)
    options = _options(loaded, batch_size, max_new_tokens)
    if adapter:
        from tailorlm.training import program_path_for_run, tuned_backend

        prompt = prompt or program_path_for_run(adapter)
        backend = tuned_backend(adapter, model)  # the run's model, on --model's engine
    else:
        backend = LazyBackend(model, api_key=api_key)
    with render.progress_bar(
        f"eval {loaded.name} [{Path(prompt).name if prompt else strategy}]"
    ) as advance:
        outcome = run_eval(
            loaded,
            model=backend,
            strategy=strategy,
            prompt_file=prompt,
            split=split,
            limit=limit,
            options=options,
            reuse=reuse,
            progress=advance,
        )
    render.eval_outcome(outcome, batch_size=options.batch_size)


def _token_counter(model: str | None):
    from tailorlm.backends import load_tokenizer

    tokenizer = load_tokenizer(model)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _options(task, batch_size: int, max_new_tokens: int | None):
    from tailorlm.experiments import default_max_tokens
    from tailorlm.types import GenerationOptions

    return GenerationOptions(
        max_new_tokens=max_new_tokens or default_max_tokens(task), batch_size=batch_size
    )


_register_subcommands()
