"""Checking a task folder: task.yaml, then what needs the whole task at once (metric name,
resource files, SQLite databases, missing splits, duplicate inputs, train/test overlap) on top of
loader.py's rows.

`validate_task` collects every problem for `tailor data validate`; `load_task` runs the same
checks and raises the first, so a task that loads is a task that validates. The entry points
that read task.yaml live here rather than in loader.py because loader.py is the layer these
checks are built on: it parses rows for a config it is given."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tailorlm.config import SYSTEMS_FILE, BroughtSystem, TaskConfig
from tailorlm.errors import ConfigError, DataError, TailorError
from tailorlm.tasks.loader import (
    MAX_ERRORS,
    SPLITS,
    ParsedSplit,
    Task,
    builtin_roots,
    did_you_mean,
    display_path,
    json_type,
    read_split,
    resolve_task,
    split_exists,
)
from tailorlm.types import Example

log = logging.getLogger(__name__)

# A resource is a database when its key is `db` (the one metrics and prompts default to) or its
# file has one of these suffixes; a row's `db` always names one.
_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_OPTIONAL_SPLITS = {
    "train": "fine-tuning and few-shot prompting need train examples",
    "dev": "prompt search and early stopping need dev examples",
}


@dataclass(frozen=True)
class ValidationReport:
    """Everything `tailor data validate` shows. `errors` hold ConfigError (task.yaml) and
    DataError (rows); `overlap` counts test rows whose input also appears in train or dev."""

    errors: list[TailorError]
    warnings: list[str]
    counts: dict[str, int]
    duplicates: dict[str, int]
    overlap: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Inspection:
    report: ValidationReport
    config: TaskConfig | None
    splits: dict[str, list[Example]]


def validate_task(path: str | Path, *, allow_overlap: bool = False) -> ValidationReport:
    """Check a task folder (or built-in name) and report all problems, up to MAX_ERRORS."""
    root, _ = resolve_task(path)
    return _inspect(root, allow_overlap).report


def load_task(name_or_path: str | Path, *, allow_overlap: bool = False) -> Task:
    """Find, check and return a task; raises the first ConfigError/DataError found."""
    root, builtin = resolve_task(name_or_path)
    found = _inspect(root, allow_overlap)
    if found.report.errors or found.config is None:
        raise found.report.errors[0]
    for warning in found.report.warnings:
        log.warning(warning)
    # The splits were parsed for checking; hand them over so they are not read twice.
    return Task(found.config, root, builtin, _cache=found.splits)


def list_builtin_tasks() -> list[Task]:
    """Built-in tasks, by name; their rows are read on first use (tests keep them valid)."""
    return [Task(read_config(root), root, True) for root in builtin_roots()]


def _inspect(root: Path, allow_overlap: bool) -> _Inspection:
    config, config_errors = check_config(root)
    if config is None:
        return _Inspection(ValidationReport(list(config_errors), [], {}, {}, {}), None, {})
    errors: list[TailorError] = [
        *_metric_errors(config, root),
        *_resource_errors(config, root),
        *check_systems(root)[1],
    ]
    warnings: list[str] = []
    # One past the cap, so the report can tell "exactly 50" from "50 and more".
    parsed = {s: read_split(root, config, s, max_errors=MAX_ERRORS + 1) for s in SPLITS}
    for split, rows in parsed.items():
        _split_problems(root, split, rows, errors, warnings)
    errors.extend(_database_errors(config, root, parsed))
    duplicates = _duplicates(parsed, config.input_fields, warnings)
    overlap = _overlap(parsed, config.input_fields, allow_overlap, errors, warnings)
    if len(errors) > MAX_ERRORS:
        warnings.append(f"stopped after {MAX_ERRORS} errors; fix these and validate again")
        errors = errors[:MAX_ERRORS]
    counts = {s: len(p.examples) for s, p in parsed.items() if p.path is not None}
    report = ValidationReport(errors, warnings, counts, duplicates, overlap)
    return _Inspection(report, config, {s: p.examples for s, p in parsed.items() if not p.errors})


# ---------------------------------------------------------------------------- task.yaml


def config_error(
    path: Path,
    message: str,
    *,
    field: str | None = None,
    line: int | None = None,
    hint: str | None = None,
) -> ConfigError:
    # Same "file:line: field 'x': ..." shape as DataError, so the CLI output reads alike.
    where = ":".join(str(p) for p in (display_path(path), line) if p is not None)
    field_part = f"field '{field}': " if field else ""
    return ConfigError(f"{where}: {field_part}{message}", hint=hint)


def check_config(root: Path) -> tuple[TaskConfig | None, list[ConfigError]]:
    """Parse `root/task.yaml`; on failure return every problem pydantic found, not just one."""
    path = root / "task.yaml"
    if not path.is_file():
        hint = "every task folder needs a task.yaml with at least `name` and `metric`"
        return None, [config_error(path, "file not found", hint=hint)]
    data, error = _read_yaml(path)
    if error is not None:
        return None, [error]
    try:
        config = TaskConfig.model_validate(data)
    except ValidationError as exc:
        return None, [_pydantic_error(path, err) for err in exc.errors()]
    if not config.input_fields:
        return None, [config_error(path, "must name at least one field", field="input_fields")]
    return config, []


def check_systems(root: Path) -> tuple[list[BroughtSystem], list[ConfigError]]:
    """Parse `root/systems.yaml` (absent: no brought systems): every problem, each naming the
    file, the entry and the field."""
    path = root / SYSTEMS_FILE
    if not path.is_file():
        return [], []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return [], [config_error(path, f"not valid YAML: {exc}", line=line)]
    if data is None:
        return [], []
    if not isinstance(data, list):
        hint = "a list of systems, each starting `- id: ...` (see README: Compare)"
        return [], [config_error(path, f"must be a list, found {json_type(data)}", hint=hint)]
    found: list[tuple[int, BroughtSystem]] = []
    errors: list[ConfigError] = []
    for i, entry in enumerate(data):
        try:
            found.append((i, BroughtSystem.model_validate(entry)))
        except ValidationError as exc:
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "entry"
                allowed = list(BroughtSystem.model_fields)
                unknown = err["type"] == "extra_forbidden"
                fix = did_you_mean(name, allowed) if unknown else None
                msg = "unknown key" if unknown else err["msg"]
                errors.append(config_error(path, msg, field=f"[{i}].{name}", hint=fix))
    ids = [s.id for _, s in found]
    for sid in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(config_error(path, f"id '{sid}' is used twice", field="id"))
    for i, system in found:
        if system.prompt is not None and not (root / system.prompt).is_file():
            msg = f"file not found: {system.prompt}"
            errors.append(config_error(path, msg, field=f"[{i}].prompt"))
    systems = [s for _, s in found]
    return (systems if not errors else []), errors


def read_systems(root: Path) -> list[BroughtSystem]:
    systems, errors = check_systems(root)
    if errors:
        raise errors[0]
    return systems


def read_config(root: Path) -> TaskConfig:
    config, errors = check_config(root)
    if config is None:
        raise errors[0]
    return config


def _read_yaml(path: Path) -> tuple[Any, ConfigError | None]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return None, config_error(path, f"not valid UTF-8 ({exc.reason})", hint="save as UTF-8")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, config_error(path, f"not valid YAML: {problem}", line=line)
    if not isinstance(data, dict):
        msg = f"must be a mapping of keys to values, found {json_type(data)}"
        return None, config_error(path, msg, hint="start with `name: my-task` on its own line")
    return data, None


def _pydantic_error(path: Path, err: Mapping[str, Any]) -> ConfigError:
    name = ".".join(str(p) for p in err["loc"])
    allowed = list(TaskConfig.model_fields)
    if err["type"] == "extra_forbidden":
        return config_error(path, "unknown key", field=name, hint=did_you_mean(name, allowed))
    if err["type"] == "missing":
        info = TaskConfig.model_fields.get(name)
        hint = f"add `{name}:` - {info.description}" if info and info.description else None
        return config_error(path, "missing required key", field=name, hint=hint)
    found = json.dumps(err.get("input"), default=str)[:60]
    return config_error(path, f"{err['msg']} (found {found})", field=name)


# ---------------------------------------------------------------------------- whole-task checks


def _metric_errors(config: TaskConfig, root: Path) -> list[TailorError]:
    from tailorlm.metrics import METRIC_NAMES  # the registry (metrics/ never imports tasks/)

    if config.metric in METRIC_NAMES:
        return []
    hint = f"known metrics: {', '.join(sorted(METRIC_NAMES))}"
    msg = f"unknown metric '{config.metric}'"
    return [config_error(root / "task.yaml", msg, field="metric", hint=hint)]


def _resource_errors(config: TaskConfig, root: Path) -> list[TailorError]:
    errors: list[TailorError] = []
    for key, rel in config.resources.items():
        if not (root / rel).is_file():
            msg = f"file not found: {display_path(root / rel)}"
            hint = "resource paths are relative to the task folder"
            errors.append(
                config_error(root / "task.yaml", msg, field=f"resources.{key}", hint=hint)
            )
    return errors


_DB_FIX = "replace it with the task's SQLite database (`sqlite3 FILE .tables` lists its tables)"


def _database_errors(
    config: TaskConfig, root: Path, parsed: Mapping[str, ParsedSplit]
) -> list[TailorError]:
    """Each database a task with SQL answers reads (its database resources, then each other
    one its rows name), opened once: a file that is not SQLite would otherwise only show up
    when the gold query fails, after the model has loaded."""
    if config.output_type != "sql" and config.metric != "sql_execution":
        return []  # nothing reads them: no schema in prompts, no queries to execute
    errors: list[TailorError] = []
    checked: set[Path] = set()
    for key, rel in config.resources.items():
        path = root / rel
        if not path.is_file() or not _is_database(key, path):
            continue
        checked.add(path.resolve())
        if problem := sqlite_problem(path):
            hint = f"task.yaml `resources.{key}` names this file: {_DB_FIX}"
            errors.append(DataError(problem, path=display_path(path), hint=hint))
    return errors + _row_database_errors(config, root, parsed, checked)


def _is_database(key: str, path: Path) -> bool:
    return key == "db" or path.suffix.lower() in _DB_SUFFIXES


def sqlite_problem(path: Path) -> str | None:
    """Why `path` is not a usable SQLite database (None: it is one, with a table). Opened
    read-only, so checking a task never changes its files."""
    uri = f"{path.resolve().as_uri()}?mode=ro"  # as_uri: '?', '#' and spaces are escaped
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            (tables,) = conn.execute(query).fetchone()
    except sqlite3.DatabaseError as exc:
        return f"not a SQLite database ({exc})"
    return None if tables else "a SQLite database without tables"


def _row_database_errors(
    config: TaskConfig, root: Path, parsed: Mapping[str, ParsedSplit], checked: set[Path]
) -> list[TailorError]:
    """Each database the rows name (`db`) and `checked` does not hold, at the first row
    naming it."""
    errors: list[TailorError] = []
    hint = f"point the row's `db` at a resource key or another file, or {_DB_FIX}"
    for rows in parsed.values():
        for example, line in zip(rows.examples, rows.lines, strict=True):
            db = _row_db(example, config, root)
            if db is None or db in checked:
                continue
            checked.add(db)
            if problem := sqlite_problem(db):
                message = f"{display_path(db)} is {problem}"
                where = display_path(rows.path) if rows.path else None
                errors.append(DataError(message, path=where, line=line, field="db", hint=hint))
    return errors


def _row_db(example: Example, config: TaskConfig, root: Path) -> Path | None:
    """The row's database file (a resource key or a path, as the loader resolves `db`); None
    when it names none that exists (the loader and the metric report those)."""
    name = example.meta.get("db")
    if name is None:
        return None
    path = root / config.resources.get(str(name), str(name))
    return path.resolve() if path.is_file() else None


def _split_problems(
    root: Path, split: str, rows: ParsedSplit, errors: list[TailorError], warnings: list[str]
) -> None:
    # Only the test split is required: every comparison is scored on it.
    if split in _OPTIONAL_SPLITS and not split_exists(root, split):
        warnings.append(f"{display_path(root)}: no {split} split; {_OPTIONAL_SPLITS[split]}")
        return
    errors.extend(rows.errors)


# ---------------------------------------------------------------------------- repeated inputs


def _normalize(value: Any) -> Any:
    # Case and spacing differences do not make a question new to the model.
    if isinstance(value, str):
        return " ".join(value.lower().split())
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def input_key(example: Example, fields: list[str]) -> str:
    """What makes two rows 'the same question': input fields, database and prompt turns."""
    inputs = {f: _normalize(example.inputs.get(f)) for f in fields}
    turns = [_normalize(m["content"]) for m in example.messages or ()]
    return json.dumps([inputs, example.meta.get("db"), turns], sort_keys=True, default=str)


def _first_lines(rows: ParsedSplit, fields: list[str]) -> dict[str, int]:
    first: dict[str, int] = {}
    for example, line in zip(rows.examples, rows.lines, strict=True):
        first.setdefault(input_key(example, fields), line)
    return first


def _duplicates(
    parsed: dict[str, ParsedSplit], fields: list[str], warnings: list[str]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for split, rows in parsed.items():
        if rows.path is None:
            continue
        first = _first_lines(rows, fields)
        repeats = [
            (line, first[key])
            for example, line in zip(rows.examples, rows.lines, strict=True)
            if first[(key := input_key(example, fields))] != line
        ]
        counts[split] = len(repeats)
        if repeats:
            where = f"line {repeats[0][0]} repeats line {repeats[0][1]}"
            warnings.append(
                f"{display_path(rows.path)}: {len(repeats)} rows repeat an earlier input "
                f"(first: {where}); repeats weigh those questions more in training and scoring"
            )
    return counts


def _overlap(
    parsed: dict[str, ParsedSplit],
    fields: list[str],
    allow_overlap: bool,
    errors: list[TailorError],
    warnings: list[str],
) -> dict[str, int]:
    """Test rows whose input is also in train/dev: a model that memorised them scores too high."""
    test, overlap = parsed["test"], {}
    for other in ("train", "dev"):
        rows = parsed[other]
        if rows.path is None or test.path is None:
            continue
        seen = _first_lines(rows, fields)
        hits = [
            (line, seen[key])
            for example, line in zip(test.examples, test.lines, strict=True)
            if (key := input_key(example, fields)) in seen
        ]
        overlap[f"{other}/test"] = len(hits)
        if hits:
            _report_overlap(test.path, rows.path, hits, allow_overlap, errors, warnings)
    return overlap


def _report_overlap(
    test_path: Path,
    other_path: Path,
    hits: list[tuple[int, int]],
    allow_overlap: bool,
    errors: list[TailorError],
    warnings: list[str],
) -> None:
    other = other_path.stem
    first = f"first: line {hits[0][0]} = {display_path(other_path)}:{hits[0][1]}"
    message = f"{len(hits)} test rows have the same input as a {other} row ({first})"
    if allow_overlap:
        warnings.append(f"{display_path(test_path)}: {message}")
        return
    hint = f"remove them from test or from {other}, or allow it (allow_overlap / --allow-overlap)"
    path = display_path(test_path)
    errors.append(DataError(message, path=path, line=hits[0][0], field="input", hint=hint))


# ---------------------------------------------------------------------------- statistics


def task_stats(task: Task, tokenize: Callable[[str], int] | None = None) -> dict[str, Any]:
    """Per split: rows, input/output length spreads (chars, and tokens when `tokenize` counts
    them) and, for label-like outputs, how often each output occurs."""
    return {split: _split_stats(task, split, tokenize) for split in task.available_splits()}


def _split_stats(task: Task, split: str, tokenize: Callable[[str], int] | None) -> dict[str, Any]:
    examples = task.split(split)
    inputs = [_prompt_text(e) for e in examples]
    outputs = [e.output for e in examples]
    stats: dict[str, Any] = {
        "rows": len(examples),
        "input_chars": _spread([len(t) for t in inputs]),
        "output_chars": _spread([len(t) for t in outputs]),
    }
    if tokenize is not None:
        stats["input_tokens"] = _spread([tokenize(t) for t in inputs])
        stats["output_tokens"] = _spread([tokenize(t) for t in outputs])
    labels = _label_counts(task.config, outputs)
    if labels is not None:
        stats["labels"] = labels
    return stats


def _prompt_text(example: Example) -> str:
    if example.messages:
        return "\n".join(m["content"] for m in example.messages)
    return "\n".join(str(v) for v in example.inputs.values())


def _label_counts(config: TaskConfig, outputs: list[str]) -> dict[str, int] | None:
    counts = Counter(outputs)
    if config.labels:
        return {label: counts.get(label, 0) for label in config.labels}
    # Few distinct outputs means a classification in all but name: balance matters then too.
    if config.output_type == "label" or len(counts) <= min(20, len(outputs) // 2):
        return dict(counts.most_common())
    return None


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "p95": 0, "max": 0}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest-rank percentile
    mean = round(sum(ordered) / len(ordered), 1)
    return {"min": ordered[0], "mean": mean, "p95": p95, "max": ordered[-1]}
