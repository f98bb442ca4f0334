"""`tailor prompt ...`: optimize a prompt program, try one by hand, list earlier attempts, and
show or diff programs. Registered by the main app as `app.add_typer(prompt_app, name="prompt")`.

Imports stay inside the commands, so `tailor --help` does not load numpy or torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailorlm.cli.errors import TailorGroup
from tailorlm.cli.options import ApiKeyOpt, ModelOpt, TaskArg

prompt_app = typer.Typer(
    cls=TailorGroup,
    help="Prompt engineering: strategies, search, and iterating by hand.",
    no_args_is_help=True,
)

PromptOpt = Annotated[
    Path | None, typer.Option("--prompt", help="A saved prompt program (YAML/JSON).")
]
StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        "-s",
        help="Strategy spec, e.g. role+context+format+few-shot:k=5 "
        "(see `tailor prompt strategies`).",
    ),
]
MaxTokensOpt = Annotated[int | None, typer.Option(min=1, help="Cap on answer length.")]
PersonaOpt = Annotated[
    str | None, typer.Option(help="Persona for the system message (overrides the program's).")
]


@prompt_app.command("strategies")
def strategies_cmd() -> None:
    """List the built-in strategies, what each adds, and their options."""
    from tailorlm.cli import prompt_render
    from tailorlm.prompting.strategies import describe_strategies

    prompt_render.strategies(describe_strategies())


@prompt_app.command("optimize")
def optimize_cmd(
    task: TaskArg,
    budget: Annotated[int, typer.Option(min=1, help="Most model calls the search may make.")] = 150,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: Annotated[
        Path | None, typer.Option("--prompt", help="Program to start from (default: schema-role).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seeds every random choice: same seed, same winner.")
    ] = 0,
    minibatch: Annotated[int, typer.Option(min=1, help="Dev examples in the first rung.")] = 8,
    eta: Annotated[int, typer.Option(min=2, help="Keep 1/eta of the candidates per rung.")] = 2,
    select_rows: Annotated[
        int,
        typer.Option(min=1, help="Dev rows the winner is chosen on (all of dev if fewer)."),
    ] = 32,
    bootstrap: Annotated[
        int | None,
        typer.Option(
            min=0, help="Train examples tried for bootstrapped demos (default budget/10, <=16)."
        ),
    ] = None,
    proposer: Annotated[
        str | None, typer.Option(help="Model that writes new instructions from failures.")
    ] = None,
    proposals: Annotated[int, typer.Option(min=0, help="Instructions the proposer writes.")] = 2,
    similarity: Annotated[
        str, typer.Option(help="kNN demo similarity: embedding (falls back) or lexical.")
    ] = "embedding",
    out: Annotated[Path | None, typer.Option(help="Also save the winning program here.")] = None,
    test: Annotated[bool, typer.Option(help="Score the winner on the test split, once.")] = True,
    test_limit: Annotated[int | None, typer.Option(min=1, help="Test examples to use.")] = None,
    max_new_tokens: MaxTokensOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Requests generated together.")] = 8,
    reuse: Annotated[bool, typer.Option(help="Reuse an identical stored search.")] = True,
) -> None:
    """Search instruction, context, format and demo options on dev within BUDGET model calls;
    store every trial; report the winner's test score once."""
    from tailorlm.backends import LazyBackend
    from tailorlm.cli import prompt_render, render
    from tailorlm.optimize import OptimizeSettings, optimize_prompt
    from tailorlm.prompting.program import PromptProgram
    from tailorlm.tasks import load_task

    loaded = load_task(task)
    settings = OptimizeSettings(
        budget=budget,
        minibatch=minibatch,
        eta=eta,
        select_rows=select_rows,
        seed=seed,
        bootstrap=bootstrap,
        proposals=proposals if proposer else 0,
        similarity=similarity,
    )
    backend = LazyBackend(model, api_key=api_key)
    # The student can propose too; it is then loaded once.
    writer = (
        None
        if not proposer
        else backend
        if proposer == model
        else LazyBackend(proposer, api_key=api_key)
    )
    with render.progress_bar(f"optimize {loaded.name} (model calls)") as advance:
        outcome = optimize_prompt(
            loaded,
            settings=settings,
            model=backend,
            student=PromptProgram.load(prompt) if prompt else None,
            proposer=writer,
            options=_options(loaded, batch_size, max_new_tokens, seed),
            test=test,
            test_limit=test_limit,
            reuse=reuse,
            progress=advance,
        )
    if out is not None:
        outcome.program.save(out)
    prompt_render.optimize_outcome(outcome, out)


@prompt_app.command("try")
def try_cmd(
    task: TaskArg,
    prompt: PromptOpt = None,
    strategy: StrategyOpt = None,
    persona: PersonaOpt = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    split: Annotated[str, typer.Option(help="dev (default), train or test.")] = "dev",
    limit: Annotated[int, typer.Option(min=1, help="Examples to run.")] = 20,
    max_new_tokens: MaxTokensOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Requests generated together.")] = 8,
) -> None:
    """Run a program on a few examples and show each output next to the gold answer."""
    from tailorlm.backends import LazyBackend
    from tailorlm.cli import prompt_render, render
    from tailorlm.experiments import run_eval
    from tailorlm.store import RunStore
    from tailorlm.tasks import load_task

    loaded = load_task(task)
    path = _program_file(loaded, prompt, strategy, persona)
    backend = LazyBackend(model, api_key=api_key)
    with render.progress_bar(f"try {path.stem} on {loaded.name}/{split}") as advance:
        outcome = run_eval(
            loaded,
            model=backend,
            prompt_file=path,
            split=split,
            limit=limit,
            options=_options(loaded, batch_size, max_new_tokens, 0),
            progress=advance,
        )
    rows = RunStore().get(outcome.run_id).read_jsonl("examples.jsonl")
    overhead = _overhead(loaded, path, backend, split, limit)
    prompt_render.try_outcome(outcome, rows, path, overhead)


