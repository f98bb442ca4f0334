"""`tailor serve`: the OpenAI-compatible server. `register(app)` adds it to a typer app."""

from __future__ import annotations

from typing import Annotated

import typer

from tailorlm.cli.options import ModelOpt


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TAILOR_API_KEY", help="Require this Bearer token (or TAILOR_API_KEY)."
        ),
    ] = None,
    model: ModelOpt = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="openai@BASE_URL: an engine (vLLM) that serves every fine-tuned run as the "
            "model named after its run (`tailor export RUN --for vllm` says how); tailor "
            "applies the prompt program and parser in front. SGLang: 'openai:BASE:{run}@URL'.",
        ),
    ] = None,
    batching: Annotated[bool, typer.Option(help="Batch concurrent chat requests.")] = True,
    max_batch: Annotated[int, typer.Option(min=1, help="Most requests per batch.")] = 8,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a batch waits for more requests.")
    ] = 5.0,
    max_tokens_limit: Annotated[int, typer.Option(min=1, help="Largest max_tokens.")] = 1024,
    finetune_set: Annotated[
        list[str] | None,
        typer.Option(
            "--finetune-set",
            help="A FinetuneConfig field for every fine-tuning job, e.g. max_steps=200.",
        ),
    ] = None,
) -> None:
    """Serve the base model and every tailored model behind an OpenAI-compatible API.

    Tailored models come from the run store (fine-tuning and prompt-optimization runs); the API
    covers chat completions (streaming too), files and fine-tuning jobs. With --engine, the
    fine-tuned weights run on that engine, which batches; the names clients use stay the same."""
    from tailorlm.server import ServerSettings, serve

    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        typer.echo(
            f"Warning: serving on {host} without --api-key: anyone who can reach it can use it.",
            err=True,
        )
    settings = ServerSettings(
        host=host,
        port=port,
        api_key=api_key,
        model=model,
        engine=engine,
        batching=batching,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_tokens_limit=max_tokens_limit,
        finetune={"metric_limit": 0, **_finetune_fields(finetune_set or [])},
    )
    serve(settings)


def _finetune_fields(assignments: list[str]) -> dict[str, object]:
    """Checked like `tailor finetune --set`: a typo fails now, not in the first job."""
    import yaml

    from tailorlm.cli.finetune_cmds import build_config

    build_config({}, assignments)  # raises ConfigError naming the bad field
    pairs = [item.partition("=") for item in assignments]
    return {key.strip(): yaml.safe_load(raw) for key, _, raw in pairs}
