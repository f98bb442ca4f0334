"""`python -m tailorlm.finetune TASK [--field value ...]`: the training entry point for
`accelerate launch` (and `torchrun`) without the CLI, e.g.

    accelerate launch --num_processes 2 --cpu -m tailorlm.finetune sql-sales --max-steps 10

Every FinetuneConfig field is an option (`--lora-rank 8`). The main process prints the same
progress lines and summary as `tailor finetune`; with `--json`, one JSON line per event instead
(from the main process), and a `done` line with its weights' digest from every process."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from typing import Any

from tailorlm.errors import TailorError
from tailorlm.finetune.config import FinetuneConfig
from tailorlm.types import EventFn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tailorlm.finetune", description=__doc__)
    parser.add_argument("task", nargs="?", help="built-in task name or task folder")
    parser.add_argument("--model", help="model spec (default smollm2-135m)")
    parser.add_argument("--prompt", help="prompt program file to train with")
    parser.add_argument("--name", help="run name")
    parser.add_argument("--resume", help="continue an interrupted run")
    parser.add_argument("--train-sizes", help="learning curve, e.g. 50,100,all")
    parser.add_argument("--no-reuse", action="store_true", help="train even if a run matches")
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    for name, field in FinetuneConfig.model_fields.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            help=field.description,
            type=_caster(field.annotation),
        )
    return parser


def _caster(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if bool in args:
        return lambda text: text.lower() in ("1", "true", "yes")
    for kind in (int, float):
        if kind in args:
            return kind
    return _list_or_str if list in [typing.get_origin(a) for a in args] else str


def _list_or_str(text: str) -> Any:
    return text.split(",") if "," in text else text


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line, flush=True)


def _human_progress() -> EventFn:
    from tailorlm.cli.finetune_cmds import TrainingLines

    lines = TrainingLines()

    def on_event(event: dict[str, Any]) -> None:
        if (line := lines(event)) is not None:
            _print_lines([line])

    return on_event


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    args = vars(_parser().parse_args(argv))
    fields = {k: args.pop(k) for k in FinetuneConfig.model_fields if args.get(k) is not None}
    if not (args["task"] or args["resume"]):
        print("Error: give a TASK, or --resume RUN", file=sys.stderr)
        return 2
    progress = _print_event if args["json"] else _human_progress()
    from tailorlm.tracking import log_runs_from_env

    log_runs_from_env()  # as `tailor` does: TAILOR_MLFLOW_TRACKING_URI logs the finished run
    try:
        outcome = _run(args, fields, progress)
    except TailorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValidationError as exc:
        print(f"Error: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    if args["json"]:
        _print_done(outcome)
    else:
        _print_lines(_outcome_lines(outcome, args))
    return 0


def _run(args: dict[str, Any], fields: dict[str, Any], progress: EventFn) -> Any:
    from tailorlm.learning_curve import parse_sizes, run_learning_curve
    from tailorlm.training import resume_finetune, run_finetune

    if args["resume"]:
        return resume_finetune(args["resume"], progress=progress)
    if args["train_sizes"]:
        return run_learning_curve(
            args["task"],
            parse_sizes(args["train_sizes"]),
            model=args["model"],
            config=FinetuneConfig(**fields),
            prompt_file=args["prompt"],
            name=args["name"],
            progress=progress,
        )
    return run_finetune(
        args["task"],
        model=args["model"],
        config=FinetuneConfig(**fields),
        prompt_file=args["prompt"],
        name=args["name"],
        reuse=not args["no_reuse"],
        progress=progress,
    )


def _outcome_lines(outcome: Any, args: dict[str, Any]) -> list[str]:
    from tailorlm.cli.finetune_cmds import curve_lines, outcome_lines

    if args["train_sizes"] and not args["resume"]:
        return curve_lines(outcome)
    return outcome_lines(outcome, None if args["resume"] else args["task"])


def _print_done(outcome: Any) -> None:
    from tailorlm.finetune.train import distributed_state

    state = distributed_state()
    # Every process reports its weights' digest, so a caller can check that the ranks agree.
    digest = getattr(outcome, "digest", "")
    print(json.dumps({"event": "done", "rank": state.process_index, "digest": digest}), flush=True)
    if state.is_main_process and outcome.run_id:
        _print_event({"event": "run", "run_id": outcome.run_id})


if __name__ == "__main__":
    sys.exit(main())
