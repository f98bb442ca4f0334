"""`tailor finetune` and `tailor export`. `register(app)` adds them to a typer app.

Runs under `accelerate launch $(which tailor) finetune ...` as well (DDP / FSDP / DeepSpeed via
accelerate configs): every process trains, only the main one prints and writes the run."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from tailorlm.cli.options import ModelOpt
from tailorlm.errors import ConfigError

Event = dict[str, Any]


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune_cmd)
    app.command("export")(export_cmd)


def finetune_cmd(
    task: Annotated[str | None, typer.Argument(help="Built-in task name or task folder.")] = None,
    model: ModelOpt = None,
    method: Annotated[str | None, typer.Option(help="lora (default) or full.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes over train.")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (1e-3 LoRA, 5e-5 full).")
    ] = None,
    rank: Annotated[int | None, typer.Option(min=1, help="LoRA rank.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after N optimizer steps.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Rows per micro-batch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for data order and init.")] = None,
    prompt: Annotated[
        Path | None,
        typer.Option(help="Prompt program to train with (default: a short one-line prompt)."),
    ] = None,
    out: Annotated[str | None, typer.Option(help="Name for the run.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run (id or prefix).")
    ] = None,
    train_sizes: Annotated[
        str | None,
        typer.Option(help="Learning curve: e.g. 50,100,200,all (one run per size)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other config field, e.g. --set lora_dropout=0.1."),
    ] = None,
    reuse: Annotated[bool, typer.Option(help="Reuse an identical finished run.")] = True,
    target: Annotated[
        str | None,
        typer.Option(
            help="openai@BASE_URL: run the job on an OpenAI-compatible fine-tuning API (OpenAI, "
            "or a `tailor serve` at BASE_URL) instead of here; key from OPENAI_API_KEY."
        ),
    ] = None,
) -> None:
    """Fine-tune a model (LoRA or full) on a task's train split and store the run."""
    from tailorlm.training import resume_finetune, run_finetune

    if resume:
        with _progress() as progress:
            outcome = resume_finetune(resume, progress=progress)
        return _print_lines(outcome_lines(outcome, None))  # the task comes from the run
    if task is None:
        raise ConfigError("Missing TASK.", hint="tailor finetune sql-sales, or --resume RUN")
    if target:
        if method or rank or max_steps or set_ or train_sizes:
            raise ConfigError(
                "--target runs a provider's fine-tuning job, which takes only --model, --epochs, "
                "--batch-size, --lr, --seed, --prompt and --out.",
                hint="drop --method/--rank/--max-steps/--set/--train-sizes, or fine-tune locally",
            )
        return _remote(task, target, model, epochs, batch_size, lr, seed, prompt, out, reuse)
    options = {
        "method": method,
        "epochs": epochs,
        "learning_rate": lr,
        "lora_rank": rank,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "seed": seed,
    }
    config = build_config(options, set_ or [])
    if train_sizes:
        return _curve(task, train_sizes, model, config, prompt, out)
    with _progress() as progress:
        outcome = run_finetune(
            task,
            model=model,
            config=config,
            prompt_file=prompt,
            name=out,
            reuse=reuse,
            progress=progress,
        )
    _print_lines(outcome_lines(outcome, task))


def _remote(
    task: str,
    target: str,
    model: str | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    prompt: Path | None,
    out: str | None,
    reuse: bool,
) -> None:
    from tailorlm.cli.render import console
    from tailorlm.remote_training import remote_finetune

    def on_event(event: Event) -> None:
        console.print(f"  {event['level']}: {event['message']}", highlight=False)

    outcome = remote_finetune(
        task,
        target=target,
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        seed=seed,
        prompt_file=prompt,
        name=out,
        reuse=reuse,
        progress=on_event,
    )
    note = " (reused stored run)" if outcome.reused else ""
    console.print(f"run [bold]{outcome.run_id}[/bold]{note}: model {outcome.fine_tuned_model}")
    console.print(
        f"evaluate: tailor eval {task} --model openai:{outcome.fine_tuned_model}@"
        f"{outcome.base_url} --prompt {outcome.program_path}",
        highlight=False,
        soft_wrap=True,
    )


