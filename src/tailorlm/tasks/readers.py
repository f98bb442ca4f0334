"""Reading a user's table (CSV, JSONL or Parquet) into records with the line they came from.

Parquet needs `pyarrow` (or pandas with a Parquet engine); it is optional, so without it the
user gets an error that says what to install rather than an ImportError."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorlm.errors import DataError
from tailorlm.tasks.loader import display_path

FORMATS = (".csv", ".jsonl", ".parquet")
_UTF8_HINT = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`)"


@dataclass(frozen=True)
class Table:
    path: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line in the file, or row number for Parquet)
    header_line: int | None  # where a missing column would have been named
    text_cells: bool  # True for CSV: every cell is text, types must be inferred


def read_table(path: Path) -> Table:
    if not path.is_file():
        raise DataError("file not found", path=display_path(path))
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(
            f"unsupported file type '{suffix or path.name}'",
            path=display_path(path),
            hint=f"import one of: {', '.join(FORMATS)}",
        )
    reader = {".csv": _read_csv, ".jsonl": _read_jsonl, ".parquet": _read_parquet}[suffix]
    table = reader(path)
    if not table.rows:
        raise DataError("no rows", path=display_path(path))
    return table


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at column {column}",
            path=display_path(path),
            line=line,
            hint=_UTF8_HINT,
        ) from None


def _read_csv(path: Path) -> Table:
    text = _decode(path, path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""))
    where = display_path(path)
    try:
        header = next(reader, [])
        columns = [c.strip() for c in header]
        _check_header(columns, where)
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank line
            if len(cells) != len(columns):
                raise DataError(
                    f"{len(cells)} cells, but the header has {len(columns)} columns",
                    path=where,
                    line=reader.line_num,
                    hint="quote cells that contain commas",
                )
            rows.append((reader.line_num, dict(zip(columns, cells))))
    except csv.Error as exc:
        raise DataError(f"not valid CSV: {exc}", path=where, line=reader.line_num) from None
    return Table(path, columns, rows, 1, text_cells=True)


def _check_header(columns: list[str], where: str) -> None:
    if not columns:
        raise DataError("empty file: no header row", path=where, line=1)
    for i, name in enumerate(columns):
        if not name:
            raise DataError(f"column {i + 1} has no name", path=where, line=1)
        if name in columns[:i]:
            raise DataError("column name used twice", path=where, line=1, field=name)


def _read_jsonl(path: Path) -> Table:
    where = display_path(path)
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    for line, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        text = _decode_line(path, raw, line)
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"invalid JSON: {exc.msg} (col {exc.colno})",
                path=where,
                line=line,
                hint="one complete JSON object per line",
            ) from None
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", path=where, line=line)
        columns.update(dict.fromkeys(row))
        rows.append((line, row))
    return Table(path, list(columns), rows, None, text_cells=False)


def _decode_line(path: Path, raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}",
            path=display_path(path),
            line=line,
            hint=_UTF8_HINT,
        ) from None


def _read_parquet(path: Path) -> Table:
    columns, records = _parquet_records(path)
    rows = [(i, {k: _py(v) for k, v in r.items()}) for i, r in enumerate(records, 1)]
    return Table(path, columns, rows, None, text_cells=False)


def _parquet_records(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    where = display_path(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return _pandas_parquet(path)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a non-Parquet file
        raise DataError(f"not a readable Parquet file: {exc}", path=where) from None
    return list(table.column_names), table.to_pylist()


def _pandas_parquet(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    hint = "Parquet needs pyarrow: pip install pyarrow (or export the data as CSV/JSONL)"
    try:
        import pandas as pd

        frame = pd.read_parquet(path)
    except ImportError:
        raise DataError("cannot read Parquet files", path=display_path(path), hint=hint) from None
    except Exception as exc:
        raise DataError(f"not a readable Parquet file: {exc}", path=display_path(path)) from None
    frame = frame.astype(object).where(frame.notna(), None)
    return [str(c) for c in frame.columns], frame.to_dict("records")


def _py(value: Any) -> Any:
    # numpy scalars (from pandas) become plain Python values, so type checks and JSON work.
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value
