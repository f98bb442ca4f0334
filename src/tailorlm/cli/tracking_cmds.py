"""`tailor runs export --mlflow`: stored runs to MLflow (see `tailorlm.tracking`).
`register(runs_app)` adds it to the `runs` group."""

from __future__ import annotations

from typing import Annotated

import typer

from tailorlm.errors import ConfigError


def register(runs_app: typer.Typer) -> None:
    runs_app.command("export")(export_cmd)


def export_cmd(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Runs to export (ids, unique prefixes or names); default: every complete run.",
            metavar="RUN",
            show_default=False,
        ),
    ] = None,
    mlflow: Annotated[
        bool, typer.Option("--mlflow", help="Export to MLflow (needs the mlflow extra).")
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI: a server's http://HOST:PORT or sqlite:///FILE.db "
            "(default: TAILOR_MLFLOW_TRACKING_URI, else MLflow's own MLFLOW_TRACKING_URI or "
            "./mlflow.db).",
            show_default=False,
        ),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            help="MLflow experiment (default: TAILOR_MLFLOW_EXPERIMENT, else 'tailorlm').",
            show_default=False,
        ),
    ] = None,
    unfinished: Annotated[
        bool, typer.Option("--all", help="Also runs that failed, stopped or still run.")
    ] = False,
) -> None:
    """Export stored runs to MLflow; exporting again updates the same MLflow runs.

    Each run's config becomes params, its summary's numbers metrics, its reports and prompt
    program artifacts (a comparison's table too)."""
    if not mlflow:
        raise ConfigError(
            "Say where to export the runs to", hint="add --mlflow (the one destination so far)"
        )
    from tailorlm.tracking import export_runs

    result = export_runs(
        tracking_uri=tracking_uri,
        experiment=experiment,
        runs=runs or None,
        include_unfinished=unfinished,
    )
    for run in result.runs:
        typer.echo(f"{run.action:<8} {run.run_id} -> MLflow run {run.mlflow_run_id}")
    typer.echo(_summary(result))


def _summary(result) -> str:
    created = sum(run.action == "created" for run in result.runs)
    line = (
        f"{len(result.runs)} run(s) exported to MLflow at {result.tracking_uri}, experiment "
        f"'{result.experiment}': {created} created, {len(result.runs) - created} updated"
    )
    if result.skipped:
        line += f"; {len(result.skipped)} not complete, skipped (--all exports them too)"
    return line + "."
