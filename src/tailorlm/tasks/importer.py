"""`tailor data import`: turn a user's CSV, JSONL or Parquet file into a task folder's rows.

Chosen columns become the input fields and the output; every other column is kept in the row's
`meta` (so `tailor data split --group-by` can use it). Bad data stops the import with one error
naming the file, line (row, for Parquet) and column: a missing column, an empty cell, a column
that mixes numbers and text, a file that is not UTF-8. The task folder is changed all at once,
or not at all."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.errors import ConfigError, DataError
from tailorlm.tasks.folder import staged_folder, write_jsonl
from tailorlm.tasks.loader import did_you_mean, display_path
from tailorlm.tasks.readers import Table, read_table
from tailorlm.tasks.splitting import POOL_FILE, SplitResult, SplitSpec, write_splits
from tailorlm.tasks.validate import read_config

_MIXED_SHARE = 0.8  # a text column that is this numeric is a number column with typos
_MIXED_MIN = 5
_LABEL_METRICS = ("classification",)


@dataclass(frozen=True)
class ImportResult:
    root: Path
    rows: int
    skipped: int  # rows with an empty input/output cell, dropped by skip_empty
    split: SplitResult | None


def import_data(
    file: str | Path,
    *,
    inputs: list[str],
    output: str,
    task: str | Path,
    task_type: str = "generation",
    skip_empty: bool = False,
    allow_mixed: bool = False,
    split: SplitSpec | None = None,
) -> ImportResult:
    """Write `file`'s rows to `task`/data.jsonl and (unless `split` is None) make the splits.

    A folder without task.yaml gets a new one of `task_type`; an existing task.yaml keeps its
    settings but takes the new input fields (and, for classification, the labels found)."""
    _check_columns_arg(inputs, output)
    if split is not None:
        split.check()
    table = read_table(Path(file))
    _require_columns(table, [*inputs, output])
    if not allow_mixed:
        _check_types(table, [*inputs, output])
    rows, skipped = _convert(table, inputs, output, skip_empty)
    if not rows:
        raise DataError("no rows left to import", path=display_path(table.path))
    root = Path(task).expanduser()
    with staged_folder(root, copy_existing=True) as stage:
        outputs = [r["output"] for r in rows]
        _write_config(stage, root.name, task_type, inputs, outputs, table.path.name)
        write_jsonl(stage / POOL_FILE, rows)
        result = write_splits(stage, list(enumerate(rows, 1)), split) if split else None
    return ImportResult(root, len(rows), skipped, result)


def read_inputs(
    file: str | Path, *, inputs: list[str], skip_empty: bool = False, allow_mixed: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """`file`'s rows as unlabelled task rows (`id`, `input`, `meta`: no `output`), checked as
    `import_data` checks them; also the number of rows skipped for an empty input cell."""
    _check_columns_arg(inputs, None)
    table = read_table(Path(file))
    _require_columns(table, inputs)
    if not allow_mixed:
        _check_types(table, inputs)
    rows, skipped = _convert(table, inputs, None, skip_empty)
    if not rows:
        raise DataError("no rows left to label", path=display_path(table.path))
    return rows, skipped


def _check_columns_arg(inputs: list[str], output: str | None) -> None:
    if not inputs or any(not c.strip() for c in inputs):
        raise ConfigError("--input needs at least one column name", hint="e.g. --input question")
    if output in inputs:
        raise ConfigError(f"column '{output}' is both --input and --output")
    if len(set(inputs)) != len(inputs):
        raise ConfigError("--input names a column twice")


def _require_columns(table: Table, wanted: list[str]) -> None:
    for column in wanted:
        if column not in table.columns:
            hint = did_you_mean(column, table.columns).replace("allowed keys", "columns")
            raise DataError(
                "missing column",
                path=display_path(table.path),
                line=table.header_line,
                field=column,
                hint=hint,
            )


# ---------------------------------------------------------------------------- cells


def _kind(value: Any, from_text: bool) -> str:
    if from_text:
        return "number" if _NUMBER.fullmatch(value.strip()) else "text"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _check_types(table: Table, columns: list[str]) -> None:
    """DataError at the first cell whose type breaks its column's.

    Typed sources (JSONL, Parquet) must be consistent. CSV cells are all text, so there a
    column counts as numeric when most of its cells are, and a text cell in it is flagged."""
    for column in columns:
        cells = [(ln, r[column]) for ln, r in table.rows if not _is_empty(r.get(column))]
        _check_kinds(table, column, [(ln, v, _kind(v, table.text_cells)) for ln, v in cells])


def _check_kinds(table: Table, column: str, found: list[tuple[int, Any, str]]) -> None:
    where = display_path(table.path)
    for line, _, kind in found:
        if kind not in ("text", "number", "boolean"):
            raise DataError(
                f"a {kind} cell; expected text or a number",
                path=where,
                line=line,
                field=column,
                hint="flatten it into a text column first",
            )
    counts: dict[str, int] = {}
    for _, _, kind in found:
        counts[kind] = counts.get(kind, 0) + 1
    if len(counts) < 2:
        return
    if table.text_cells:
        numbers = counts.get("number", 0)
        if numbers < _MIXED_MIN or numbers < _MIXED_SHARE * len(found):
            return  # free text that happens to hold some numbers
        line, value, _ = next(f for f in found if f[2] == "text")
        first = next(f for f in found if f[2] == "number")[0]
        message = f"mixed types: text {value!r} in a column of numbers (as on line {first})"
    else:
        line, value, kind = next(f for f in found if f[2] != found[0][2])
        first, first_kind = found[0][0], found[0][2]
        message = f"mixed types: {kind} {value!r} where line {first} has a {first_kind}"
    raise DataError(
        message,
        path=where,
        line=line,
        field=column,
        hint="fix the cell, or pass --allow-mixed to read every cell as text",
    )


def as_text(value: Any) -> str:
    """A cell as the text a model reads: 3.0 -> "3", True -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _convert(
    table: Table, inputs: list[str], output: str | None, skip_empty: bool
) -> tuple[list[dict[str, Any]], int]:
    rows, skipped, ids = [], 0, set[str]()
    wanted = [*inputs, output] if output is not None else inputs
    for line, record in table.rows:
        empty = next((c for c in wanted if _is_empty(record.get(c))), None)
        if empty is not None:
            if skip_empty:
                skipped += 1
                continue
            what = "empty cell" if empty in record else "missing"
            raise DataError(
                what,
                path=display_path(table.path),
                line=line,
                field=empty,
                hint="fill it, or pass --skip-empty to drop such rows",
            )
        row = _row(record, line, inputs, output)
        if row["id"] in ids:
            raise DataError(
                f"id '{row['id']}' repeats an earlier row",
                field="id",
                line=line,
                path=display_path(table.path),
            )
        ids.add(row["id"])
        rows.append(row)
    return rows, skipped


