"""`python -m tailorlm.finetune TASK [--field value ...]`: the training entry point for
`accelerate launch` (and `torchrun`) without the CLI, e.g.

    accelerate launch --num_processes 2 --cpu -m tailorlm.finetune sql-sales --max-steps 10

Every FinetuneConfig field is an option (`--lora-rank 8`). Progress goes to stdout as one
JSON line per event, from the main process only."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from typing import Any

from tailorlm.errors import TailorError
from tailorlm.finetune.config import FinetuneConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tailorlm.finetune", description=__doc__)
    parser.add_argument("task", nargs="?", help="built-in task name or task folder")
    parser.add_argument("--model", help="model spec (default smollm2-135m)")
    parser.add_argument("--prompt", help="prompt program file to train with")
    parser.add_argument("--name", help="run name")
    parser.add_argument("--resume", help="continue an interrupted run")
    parser.add_argument("--train-sizes", help="learning curve, e.g. 50,100,all")
    parser.add_argument("--no-reuse", action="store_true", help="train even if a run matches")
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


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from tailorlm.finetune.train import distributed_state
    from tailorlm.learning_curve import parse_sizes, run_learning_curve
    from tailorlm.training import resume_finetune, run_finetune

    args = vars(_parser().parse_args(argv))
    fields = {k: args.pop(k) for k in FinetuneConfig.model_fields if args.get(k) is not None}
    if not (args["task"] or args["resume"]):
        print("Error: give a TASK, or --resume RUN", file=sys.stderr)
        return 2
    try:
        if args["resume"]:
            outcome: Any = resume_finetune(args["resume"], progress=_print_event)
        elif args["train_sizes"]:
            outcome = run_learning_curve(
                args["task"],
                parse_sizes(args["train_sizes"]),
                model=args["model"],
                config=FinetuneConfig(**fields),
                prompt_file=args["prompt"],
                name=args["name"],
                progress=_print_event,
            )
        else:
            outcome = run_finetune(
                args["task"],
                model=args["model"],
                config=FinetuneConfig(**fields),
                prompt_file=args["prompt"],
                name=args["name"],
                reuse=not args["no_reuse"],
                progress=_print_event,
            )
    except TailorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValidationError as exc:
        print(f"Error: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    state = distributed_state()
    # Every process reports its weights' digest, so a caller can check that the ranks agree.
    digest = getattr(outcome, "digest", "")
    print(json.dumps({"event": "done", "rank": state.process_index, "digest": digest}), flush=True)
    if state.is_main_process and outcome.run_id:
        _print_event({"event": "run", "run_id": outcome.run_id})
    return 0


if __name__ == "__main__":
    sys.exit(main())
