"""`tailor runs` (a group: listing is its default, `runs export` its subcommand), `tailor show`
and `tailor rm`: thin wrappers over the run store."""

from __future__ import annotations

from typing import Annotated

import typer

from tailorlm.cli.errors import TailorGroup
from tailorlm.cli.options import JsonOpt, RunArg

runs_app = typer.Typer(cls=TailorGroup, help="List stored runs, newest first; export them.")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.command("show")(show_cmd)
    app.command("rm")(rm_cmd)
    from tailorlm.cli import tracking_cmds  # `runs export --mlflow`

    tracking_cmds.register(runs_app)


@runs_app.callback(invoke_without_command=True)
def runs_cmd(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="Only runs of this kind (eval, ...).")] = None,
    task: Annotated[str | None, typer.Option(help="Only runs of this task.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from tailorlm.cli import render
    from tailorlm.store import RunStore

    store = RunStore()
    records = store.list(kind=kind, task=task, limit=limit)
    if as_json:
        render.print_json([r.to_dict() for r in records])
    else:
        render.runs_table(records, store.short_ids(r.id for r in records))


def show_cmd(run: RunArg, as_json: JsonOpt = False) -> None:
    """Show one run: its config, summary and a few example rows."""
    from tailorlm.cli import render
    from tailorlm.store import RunStore

    record = RunStore().get(run)
    if as_json:
        render.print_json(render.run_json(record))
    else:
        render.run_detail(record)


def rm_cmd(run: RunArg) -> None:
    """Delete a run: its folder and its record."""
    from tailorlm.store import RunStore

    typer.echo(f"deleted {RunStore().delete(run)}")
