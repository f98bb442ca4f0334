"""Writing task folders all-or-nothing: every command that creates or changes a task folder
builds the result in a hidden sibling folder, checks it with `validate_task`, and only then
swaps it into place. A failure at any point leaves the user's folder exactly as it was."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tailorlm.errors import TailorError
from tailorlm.tasks.loader import display_path


@contextmanager
def staged_folder(target: Path, *, copy_existing: bool) -> Iterator[Path]:
    """Yield a scratch folder beside `target`; on a clean exit it becomes `target`.

    With `copy_existing`, the scratch folder starts as a copy of `target` (changes are made to
    the copy). The scratch folder sits in the same parent so the final rename is atomic.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes it 0700) so the folder gets the user's usual permissions.
    stage = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    stage.mkdir()
    try:
        if copy_existing and target.is_dir():
            shutil.copytree(target, stage, dirs_exist_ok=True)
        yield stage
        check_valid(stage, shown_as=target)
        _swap(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_valid(root: Path, *, shown_as: Path) -> None:
    """Raise the first validation error, naming `shown_as` rather than the scratch folder."""
    from tailorlm.tasks.validate import validate_task

    report = validate_task(root)
    if report.errors:
        first = report.errors[0]
        message = first.message.replace(display_path(root), display_path(shown_as))
        raise TailorError(f"the new task folder would not be valid: {message}", hint=first.hint)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        stage.rename(target)
        return
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    try:
        stage.rename(target)
    except OSError:
        old.rename(target)  # put the user's folder back before reporting the failure
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line (UTF-8, non-ASCII kept readable); return the count."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a JSONL file this package wrote or the loader already accepted."""
    from tailorlm.errors import DataError

    rows = []
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"invalid JSON: {exc.msg}", path=display_path(path), line=line
                ) from None
            if not isinstance(row, dict):
                raise DataError("expected a JSON object", path=display_path(path), line=line)
            rows.append((line, row))
    return rows