def _row(
    record: dict[str, Any], line: int, inputs: list[str], output: str | None
) -> dict[str, Any]:
    used = {*inputs, output, "id"}
    meta = {k: _plain(v) for k, v in record.items() if k not in used and not _is_empty(v)}
    row: dict[str, Any] = {
        "id": as_text(record["id"]) if not _is_empty(record.get("id")) else f"row-{line}",
        "input": {c: as_text(record[c]) for c in inputs},
    }
    if output is not None:
        row["output"] = as_text(record[output])
    if meta:
        row["meta"] = meta
    return row


def _plain(value: Any) -> Any:
    # Kept columns go to JSON: anything that is not a JSON scalar is stored as its text.
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ---------------------------------------------------------------------------- task.yaml


def _write_config(
    stage: Path, name: str, task_type: str, inputs: list[str], outputs: list[str], source: str
) -> None:
    from tailorlm.tasks.scaffold import TASK_TYPES, task_yaml

    path = stage / "task.yaml"
    labels = sorted(set(outputs))
    if not path.is_file():
        if task_type not in TASK_TYPES:
            raise ConfigError(
                f"unknown task type '{task_type}'", hint=f"choose one of: {', '.join(TASK_TYPES)}"
            )
        if task_type == "sql":
            raise ConfigError(
                "a new SQL task needs its database",
                hint="start with `tailor init NAME --type sql` (then put your "
                "database in resources.db) or `tailor data synth-sql`",
            )
        extra: dict[str, Any] = {"labels": labels} if task_type == "classification" else {}
        extra["description"] = f"Imported from {source}; describe the task here."
        path.write_text(task_yaml(name, task_type, input_fields=inputs, **extra), "utf-8")
        return
    config = read_config(stage)
    text = _set_line(path.read_text("utf-8"), "input_fields", inputs)
    if config.metric in _LABEL_METRICS or config.labels is not None:
        text = _set_line(text, "labels", labels)
    path.write_text(text, encoding="utf-8")


def _set_line(text: str, key: str, values: list[str]) -> str:
    """Replace (or append) a top-level `key: [...]` line, keeping the user's comments."""
    import json

    import yaml

    line = f"{key}: {json.dumps(values, ensure_ascii=False)}"
    pattern = re.compile(rf"^{key}:[^\n]*(\n[ \t]+-[^\n]*)*", re.MULTILINE)
    new, count = pattern.subn(lambda _: line, text, count=1)
    if count == 0:
        new = text.rstrip("\n") + "\n" + line + "\n"
    if yaml.safe_load(new).get(key) != values:  # an unusual layout: rewrite, losing comments
        data = yaml.safe_load(text)
        data[key] = values
        new = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return new
