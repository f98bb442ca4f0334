"""One error tree. The CLI prints `message` + `hint` and exits non-zero; the server maps it to an
OpenAI-shaped error. Anything that is a user's mistake must raise one of these, never a bare
exception, so nobody sees a traceback for a typo."""

from __future__ import annotations


class TailorError(Exception):
    """Base class: a message that says what went wrong and a hint that says what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ConfigError(TailorError):
    """A config/task file is malformed."""


class DataError(TailorError):
    """A data file (JSONL/CSV) is malformed; the message names file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ":".join(str(p) for p in (path, line) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{message}", hint=hint)
        self.path, self.line, self.field = path, line, field


class TaskNotFoundError(TailorError):
    """No built-in task or folder by that name."""


class ModelError(TailorError):
    """A model cannot be found, loaded or run."""


class MetricError(TailorError):
    """Unknown metric, or a metric cannot be computed (e.g. missing database)."""


class StoreError(TailorError):
    """The run store is missing a run or is inconsistent."""


class Cancelled(Exception):
    """Work stopped because someone asked it to (a client cancelled a job). Not a TailorError:
    nothing went wrong. A run that raises it is recorded as cancelled, never failed."""


def exception_line(exc: BaseException) -> str:
    """An unexpected exception in one line for a row or a record: its type and first line."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}".rstrip(": ")
