"""Leaving OpenAI fine-tuning: `tailor import openai-job` and `tailor import openai-file`.
`register(app)` adds the `import` group; each command is a thin wrapper over tailorlm.migrate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tailorlm.backends.spec import DEFAULT_BASE_URL
from tailorlm.cli.data_cmds import Seed, Test
from tailorlm.cli.errors import TailorGroup

if TYPE_CHECKING:
    from tailorlm.migrate import ImportResult

BaseUrl = Annotated[
    str, typer.Option(help="The OpenAI-compatible API, ending in /v1 (a tailor server works).")
]
# Never echoed or stored: systems.yaml records the model spec only.
ApiKey = Annotated[
    str | None,
    typer.Option(
        help="Key for the API (default: the OPENAI_API_KEY variable).", show_default=False
    ),
]
Out = Annotated[Path, typer.Option(help="Task folder to create (must not exist yet).")]
TaskType = Annotated[
    str,
    typer.Option(
        "--type",
        help="auto (classification when the answers are a few labels, else generation), "
        "classification or generation.",
    ),
]
SkipUnsupported = Annotated[
    bool, typer.Option(help="Drop rows with tools, function calls, images or audio.")
]
Dev = Annotated[
    float, typer.Option(help="Share of rows for dev, when there is no validation file.")
]


def register(app: typer.Typer) -> None:
    import_app = typer.Typer(
        cls=TailorGroup,
        help="Bring data from elsewhere: an OpenAI fine-tuning job or training file.",
        no_args_is_help=True,
    )
    import_app.command("openai-job")(openai_job_cmd)
    import_app.command("openai-file")(openai_file_cmd)
    app.add_typer(import_app, name="import")


def openai_job_cmd(
    job_id: Annotated[str, typer.Argument(help="The fine-tuning job, e.g. ftjob-abc123.")],
    out: Out,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = None,
    training_file: Annotated[
        Path | None,
        typer.Option(help="Your copy of the job's training file, if the API keeps it back."),
    ] = None,
    validation_file: Annotated[
        Path | None, typer.Option(help="Your copy of the job's validation file.")
    ] = None,
    task_type: TaskType = "auto",
    skip_unsupported: SkipUnsupported = False,
    dev: Dev = 0.15,
    test: Test = 0.2,
    seed: Seed = 0,
) -> None:
    """A succeeded fine-tuning job's data as a task folder, its model in systems.yaml."""
    from tailorlm.migrate import import_openai_job
    from tailorlm.tasks.splitting import SplitSpec

    result = import_openai_job(
        job_id,
        out,
        base_url=base_url,
        api_key=api_key,
        training_file=training_file,
        validation_file=validation_file,
        task_type=task_type,
        split=SplitSpec(dev, test, seed),
        skip_unsupported=skip_unsupported,
    )
    _echo(result)


def openai_file_cmd(
    file_id: Annotated[
        str, typer.Argument(help="A training file id (file-abc123) or a local OpenAI JSONL file.")
    ],
    out: Out,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = None,
    task_type: TaskType = "auto",
    skip_unsupported: SkipUnsupported = False,
    dev: Dev = 0.15,
    test: Test = 0.2,
    seed: Seed = 0,
) -> None:
    """An OpenAI fine-tuning file as a task folder, split into train/dev/test."""
    from tailorlm.migrate import import_openai_file
    from tailorlm.tasks.splitting import SplitSpec

    result = import_openai_file(
        file_id,
        out,
        base_url=base_url,
        api_key=api_key,
        task_type=task_type,
        split=SplitSpec(dev, test, seed),
        skip_unsupported=skip_unsupported,
    )
    _echo(result)


def _echo(result: ImportResult) -> None:
    from tailorlm.migrate import SYSTEM_ID, SYSTEMS_FILE

    counts = ", ".join(f"{split} {n}" for split, n in result.counts.items())
    typer.echo(f"wrote {result.root}/: {counts} rows (dev from the {result.dev_source})")
    if result.model is not None:
        typer.echo(f"{SYSTEMS_FILE}: {SYSTEM_ID} = {result.model}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"next: tailor data validate {result.root} && tailor compare {result.root}")