@prompt_app.command("history")
def history_cmd(
    task: TaskArg,
    limit: Annotated[int, typer.Option(min=1, help="Most runs to list.")] = 30,
) -> None:
    """Earlier attempts on a task (evaluations and optimizations) with their scores."""
    from tailorlm.cli import prompt_render
    from tailorlm.store import RunStore
    from tailorlm.tasks import load_task

    name = load_task(task).name
    store = RunStore()
    records = [r for r in store.list(task=name, limit=limit) if r.kind in ("eval", "optimize")]
    prompt_render.history(name, records, _tested_by(store, name))


@prompt_app.command("show")
def show_cmd(
    task: TaskArg,
    prompt: PromptOpt = None,
    strategy: StrategyOpt = None,
    persona: PersonaOpt = None,
    run: Annotated[str | None, typer.Option(help="An optimize run: show its winner.")] = None,
    example: Annotated[int, typer.Option(min=0, help="Render for this dev example.")] = 0,
) -> None:
    """Print a program and the exact messages it sends for one dev example."""
    from tailorlm.cli import prompt_render
    from tailorlm.prompting.requests import build_messages
    from tailorlm.tasks import load_task

    loaded = load_task(task)
    program = _with_persona(_resolve_program(loaded, prompt, strategy, run), persona)
    dev = loaded.split("dev")
    ex = dev[min(example, len(dev) - 1)]
    messages = build_messages(program, ex, loaded.resources(), pool=loaded.split("train"))
    prompt_render.program_view(program, messages)


@prompt_app.command("diff")
def diff_cmd(
    first: Annotated[str, typer.Argument(help="Program file or optimize run id.")],
    second: Annotated[str, typer.Argument(help="Program file or optimize run id.")],
) -> None:
    """Unified diff of two prompt programs (files or the winners of optimize runs)."""
    import difflib

    a, b = _program_by_ref(first), _program_by_ref(second)
    lines = difflib.unified_diff(
        a.to_yaml().splitlines(), b.to_yaml().splitlines(), first, second, lineterm=""
    )
    typer.echo("\n".join(lines) or "identical")


# ---------------------------------------------------------------------------- helpers


def _options(task, batch_size: int, max_new_tokens: int | None, seed: int):
    from tailorlm.experiments import default_max_tokens
    from tailorlm.types import GenerationOptions

    return GenerationOptions(
        max_new_tokens=max_new_tokens or default_max_tokens(task), batch_size=batch_size, seed=seed
    )


def _resolve_program(task, prompt: Path | None, strategy: str | None, run: str | None = None):
    from tailorlm.errors import TailorError
    from tailorlm.prompting.program import PromptProgram
    from tailorlm.prompting.strategies import get_strategy

    if sum(x is not None for x in (prompt, strategy, run)) > 1:
        raise TailorError("Give one of --prompt, --strategy or --run", hint="not several")
    if prompt is not None:
        return PromptProgram.load(prompt)
    if run is not None:
        return _program_by_ref(run)
    return get_strategy(strategy or "zero-shot")(task)


def _program_file(task, prompt: Path | None, strategy: str | None, persona: str | None) -> Path:
    """The program as a file: --prompt as given; otherwise (a strategy, or a changed persona)
    it is saved under the home folder first, so the run records it and the user can edit it
    and try again."""
    program = _resolve_program(task, prompt, strategy)  # fails early on a bad file
    if prompt is not None and persona is None:
        return prompt
    from tailorlm.paths import home

    program = _with_persona(program, persona)
    folder = home() / "prompts" / task.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(program.name)}.yaml"
    program.save(path)
    return path


def _with_persona(program, persona: str | None):
    from dataclasses import replace

    if persona is None:
        return program
    return replace(program, system=persona, name=f"{program.name}+persona")


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "program"


def _program_by_ref(ref: str):
    from tailorlm.optimize import PROGRAM_FILE
    from tailorlm.prompting.program import PromptProgram
    from tailorlm.store import RunStore

    if Path(ref).is_file():
        return PromptProgram.load(Path(ref))
    record = RunStore().get(ref)
    name = PROGRAM_FILE if record.kind == "optimize" else "program.json"
    return PromptProgram.load(record.dir / name)


def _overhead(task, path: Path, backend, split: str, limit: int) -> float:
    from tailorlm.prompting.program import PromptProgram
    from tailorlm.prompting.requests import overhead_tokens

    examples = task.split(split)[:limit]
    return overhead_tokens(PromptProgram.load(path), backend, examples, task.resources())


def _tested_by(store, task: str) -> dict[str, dict]:
    """optimize run id -> summary of the test eval of its winner."""
    linked = {}
    for record in store.list(kind="eval", task=task):
        if not record.is_complete:
            continue
        meta = record.load_config().get("program", {}).get("meta", {})
        if "optimize_run" in meta:
            linked[meta["optimize_run"]] = record.summary
    return linked
