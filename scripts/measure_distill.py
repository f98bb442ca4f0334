"""How close does a student fine-tuned on a teacher's labels get to the teacher, and what do the
gold-free check and majority voting buy? (issue 21's measurement; quality, not speed).

    TAILOR_HOME=... OPENAI_API_KEY=none python scripts/measure_distill.py \\
        --teacher openai:ft:smollm2-135m:RUN@http://127.0.0.1:8765/v1 --task sql-sales

For each variant (check on/off, votes): the train inputs are labelled by the teacher (its
answers only; the train split's gold is never read), the kept rows become a task folder (dev
from them, test the task's own), the base model is fine-tuned with the quick preset's settings
and evaluated on the quick preset's test rows, as `tailor compare --teacher` does for the
check-on, one-vote student. Every step is a stored run: a rerun reuses what is done."""

from __future__ import annotations

import argparse
import json

from tailorlm.compare.presets import get_preset
from tailorlm.experiments import resolve_program, run_eval
from tailorlm.labelling import label_split, write_labelled_task
from tailorlm.store import RunStore
from tailorlm.tasks import load_task
from tailorlm.training import program_path_for_run, run_finetune, tuned_backend
from tailorlm.types import GenerationOptions

VARIANTS = ((True, 1), (False, 1), (True, 3))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--task", default="sql-sales")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--variants", default="all", help="e.g. 'check1,nocheck1,check3'")
    args = parser.parse_args()
    task, store, preset = load_task(args.task), RunStore(), get_preset("quick")
    options = GenerationOptions(max_new_tokens=preset.max_new_tokens or 128, batch_size=20)
    program = resolve_program(task, "zero-shot", None)
    rows = []
    teacher = run_eval(
        task, model=args.teacher, program=program, limit=preset.test_limit, options=options
    )
    rows.append({"system": "teacher", **_quality(teacher)})
    for check, votes in VARIANTS:
        name = f"{'check' if check else 'nocheck'}{votes}"
        if args.variants != "all" and name not in args.variants.split(","):
            continue
        labels = label_split(
            task, teacher=args.teacher, program=program, votes=votes, filtered=check, store=store
        )
        folder = store.root / ".derived" / f"{labels.run_id}-{name}"  # one run, two filters
        if not (folder / "task.yaml").is_file():
            write_labelled_task(labels, folder, source_task=task, min_kept=16)
        tuned = run_finetune(load_task(folder), model=args.model, config=preset.finetune)
        student = run_eval(
            task,
            model=tuned_backend(tuned.run_id, args.model, store),
            prompt_file=program_path_for_run(tuned.run_id, store),
            limit=preset.test_limit,
            options=options,
        )
        rows.append(
            {
                "system": f"student ({name})",
                **_quality(student),
                "kept": f"{labels.kept}/{labels.total}",
                "dropped": dict(labels.dropped),
                "teacher_tokens": labels.prompt_tokens + labels.completion_tokens,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(rows, indent=2))


def _quality(outcome) -> dict:  # type: ignore[no-untyped-def]
    s = outcome.summary
    return {"quality": s.quality, "ci": [s.ci_low, s.ci_high], "n": s.n, "run": outcome.run_id}


if __name__ == "__main__":
    main()
