"""Reading task folders: find one by name or path, parse its JSONL/CSV splits into Examples and
hold them in a `Task`.

task.yaml and the checks that need the whole task at once (metric names, resource files,
duplicates, train/test overlap) live in validate.py, which also holds `load_task`, the checked
entry point. validate.py imports this module, so this module must not import it."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailorlm.config import BroughtSystem, TaskConfig
from tailorlm.errors import DataError, TaskNotFoundError
from tailorlm.types import Example

BUILTIN_DIR = Path(__file__).parent / "builtin"
SPLITS = ("train", "dev", "test")
MAX_ERRORS = 50
ROLES = ("system", "user", "assistant")
_ROW_KEYS = ("input", "output", "id", "db", "meta")
_CHAT_KEYS = ("messages", "id", "db", "meta")
_CSV_RESERVED = ("output", "id", "db")
_ROW_HINT = 'each line is {"input": ..., "output": "..."} or {"messages": [...]}'


# ---------------------------------------------------------------------------- finding a task


def resolve_task(name_or_path: str | Path) -> tuple[Path, bool]:
    """Return (absolute task folder, is_builtin). Anything path-like addresses the user's folder."""
    text = str(name_or_path)
    if _looks_like_path(name_or_path):
        root = Path(text).expanduser()
        if root.is_file() and root.name == "task.yaml":
            root = root.parent
        if not root.is_dir():
            raise TaskNotFoundError(f"No task folder '{text}'", hint=_not_found_hint())
        return root.resolve(), False
    root = BUILTIN_DIR / text
    if (root / "task.yaml").is_file():
        return root.resolve(), True
    raise TaskNotFoundError(f"No task '{text}'", hint=_not_found_hint())


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    separators = [s for s in (os.sep, os.altsep, "/") if s]
    return (
        isinstance(name_or_path, Path) or any(s in text for s in separators) or Path(text).is_dir()
    )


def builtin_roots() -> list[Path]:
    """Built-in task folders, sorted by name; a folder without task.yaml is not a task."""
    if not BUILTIN_DIR.is_dir():
        return []
    return sorted(p.resolve() for p in BUILTIN_DIR.iterdir() if (p / "task.yaml").is_file())


def _not_found_hint() -> str:
    names = ", ".join(p.name for p in builtin_roots()) or "(none installed)"
    return f"built-in tasks: {names}; or pass a folder containing task.yaml"


def display_path(path: Path) -> str:
    """Relative to the working directory when below it: short enough to read in an error."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def did_you_mean(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    prefix = f"did you mean '{close[0]}'? " if close else ""
    return f"{prefix}allowed keys: {', '.join(allowed)}"


def json_type(value: object) -> str:
    """The JSON name of a value's type: users write JSON, so 'number' beats 'int'."""
    for types, name in _JSON_TYPES:
        if isinstance(value, types):
            return name
    return type(value).__name__