def export_cmd(
    run: Annotated[str, typer.Argument(help="A finished fine-tuning run (id or prefix).")],
    out: Annotated[Path, typer.Option(help="Folder to create.")],
    merge: Annotated[
        bool, typer.Option(help="Merge the adapter into the base: a plain HF model folder.")
    ] = False,
    gguf: Annotated[
        bool, typer.Option(help="Also write model.gguf for llama.cpp/Ollama (needs --merge).")
    ] = False,
    gguf_type: Annotated[str, typer.Option(help="GGUF weight type: f16 or f32.")] = "f16",
    for_engine: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="vllm: the layout vLLM's --lora-modules (and SGLang's --lora-paths) loads, "
            "with serve.txt: the engine's command and the `tailor serve --engine` in front.",
        ),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            help="With --for vllm: the hub id or path the engine loads the base from "
            "(default: the run's base; a GGUF base is copied to OUT/base).",
        ),
    ] = None,
) -> None:
    """Export a fine-tuned model: adapter only, merged HF folder, GGUF, or for vLLM/SGLang."""
    from tailorlm.training import export_run

    if gguf_type not in ("f16", "f32"):
        raise ConfigError(f"--gguf-type {gguf_type!r} is not supported", hint="use f16 or f32")
    result = export_run(
        run,
        out,
        merge=merge,
        gguf=gguf,
        gguf_dtype=gguf_type,
        for_engine=for_engine,
        base_model=base_model,
    )
    lines = [f"exported {result.kind} model to {result.path}"]
    if result.gguf:
        lines.append(f"GGUF: {result.gguf}")
    if result.serve:  # vLLM's pair; serve.txt has SGLang's too
        commands = [line for line in result.serve.read_text().splitlines() if line[:1] not in "#"]
        lines += [f"serve it (all commands: {result.serve}):", commands[0], commands[2]]
    _print_lines(lines)


def build_config(options: dict[str, Any], assignments: list[str]) -> Any:
    """FinetuneConfig from CLI flags plus `--set key=value` (YAML-typed values)."""
    import yaml
    from pydantic import ValidationError

    from tailorlm.finetune import FinetuneConfig

    values = {k: v for k, v in options.items() if v is not None}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE", hint="e.g. --set lora_alpha=64")
        values[key.strip()] = yaml.safe_load(raw)
    try:
        return FinetuneConfig(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"fine-tuning option '{field}': {err['msg']}",
            hint="fields: " + ", ".join(FinetuneConfig.model_fields),
        ) from None


def _curve(
    task: str, sizes: str, model: str | None, config: Any, prompt: Path | None, name: str | None
) -> None:
    from tailorlm.learning_curve import parse_sizes, run_learning_curve

    with _progress() as progress:
        outcome = run_learning_curve(
            task,
            parse_sizes(sizes),
            model=model,
            config=config,
            prompt_file=prompt,
            name=name,
            progress=progress,
        )
    _print_lines(curve_lines(outcome))


def curve_lines(outcome: Any) -> list[str]:
    """A learning curve's points (nothing on a non-main process)."""
    if not outcome.run_id:
        return []  # not the main process
    lines = [f"learning curve {outcome.run_id}"]
    for p in outcome.points:
        metric = "-" if p.dev_metric is None else f"{100 * p.dev_metric:.1f}%"
        lines.append(
            f"  n={p.size:<5} dev metric {metric:>6}  dev loss "
            f"{p.best_dev_loss:.3f}  {p.wall_s:.0f}s  run {p.run_id}"
        )
    return lines


@contextmanager
def _progress() -> Iterator[Callable[[Event], None]]:
    """Training events -> the plain lines of `TrainingLines`, and in a terminal a progress bar
    too. Rich flushes every print, so a CI log or a nohup file shows each line as it happens."""
    from tailorlm.cli.render import console

    lines = TrainingLines()
    with _bar() if console.is_terminal else nullcontext(_ignore) as bar:

        def on_event(event: Event) -> None:
            bar(event)
            if (line := lines(event)) is not None:
                _print_lines([line])

        yield on_event


