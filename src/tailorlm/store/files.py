"""File helpers for run folders: canonical JSON, atomic writes, torn-line repair."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tailorlm.errors import StoreError
from tailorlm.paths import make_dir, writing


def json_default(obj: Any) -> Any:
    # Resolved configs often carry Paths and frozen dataclasses; anything else is a bug.
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def canonical_json(obj: Any) -> str:
    """The one spelling of `obj` that hashes the same whatever its key order."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default
    )


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def pretty_json(obj: Any, *, sort_keys: bool = False) -> str:
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False, default=json_default)
    return text + "\n"


def jsonl_line(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, default=json_default) + "\n"


def inside(base: Path, relname: str | Path) -> Path:
    rel = Path(relname)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise StoreError(f"'{relname}' is not a file name inside the run folder")
    return base / rel


def fsync_dir(path: Path) -> None:
    # Makes a rename durable on POSIX; Windows can't open directories, and doesn't need it.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it. A read-only or full disk
    raises NotWritable (which names the folder and the fix) and leaves no temp file behind."""
    make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with writing(path):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: not valid JSON ({e.msg})", hint="rerun the step") from e


def read_jsonl(path: Path) -> list[Any]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise StoreError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
    return rows


def drop_torn_tail(path: Path) -> None:
    # A process killed mid-append can leave half a line; appending after it would glue the
    # next row onto the fragment, so cut back to the last complete line before resuming.
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def file_in_run(base: Path, run_id: str, relname: str | Path) -> Path:
    path = inside(base, relname)
    if not path.is_file():
        raise StoreError(f"Run '{run_id}' has no file '{relname}'", hint=f"look in {base}")
    return path