_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    ((int, float), "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


# ---------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class _Source:
    """Where rows come from: enough to build Examples and to point errors at file and line."""

    split: str
    path: Path
    config: TaskConfig
    root: Path

    def error(
        self, line: int | None, message: str, field: str | None = None, hint: str | None = None
    ) -> DataError:
        return DataError(message, path=display_path(self.path), line=line, field=field, hint=hint)


def parse_row(row: object, line: int, src: _Source) -> Example:
    """Turn one decoded row (JSONL object or CSV record) into an Example, or raise DataError."""
    if not isinstance(row, dict):
        raise src.error(line, f"expected a JSON object, found {json_type(row)}", hint=_ROW_HINT)
    if "messages" in row:
        _check_keys(row, _CHAT_KEYS, line, src)
        inputs, output, messages = _parse_chat(row["messages"], line, src)
    else:
        _check_keys(row, _ROW_KEYS, line, src)
        inputs, output, messages = _parse_input(row, line, src), _parse_output(row, line, src), None
    if src.config.labels is not None and output not in src.config.labels:
        allowed = ", ".join(src.config.labels)
        raise src.error(line, f"'{output}' is not one of the labels: {allowed}", "output")
    return Example(_row_id(row, line, src), inputs, output, messages, _row_meta(row, line, src))


def _check_keys(row: dict, allowed: tuple[str, ...], line: int, src: _Source) -> None:
    for key in row:
        if key not in allowed:
            hint = did_you_mean(key, list(allowed))
            if key in _ROW_KEYS + _CHAT_KEYS:
                hint = 'a row has either "input" and "output", or "messages" - not both'
            raise src.error(line, "unknown key", key, hint=hint)


def _parse_input(row: dict, line: int, src: _Source) -> dict[str, Any]:
    if "input" not in row:
        raise src.error(line, "missing", "input", hint=_ROW_HINT)
    value, fields = row["input"], src.config.input_fields
    if isinstance(value, str):
        if not value.strip():
            raise src.error(line, "is empty", "input")
        return {fields[0]: value}
    if not isinstance(value, dict):
        msg = f"must be a string or an object, found {json_type(value)}"
        raise src.error(line, msg, "input")
    for name in fields:
        if name not in value:
            hint = f"this task's input fields are: {', '.join(fields)}"
            raise src.error(line, "missing", f"input.{name}", hint=hint)
    return dict(value)


def _parse_output(row: dict, line: int, src: _Source) -> str:
    if "output" not in row:
        raise src.error(line, "missing", "output", hint=_ROW_HINT)
    return _text(row["output"], line, src, "output")


def _text(value: object, line: int, src: _Source, name: str) -> str:
    if not isinstance(value, str):
        found = f"{json_type(value)} {json.dumps(value, default=str)[:40]}"
        raise src.error(line, f"must be a string, found {found}", name, hint="quote the value")
    if not value.strip():
        raise src.error(line, "is empty", name)
    return value


def _parse_chat(
    messages: object, line: int, src: _Source
) -> tuple[dict[str, Any], str, tuple[dict[str, str], ...]]:
    if not isinstance(messages, list) or not messages:
        msg = f"must be a non-empty array of messages, found {json_type(messages)}"
        raise src.error(line, msg, "messages")
    turns = [_chat_turn(m, i, line, src) for i, m in enumerate(messages)]
    if turns[-1]["role"] != "assistant":
        hint = "the last message is the answer to learn: role 'assistant'"
        raise src.error(line, "last message must be from the assistant", "messages", hint=hint)
    users = [t["content"] for t in turns[:-1] if t["role"] == "user"]
    if not users:
        raise src.error(line, "needs at least one user message", "messages")
    inputs = {src.config.input_fields[0]: users[-1]}
    return inputs, turns[-1]["content"], tuple(turns[:-1])


def _chat_turn(message: object, index: int, line: int, src: _Source) -> dict[str, str]:
    name = f"messages[{index}]"
    if not isinstance(message, dict):
        raise src.error(line, f"must be an object, found {json_type(message)}", name)
    role = message.get("role")
    if role not in ROLES:
        found = json.dumps(role, default=str)
        raise src.error(line, f"must be one of {', '.join(ROLES)}, found {found}", f"{name}.role")
    if "content" not in message:
        raise src.error(line, "missing", f"{name}.content")
    return {"role": role, "content": _text(message["content"], line, src, f"{name}.content")}


def _row_id(row: dict, line: int, src: _Source) -> str:
    value = row.get("id")
    if value is None:
        return f"{src.split}-{line}"
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise src.error(line, f"must be a non-empty string, found {json_type(value)}", "id")
    return str(value)


def _row_meta(row: dict, line: int, src: _Source) -> dict[str, Any]:
    meta = row.get("meta", {})
    if not isinstance(meta, dict):
        raise src.error(line, f"must be an object, found {json_type(meta)}", "meta")
    meta = dict(meta)
    if "db" in row:
        meta["db"] = str(_resolve_db(row["db"], line, src))
    return meta


def _resolve_db(value: object, line: int, src: _Source) -> Path:
    if not isinstance(value, str) or not value:
        raise src.error(line, f"must be a non-empty string, found {json_type(value)}", "db")
    path = src.root / src.config.resources.get(value, value)
    if not path.is_file():
        keys = ", ".join(src.config.resources) or "none"
        hint = f"name a key of task.yaml `resources` ({keys}) or a file relative to the task folder"
        raise src.error(line, f"database file not found: {display_path(path)}", "db", hint=hint)
    return path.resolve()


# ---------------------------------------------------------------------------- files


# Row readers yield (1-based line, decoded row) pairs; a line that cannot be decoded yields its
# DataError in place of the row, so one bad line does not hide the problems after it.
Item = tuple[int, object]


def _jsonl_items(src: _Source) -> Iterator[Item]:
    with src.path.open("rb") as f:
        for line, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as exc:
                yield line, src.error(line, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if text.strip():
                yield line, _json_value(text, line, src)


def _json_value(text: str, line: int, src: _Source) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "one complete JSON object per line; check quotes and commas"
        return src.error(line, f"invalid JSON: {exc.msg} (col {exc.colno})", hint=hint)


def _csv_items(src: _Source) -> Iterator[Item]:
    data = src.path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        yield line, src.error(line, f"not valid UTF-8 ({exc.reason})", hint="save as UTF-8")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    header_error = _csv_header_error(columns, src)
    if header_error is not None:
        yield 1, header_error
        return
    for record in reader:
        # line_num is where the record ends: where it starts too, unless a quoted cell spans lines.
        yield reader.line_num, _csv_row(record, columns, reader.line_num, src)


def _csv_header_error(columns: list[str], src: _Source) -> DataError | None:
    if not columns:
        return None  # empty file: reported as "no rows" by the caller
    fields = src.config.input_fields
    if "output" not in columns:
        return src.error(1, "missing column", "output", hint="add an `output` column")
    if all(f in columns for f in fields):
        return None
    if "input" not in columns:
        hint = f"name columns `input` or {', '.join(fields)}, plus `output`"
        return src.error(1, "missing column", "input", hint=hint)
    extra = [c for c in columns if c not in (*_CSV_RESERVED, "input")]
    if extra:
        return src.error(1, "unknown column", extra[0], hint=did_you_mean(extra[0], fields))
    return None


def _csv_row(record: dict, columns: list[str], line: int, src: _Source) -> object:
    if None in record or None in record.values():
        return src.error(line, f"expected {len(columns)} values, as in the header row")
    if all(f in columns for f in src.config.input_fields):
        row: dict[str, Any] = {"input": {c: record[c] for c in columns if c not in _CSV_RESERVED}}
    else:
        row = {"input": record["input"]}
    row["output"] = record["output"]
    row.update({k: record[k] for k in ("id", "db") if record.get(k)})
    return row


# ---------------------------------------------------------------------------- splits


@dataclass
class ParsedSplit:
    """A split's rows and the problems found; `lines[i]` is where `examples[i]` came from."""

    path: Path | None
    examples: list[Example] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)


def split_exists(root: Path, split: str) -> bool:
    return any((root / f"{split}.{ext}").is_file() for ext in ("jsonl", "csv"))


def split_file(root: Path, split: str) -> Path | None:
    """The split's data file, or None. Both JSONL and CSV is an error: which one is meant?"""
    found = [
        root / f"{split}.{ext}" for ext in ("jsonl", "csv") if (root / f"{split}.{ext}").is_file()
    ]
    if len(found) > 1:
        raise DataError(
            f"both {split}.jsonl and {split}.csv exist",
            path=display_path(root),
            hint="keep one of them",
        )
    return found[0] if found else None


def read_split(
    root: Path, config: TaskConfig, split: str, *, max_errors: int = MAX_ERRORS
) -> ParsedSplit:
    """Parse every row, collecting up to `max_errors` problems instead of stopping at one."""
    try:
        path = split_file(root, split)
    except DataError as exc:
        return ParsedSplit(None, errors=[exc])
    if path is None:
        return ParsedSplit(None, errors=[_missing_split(root, split)])
    src = _Source(split, path, config, root)
    parsed, ids = ParsedSplit(path), set[str]()
    items = _csv_items(src) if path.suffix == ".csv" else _jsonl_items(src)
    for line, item in items:
        _add_row(parsed, ids, line, item, src)
        if len(parsed.errors) >= max_errors:
            break
    if not parsed.examples and not parsed.errors:
        parsed.errors.append(src.error(None, "no rows", hint=f"add examples: {_ROW_HINT}"))
    return parsed


def _add_row(parsed: ParsedSplit, ids: set[str], line: int, item: object, src: _Source) -> None:
    if isinstance(item, DataError):
        parsed.errors.append(item)
        return
    try:
        example = parse_row(item, line, src)
    except DataError as exc:
        parsed.errors.append(exc)
        return
    if example.id in ids:
        # Evaluation rows are keyed by id; a repeat would silently overwrite a result.
        parsed.errors.append(src.error(line, f"'{example.id}' is used by an earlier row", "id"))
        return
    ids.add(example.id)
    parsed.examples.append(example)
    parsed.lines.append(line)


def _missing_split(root: Path, split: str) -> DataError:
    hint = f"add {split}.jsonl (or {split}.csv) to the task folder: {_ROW_HINT}"
    return DataError(f"no {split}.jsonl or {split}.csv", path=display_path(root), hint=hint)


# ---------------------------------------------------------------------------- Task


@dataclass(frozen=True)
class Task:
    """A task folder whose task.yaml parsed. Splits are read on first use and cached."""

    config: TaskConfig
    root: Path
    builtin: bool = False
    _cache: dict[str, list[Example]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def ref(self) -> str:
        """How stored run configs name the task: a built-in by name, a user's folder by path."""
        return self.name if self.builtin else str(self.root)

    def split(self, name: str) -> list[Example]:
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}'", hint=f"use one of: {', '.join(SPLITS)}")
        if name not in self._cache:
            parsed = read_split(self.root, self.config, name, max_errors=1)
            if parsed.errors:
                raise parsed.errors[0]
            self._cache[name] = parsed.examples
        return list(self._cache[name])

    def available_splits(self) -> list[str]:
        return [s for s in SPLITS if split_exists(self.root, s)]

    def resources(self) -> dict[str, Path]:
        return {key: (self.root / rel).resolve() for key, rel in self.config.resources.items()}

    def brought_systems(self) -> list[BroughtSystem]:
        """The systems the folder's `systems.yaml` brings to a comparison ([] without one)."""
        from tailorlm.tasks.validate import read_systems

        return read_systems(self.root)

    def data_hash(self, split: str | None = None) -> str:
        """sha256 over task.yaml, the split files, resources and per-row databases they use."""
        splits = [split] if split is not None else self.available_splits()
        files = {self.root / "task.yaml", *self.resources().values()}
        for name in splits:
            files |= {p for p in [split_file(self.root, name)] if p is not None}
            files |= {Path(e.meta["db"]) for e in self.split(name) if "db" in e.meta}
        return _hash_files(self.root, sorted(files, key=lambda p: _hash_name(self.root, p)))

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.config.description,
            "builtin": self.builtin,
            "root": str(self.root),
            "metric": self.config.metric,
            "output_type": self.config.output_type,
            "input_fields": list(self.config.input_fields),
            "splits": {s: len(self.split(s)) for s in self.available_splits()},
        }


def _hash_name(root: Path, path: Path) -> str:
    # Relative names keep the hash identical wherever the task folder is copied to.
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def _hash_files(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        if not path.is_file():
            continue
        if path == root / "task.yaml":
            data = _VERDICT_ONLY.sub(b"", path.read_bytes())
            digest.update(f"{_hash_name(root, path)}\0{len(data)}\0".encode() + data)
            continue
        # Name and size frame each file, so moving bytes between files changes the hash.
        digest.update(f"{_hash_name(root, path)}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# task.yaml lines that only change the verdict (the quality bar), not what is measured: left
# out of the data hash, so raising the bar re-renders the report and re-runs nothing.
_VERDICT_ONLY = re.compile(rb"^target:[^\n]*(\n|$)", re.M)
