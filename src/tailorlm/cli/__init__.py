"""The `tailor` command (L6): thin wrappers over the Python API."""

from __future__ import annotations


def main() -> None:
    from tailorlm.cli.app import app

    app()
