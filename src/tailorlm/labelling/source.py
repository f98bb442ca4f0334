"""What a `tailor data label` command labels (files or a task's inputs, for which task), and
writing the kept rows as a task folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.errors import DataError, TailorError
from tailorlm.labelling.run import LabelOutcome, check_kept
from tailorlm.tasks import Task, load_task
from tailorlm.tasks.labelled import LabelledTask, write_labelled
from tailorlm.tasks.splitting import SplitSpec
from tailorlm.types import Example


@dataclass(frozen=True)
class LabelSource:
    """What a `tailor data label` command labels, and for which task."""

    task: Task  # its settings, resources and demos drive the teacher's prompt and the checks
    inputs: list[Example]
    source_task: Task | None = None  # the task the written folder copies
    config_text: str | None = None  # task.yaml of a new folder
    skipped: int = 0  # input rows with an empty cell, dropped by skip_empty


def label_source(
    files: Sequence[str | Path],
    *,
    out_dir: str | Path,
    from_task: str | Path | None = None,
    input_fields: list[str] | None = None,
    task_type: str | None = None,
    metric: str | None = None,
    labels: list[str] | None = None,
    skip_empty: bool = False,
    allow_mixed: bool = False,
) -> LabelSource:
    """The task and inputs of a labelling: `files` (CSV, JSONL, Parquet, read as `tailor data
    import` reads them) or else `from_task`'s train inputs. The task is `from_task`, else the
    task in `out_dir`, else a new one of `task_type` (as `tailor init` makes it)."""
    target = Path(out_dir).expanduser()
    source, config_text = None, None
    has_config = (target / "task.yaml").is_file()
    if (from_task is not None or has_config) and (task_type or metric or labels):
        raise TailorError(
            "--type, --metric and --labels describe a new task, but "
            + ("--from-task names one" if from_task is not None else f"{target} has a task.yaml"),
            hint="drop them (edit task.yaml to change the task), or label into a new folder",
        )
    if from_task is not None:
        task = source = load_task(from_task)
    elif has_config:
        task = load_task(target)
    else:
        task, config_text = _new_task(target, task_type, input_fields, metric, labels)
    if not files:
        if source is None:
            raise TailorError(
                "nothing to label",
                hint="name input files (CSV, JSONL or Parquet), or --from-task TASK to label "
                "that task's train inputs",
            )
        return LabelSource(task, source.split("train"), source)
    fields = input_fields or list(task.config.input_fields)
    _check_fields(fields, task)
    inputs, skipped = _read_files(files, fields, skip_empty, allow_mixed)
    return LabelSource(task, inputs, source, config_text, skipped)


def _new_task(
    target: Path,
    task_type: str | None,
    input_fields: list[str] | None,
    metric: str | None,
    labels: list[str] | None,
) -> tuple[Task, str]:
    import yaml

    from tailorlm.config import TaskConfig
    from tailorlm.metrics import get_metric
    from tailorlm.tasks.scaffold import TASK_TYPES, task_yaml

    task_type = task_type or "generation"
    if task_type == "sql":
        raise TailorError(
            "a new SQL task needs its database",
            hint="`tailor init DIR --type sql`, put your database in resources.db, then label "
            "into DIR",
        )
    if task_type not in TASK_TYPES:
        choices = ", ".join(t for t in TASK_TYPES if t != "sql")
        raise TailorError(f"unknown task type '{task_type}'", hint=f"choose one of: {choices}")
    if not input_fields:
        raise TailorError("--input names the input column(s) of a new task", hint="--input text")
    if (task_type == "classification") != bool(labels):
        raise TailorError(
            "--labels lists the allowed labels of a new classification task (and only of one)",
            hint="e.g. --type classification --labels billing,bug,feature_request",
        )
    overrides: dict[str, Any] = {"input_fields": input_fields, "labels": labels}
    overrides["description"] = "Labelled by a teacher model (`tailor data label`); describe it."
    if metric is not None:
        get_metric(metric)  # an unknown metric names the choices
        overrides["metric"] = metric
    text = task_yaml(target.name, task_type, **overrides)
    return Task(TaskConfig.model_validate(yaml.safe_load(text)), target.resolve()), text


def _check_fields(fields: list[str], task: Task) -> None:
    wanted = list(task.config.input_fields)
    if sorted(fields) != sorted(wanted):
        raise TailorError(
            f"--input {','.join(fields)} must name the task's input fields: {', '.join(wanted)}",
            hint="rename the file's columns to the task's input fields",
        )


def _read_files(
    files: Sequence[str | Path], fields: list[str], skip_empty: bool, allow_mixed: bool
) -> tuple[list[Example], int]:
    """Examples (no answer) from each file; ids get the file's name first when there are
    several, so `row-3` of two files stays two rows."""
    from tailorlm.tasks.importer import read_inputs

    inputs, skipped, seen = [], 0, set[str]()
    for file in files:
        rows, dropped = read_inputs(
            file, inputs=fields, skip_empty=skip_empty, allow_mixed=allow_mixed
        )
        skipped += dropped
        for row in rows:
            rid = f"{Path(file).stem}-{row['id']}" if len(files) > 1 else str(row["id"])
            if rid in seen:
                raise DataError(f"id '{rid}' repeats a row of another file", path=str(file))
            seen.add(rid)
            inputs.append(Example(rid, row["input"], "", meta=row.get("meta", {})))
    return inputs, skipped


def write_labelled_task(
    outcome: LabelOutcome,
    out_dir: str | Path,
    *,
    source_task: Task | None = None,
    config_text: str | None = None,
    split: SplitSpec | None = None,
    test_share: float = 0.0,
    min_kept: int = 1,
) -> LabelledTask:
    """The kept rows as the train/dev splits of the task folder `out_dir` (see
    tasks/labelled.py), refused with the drop counts when fewer than `min_kept` were kept."""
    check_kept(outcome, min_kept)
    return write_labelled(
        outcome.examples,
        out_dir,
        source=source_task.root if source_task is not None else None,
        config_text=config_text,
        spec=split,
        test_share=test_share,
        min_rows=min_kept,
        run_id=outcome.run_id,
    )
