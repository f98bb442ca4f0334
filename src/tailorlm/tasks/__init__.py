"""Task folders: task.yaml plus train/dev/test rows (JSONL or CSV), built-in or the user's own."""

from tailorlm.tasks.loader import BUILTIN_DIR, SPLITS, Task, resolve_task
from tailorlm.tasks.validate import (
    ValidationReport,
    list_builtin_tasks,
    load_task,
    task_stats,
    validate_task,
)

__all__ = [
    "BUILTIN_DIR",
    "SPLITS",
    "Task",
    "ValidationReport",
    "list_builtin_tasks",
    "load_task",
    "resolve_task",
    "task_stats",
    "validate_task",
]