@contextmanager
def _bar() -> Iterator[Callable[[Event], None]]:
    """A progress bar with loss, tokens/s and ETA (transient: the lines above it stay)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tailorlm.cli.render import console

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task_id = bar.add_task("finetune", total=None, stats="")

        def on_event(event: Event) -> None:
            kind = event["event"]
            if kind == "start":
                label = "resuming" if event["resumed"] else "training"
                bar.update(
                    task_id, description=label, total=event["total"], completed=event["step"]
                )
            elif kind == "step":
                stats = (
                    f"loss {event['loss']:.3f}  {event['tokens_per_s']:.0f} tok/s  "
                    f"ETA {_clock(event['eta_s'])}"
                )
                bar.update(task_id, description="training", completed=event["step"], stats=stats)

        yield on_event


class TrainingLines:
    """Training events -> plain progress lines, the same for `tailor finetune` and for
    `python -m tailorlm.finetune` (under `accelerate launch`): one at the start, per dev
    evaluation and per checkpoint; none per step, which would flood a log. Call it with each
    event; it returns the event's line or None. An evaluation's train loss is the mean over
    the steps since the previous evaluation."""

    def __init__(self) -> None:
        self.total, self.wall_s = 0, 0.0
        self.losses: list[float] = []

    def __call__(self, event: Event) -> str | None:
        kind = event["event"]
        if kind == "start":
            self.total, self.losses = event["total"], []
            if event["resumed"]:
                return f"resuming at step {event['step']}/{self.total}"
            return f"training {self.total} steps"
        if kind == "step":
            self.wall_s = event["wall_s"]
            self.losses.append(event["loss"])
        elif kind == "eval":
            return self._eval_line(event)
        elif kind == "checkpoint":
            return f"checkpoint step {event['step']} saved"
        elif kind == "curve":
            return f"train size {event['size']}"
        return None

    def _eval_line(self, event: Event) -> str:
        train = sum(self.losses) / len(self.losses) if self.losses else math.nan
        self.losses = []
        metric = f"  dev metric {100 * event['metric']:.1f}%" if "metric" in event else ""
        best = "  new best" if event["best"] else ""
        stop = "  early stop" if event["stopped_early"] else ""
        return (
            f"step {event['step']}/{self.total}  train loss {train:.3f}  "
            f"dev loss {event['dev_loss']:.3f}{metric}{best}{stop}  ({_clock(self.wall_s)})"
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def outcome_lines(outcome: Any, task: str | None) -> list[str]:
    """The run, its figures and the command that evaluates it (nothing on a non-main
    process). Without `task` (a resumed run) the hint names the task of the run's stored
    config: a built-in task's name or a task folder's path."""
    from tailorlm.store import RunStore

    if not outcome.summary and not outcome.reused:
        return []  # not the main process
    task = task or str(RunStore().get(outcome.run_id).load_config()["task"])
    s = outcome.summary
    note = " (reused stored run)" if outcome.reused else (" (resumed)" if outcome.resumed else "")
    metric = "-" if s.get("dev_metric") is None else f"{100 * s['dev_metric']:.1f}%"
    return [
        f"run {outcome.run_id}{note}",
        f"{s['method']}: {s['steps']} steps, best dev loss {s['best_dev_loss']:.4f}, "
        f"dev metric {metric}",
        f"{s['wall_s']:.0f}s on {s['device']}, {s['tokens_per_s']:.0f} tokens/s, "
        f"~{s['flops'] / 1e12:.1f} TFLOP",
        f"evaluate: tailor eval {task} --adapter {outcome.run_id}",
    ]


def _print_lines(lines: list[str]) -> None:
    from tailorlm.cli.render import console

    for line in lines:
        # Plain text (a task folder's path may hold [brackets]), one line each, so a command
        # can be copied whole.
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _ignore(_event: Event) -> None:
    return None
