"""`tailor init`: a new task folder with a commented task.yaml and a few example rows per split,
so a user starts from something that validates and evaluates, then replaces the rows with their
own (`tailor data import`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tailorlm.errors import ConfigError
from tailorlm.tasks.folder import staged_folder, write_jsonl
from tailorlm.tasks.loader import display_path

TASK_TYPES = ("sql", "classification", "generation", "code")
EXAMPLE_DB = "example.db"

_HEADER = """\
# task.yaml - what the task is and how answers are scored. Unknown keys are errors.
# Docs: README, "Task format" and "Bring your own data".
name: {name}
# One paragraph: what the task is for (shown in reports).
description: {description}
# Input fields of a row; a row whose "input" is a plain string fills the first one.
# `tailor data import --input COL,COL` rewrites this line with your column names.
input_fields: {input_fields}
# What an answer is: sql | text | label | code | json.
output_type: {output_type}
# How an answer is scored: sql_execution | exact_match | sql_exact_match | classification.
# ({metric_note})
metric: {metric}
# Persona used by the role-style prompt strategies.
role: {role}
# System message of the engineered prompts: the rules an answer must follow.
system_prompt:{system_prompt}
"""
_LABELS = """\
# The allowed answers; `tailor data import` rewrites this line with the labels in your data.
labels: {labels}
"""
_RESOURCES = """\
# Files the metric needs, relative to this folder; `db` is the default SQLite database.
resources:
  db: {db}
