"""Options several commands share, declared once (their help is what `--help` shows)."""

from __future__ import annotations

from typing import Annotated

import typer

MODEL_HELP = (
    "smollm2-135m (default), a HF folder, a .gguf file or a hub id; llamacpp:MODEL for the "
    "llama.cpp engine; openai:MODEL@BASE_URL for an OpenAI-compatible API (prompting only: its "
    "weights cannot be fine-tuned)."
)


def _task_names(incomplete: str) -> list[str]:
    """Shell completion: the built-in task names (a folder path completes as a path)."""
    from tailorlm.tasks.loader import builtin_roots

    return [root.name for root in builtin_roots() if root.name.startswith(incomplete)]


def _run_refs(incomplete: str) -> list[str]:
    """Shell completion: stored run ids and names."""
    from tailorlm.store import RunStore

    try:
        records = RunStore().list(limit=200)
    except Exception:  # noqa: BLE001 - no completion beats an error in the shell
        return []
    refs = {r.id for r in records} | {r.name for r in records if r.name}
    return sorted(ref for ref in refs if ref.startswith(incomplete))


TaskArg = Annotated[
    str,
    typer.Argument(help="Built-in task name or task folder.", autocompletion=_task_names),
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)]
TargetOpt = Annotated[
    float | None,
    typer.Option(
        "--target",
        min=0.0,
        max=1.0,
        help="The quality bar (0-1, e.g. 0.8) the verdict holds every system to; default: the "
        "task's `target:`.",
    ),
]
# Never echoed or stored: runs record the model spec only.
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="Key for an openai:MODEL@BASE_URL model (default: the OPENAI_API_KEY variable).",
        show_default=False,
    ),
]
RunArg = Annotated[
    str,
    typer.Argument(
        help="Run id or unique id prefix, the run's name (--out), or its id after the timestamp.",
        autocompletion=_run_refs,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead.")]
