"""Bring your own data: `tailor init`, `tailor data import`, `tailor data split` and
`tailor data synth-sql`. `register(app, data_app)` adds them; each is a thin wrapper over
tailorlm.tasks (scaffold, importer, splitting, synth_sql)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tailorlm.tasks.splitting import SplitResult

Dev = Annotated[float, typer.Option(help="Share of rows for dev (prompt search, early stop).")]
Test = Annotated[float, typer.Option(help="Share of rows for the frozen test split.")]
Seed = Annotated[int, typer.Option(help="Seed for the random order of the split.")]
GroupBy = Annotated[
    str | None,
    typer.Option(help="Rows with the same value of this column stay in one split."),
]
Similarity = Annotated[
    float,
    typer.Option(
        help="Inputs at least this similar (Jaccard of character 5-grams) stay in one split; "
        "1 groups only identical inputs."
    ),
]


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command("init")(init_cmd)
    data_app.command("import")(import_cmd)
    data_app.command("split")(split_cmd)
    data_app.command("synth-sql")(synth_sql_cmd)


def init_cmd(
    name: Annotated[str, typer.Argument(help="Folder to create; its name names the task.")],
    task_type: Annotated[
        str, typer.Option("--type", help="sql, classification, generation or code.")
    ] = "generation",
) -> None:
    """Create a task folder with a commented task.yaml and example rows."""
    from tailorlm.tasks.scaffold import init_task

    root = init_task(name, task_type)
    typer.echo(f"created {root}/ ({task_type}): task.yaml, train/dev/test.jsonl")
    typer.echo(f"next: tailor data import FILE --input COL --output COL --task {root}")


def import_cmd(
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file.")],
    input_cols: Annotated[str, typer.Option("--input", help="Input column(s), comma-separated.")],
    output: Annotated[str, typer.Option(help="The column holding the answer.")],
    task: Annotated[Path, typer.Option(help="Task folder to write (created if missing).")],
    task_type: Annotated[
        str, typer.Option("--type", help="Task type when the folder has no task.yaml yet.")
    ] = "generation",
    skip_empty: Annotated[
        bool, typer.Option(help="Drop rows with an empty input/output cell.")
    ] = False,
    allow_mixed: Annotated[
        bool, typer.Option(help="Read columns that mix numbers and text as text.")
    ] = False,
    split: Annotated[bool, typer.Option(help="Also make train/dev/test splits.")] = True,
    dev: Dev = 0.15,
    test: Test = 0.2,
    seed: Seed = 0,
    group_by: GroupBy = None,
    similarity: Similarity = 0.8,
) -> None:
    """Convert your data into a task folder: data.jsonl, then leak-free splits."""
    from tailorlm.tasks.importer import import_data
    from tailorlm.tasks.splitting import SplitSpec

    spec = SplitSpec(dev, test, seed, group_by, similarity) if split else None
    inputs = [c.strip() for c in input_cols.split(",")]
    result = import_data(
        file,
        inputs=inputs,
        output=output,
        task=task,
        task_type=task_type,
        skip_empty=skip_empty,
        allow_mixed=allow_mixed,
        split=spec,
    )
    skipped = f" ({result.skipped} rows with empty cells dropped)" if result.skipped else ""
    typer.echo(f"imported {result.rows} rows into {result.root}/data.jsonl{skipped}")
    if result.split is not None:
        _echo_split(result.split)


def split_cmd(
    path: Annotated[str, typer.Argument(help="A task folder (splits data.jsonl, else its rows).")],
    dev: Dev = 0.15,
    test: Test = 0.2,
    seed: Seed = 0,
    group_by: GroupBy = None,
    similarity: Similarity = 0.8,
) -> None:
    """Make train/dev/test splits with no near-duplicate input across them."""
    from tailorlm.tasks.splitting import SplitSpec, split_task

    _echo_split(split_task(path, SplitSpec(dev, test, seed, group_by, similarity)))


def synth_sql_cmd(
    db: Annotated[Path, typer.Option(help="The SQLite database to write questions for.")],
    out: Annotated[Path, typer.Option(help="Task folder to create.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many question/SQL pairs.")] = 300,
    seed: Seed = 0,
    dev: Dev = 0.15,
    test: Test = 0.2,
) -> None:
    """Generate a text-to-SQL task for your database from its schema and values."""
    from tailorlm.tasks.splitting import SplitSpec
    from tailorlm.tasks.synth_sql import synth_sql

    result = synth_sql(db, n=n, out=out, seed=seed, split=SplitSpec(dev, test, seed))
    short = f" (only {result.rows} distinct checked queries exist)" if result.rows < n else ""
    typer.echo(f"wrote {result.rows} question/SQL pairs to {result.root}/{short}")
    families = ", ".join(f"{k} {v}" for k, v in sorted(result.families.items()))
    typer.echo(f"families: {families}")
    _echo_split(result.split)
    typer.echo(
        "every gold query ran in the metric's sandbox; the questions are synthetic - "
        "hand-write test.jsonl to measure what matters to you"
    )


def _echo_split(result: SplitResult) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    together = (
        f"; {result.grouped_rows} near-duplicate or same-group rows kept in one split "
        f"(largest group {result.largest_group})"
        if result.grouped_rows
        else ""
    )
    typer.echo(f"splits: {counts}{together}")