"""

_TYPES: dict[str, dict[str, Any]] = {
    "sql": {
        "description": "Questions about a SQLite database answered with one SELECT statement.",
        "input_fields": ["question"],
        "output_type": "sql",
        "metric": "sql_execution",
        "metric_note": "runs gold and predicted SQL on the database and compares results",
        "role": "You are a senior data analyst who writes correct SQLite queries.",
        "system_prompt": "Answer with exactly one SQLite SELECT statement and nothing else.",
    },
    "classification": {
        "description": "Sort a support ticket into one category.",
        "input_fields": ["text"],
        "output_type": "label",
        "metric": "classification",
        "metric_note": "label match; reports show accuracy and macro-F1",
        "role": "You are a support lead who routes tickets to the right team.",
        "system_prompt": "Answer with exactly one of the labels and nothing else.",
        "labels": ["billing", "bug", "feature_request"],
    },
    "generation": {
        "description": "Rewrite a note as one short plain-language sentence.",
        "input_fields": ["text"],
        "output_type": "text",
        "metric": "exact_match",
        "metric_note": "exact match after normalising case, spacing and end punctuation; "
        "strict for free text - choose a closer metric when your task has one",
        "role": "You are an analyst who writes short, plain sentences.",
        "system_prompt": "Answer with one short sentence and nothing else.",
    },
    "code": {
        "description": "Write a pandas expression that answers a question about a DataFrame df.",
        "input_fields": ["question", "columns"],
        "output_type": "code",
        "metric": "exact_match",
        "metric_note": "exact match of the code text; use an execution metric if one is installed",
        "role": "You are a data analyst who writes idiomatic pandas.",
        "system_prompt": "Answer with one line of Python using the DataFrame `df` and nothing "
        "else.",
    },
}

_ROWS: dict[str, dict[str, list[tuple[Any, str]]]] = {
    "sql": {
        "train": [
            ("How many customers are there?", "SELECT COUNT(*) FROM customers"),
            ("List the names of customers in Boston.",
             "SELECT name FROM customers WHERE city = 'Boston'"),
            ("What is the total amount of all orders?", "SELECT SUM(amount) FROM orders"),
            ("How many orders did Ava Stone place?",
             "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.customer_id "
             "WHERE c.name = 'Ava Stone'"),
        ],
        "dev": [("What is the largest order amount?", "SELECT MAX(amount) FROM orders")],
        "test": [
            ("How many orders were placed in 2024?",
             "SELECT COUNT(*) FROM orders WHERE strftime('%Y', order_date) = '2024'"),
            ("What is the total order amount per city?",
             "SELECT c.city, SUM(o.amount) FROM orders o JOIN customers c "
             "ON o.customer_id = c.customer_id GROUP BY c.city"),
        ],
    },
    "classification": {
        "train": [
            ("I was charged twice for my subscription this month.", "billing"),
            ("The export button crashes the app on Windows.", "bug"),
            ("Could you add a dark mode to the dashboard?", "feature_request"),
            ("My invoice shows the wrong VAT number.", "billing"),
        ],
        "dev": [("The page goes blank after I log in.", "bug")],
        "test": [
            ("Please support exporting reports to Excel.", "feature_request"),
            ("Why was my card declined when upgrading?", "billing"),
        ],
    },
    "generation": {
        "train": [
            ("revenue q3 up 12% vs q2, driven by online", "Revenue rose 12% in Q3, led by online."),
            ("churn flat at 4%, no change from last month", "Churn held steady at 4%."),
            ("avg basket fell from 54 to 49 eur", "The average basket fell from 54 to 49 euros."),
        ],
        "dev": [("signups doubled week over week", "Signups doubled week over week.")],
        "test": [
            ("returns down to 2% after new sizing guide",
             "Returns fell to 2% after the new sizing guide."),
            ("north region missed target by 8%", "The North region missed its target by 8%."),
        ],
    },
    "code": {
        "train": [
            ({"question": "How many rows are there?", "columns": "city, amount"}, "len(df)"),
            ({"question": "What is the total amount?", "columns": "city, amount"},
             "df['amount'].sum()"),
            ({"question": "What is the average amount per city?", "columns": "city, amount"},
             "df.groupby('city')['amount'].mean()"),
        ],
        "dev": [({"question": "What is the largest amount?", "columns": "city, amount"},
                 "df['amount'].max()")],
        "test": [
            ({"question": "How many distinct cities are there?", "columns": "city, amount"},
             "df['city'].nunique()"),
            ({"question": "Which rows have an amount above 100?", "columns": "city, amount"},
             "df[df['amount'] > 100]"),
        ],
    },
}  # fmt: skip


def init_task(path: str | Path, task_type: str) -> Path:
    """Create the task folder `path` (it must not exist yet) for `task_type`; return it."""
    target = Path(path).expanduser()
    if task_type not in TASK_TYPES:
        raise ConfigError(
            f"unknown task type '{task_type}'", hint=f"choose one of: {', '.join(TASK_TYPES)}"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"{display_path(target)} already exists",
            hint="pick a new folder name, or import data into it with `tailor data import`",
        )
    with staged_folder(target, copy_existing=False) as stage:
        (stage / "task.yaml").write_text(task_yaml(target.name, task_type), encoding="utf-8")
        if task_type == "sql":
            make_example_db(stage / EXAMPLE_DB)
        for split, rows in _ROWS[task_type].items():
            write_jsonl(stage / f"{split}.jsonl", _rows(split, rows, _TYPES[task_type]))
    return target


def task_yaml(name: str, task_type: str, **overrides: Any) -> str:
    """The commented task.yaml of a new task of `task_type`; `overrides` replace defaults."""
    spec = {**_TYPES[task_type], **overrides}
    text = _HEADER.format(
        name=_scalar(name),
        description=_scalar(spec["description"]),
        input_fields=_flow(spec["input_fields"]),
        output_type=spec["output_type"],
        metric=spec["metric"],
        metric_note=spec["metric_note"],
        role=_scalar(spec["role"]),
        system_prompt=_text_block(spec["system_prompt"]),
    )
    if spec.get("labels") is not None:
        text += _LABELS.format(labels=_flow(spec["labels"]))
    if spec["metric"] == "sql_execution":
        text += _RESOURCES.format(db=_scalar(spec.get("db", EXAMPLE_DB)))
    return text


def _scalar(value: str) -> str:
    import json

    # JSON strings are valid YAML scalars: safe for names with ':' or '#'.
    return json.dumps(value, ensure_ascii=False)


def _text_block(value: str) -> str:
    """A one-line text reads best folded on its own line; anything else (several lines, edge
    spaces) as a JSON string, which YAML reads back exactly."""
    if value and "\n" not in value and value == value.strip():
        return f" >-\n  {value}"
    return f" {_scalar(value)}"


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _rows(split: str, rows: list[tuple[Any, str]], spec: dict[str, Any]) -> list[dict[str, Any]]:
    field = spec["input_fields"][0]
    return [
        {
            "id": f"{split}-{i}",
            "input": value if isinstance(value, dict) else {field: value},
            "output": output,
        }
        for i, (value, output) in enumerate(rows, 1)
    ]


def make_example_db(path: Path) -> None:
    """A two-table SQLite database with a foreign key, matching the example SQL rows."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            """
            CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, city TEXT);
            CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
                customer_id INTEGER REFERENCES customers(customer_id),
                amount REAL, order_date TEXT);
            INSERT INTO customers VALUES (1, 'Ava Stone', 'Boston'), (2, 'Ben Ruiz', 'Denver'),
                (3, 'Chloe Park', 'Boston');
            INSERT INTO orders VALUES (1, 1, 120.5, '2023-11-02'), (2, 1, 35.0, '2024-01-15'),
                (3, 2, 310.0, '2024-02-20'), (4, 3, 18.25, '2024-03-05');
            """
        )
        conn.commit()
    finally:
        conn.close()
