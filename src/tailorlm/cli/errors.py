"""How the CLI reports failures: a TailorError becomes a one-line message plus hint on stderr and
a non-zero exit, never a traceback; Ctrl-C exits 130 (the run store has already marked the run
interrupted, so the same command resumes it)."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from tailorlm.errors import TailorError


class TailorGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TailorError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                typer.echo(f"Hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("Interrupted; run the same command again to resume.", err=True)
            sys.exit(130)
