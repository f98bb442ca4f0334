"""Shared by the analyst-task builders: the sql-sales database as flat sales lines, grouping,
number formatting and markdown tables. Stdlib only; imported by scripts in this folder."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SALES_DB = ROOT / "src/tailorlm/tasks/builtin/sql-sales/sales.db"
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LONG_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]  # fmt: skip

LINES_SQL = """
SELECT o.order_id, o.order_date, r.name AS region, c.segment, o.channel, o.status,
       cat.name AS category, p.name AS product, oi.quantity, oi.unit_price, oi.discount
FROM order_items oi
JOIN orders o ON oi.order_id = o.order_id
JOIN customers c ON o.customer_id = c.customer_id
JOIN regions r ON c.region_id = r.region_id
JOIN products p ON oi.product_id = p.product_id
JOIN categories cat ON p.category_id = cat.category_id
ORDER BY oi.order_item_id
"""


def sales_lines(db: Path = SALES_DB) -> list[dict]:
    """One dict per order line, with month/quarter/year and revenue (quantity x unit price)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute(LINES_SQL)]
    finally:
        conn.close()
    for row in rows:
        year, month = int(row["order_date"][:4]), int(row["order_date"][5:7])
        row.update(
            year=year, month=f"{year}-{month:02d}", quarter=f"Q{(month - 1) // 3 + 1} {year}"
        )
        row["revenue"] = row["quantity"] * row["unit_price"]
    return rows


MEASURES: dict[str, tuple[str, Callable[[list[dict]], float]]] = {
    "revenue": ("Revenue (USD)", lambda rows: round(sum(r["revenue"] for r in rows))),
    "units": ("Units sold", lambda rows: sum(r["quantity"] for r in rows)),
    "orders": ("Orders", lambda rows: len({r["order_id"] for r in rows})),
}


def group(rows: Iterable[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        out[tuple(row[k] for k in keys)].append(row)
    return out


def fmt(value: float, money: bool = False) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"${text}" if money else text


def month_label(month: str) -> str:
    return f"{MONTH_NAMES[int(month[5:7]) - 1]} {month[:4]}"


def long_month(month: str) -> str:
    return f"{LONG_MONTHS[int(month[5:7]) - 1]} {month[:4]}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


def write_task(out: Path, splits: dict[str, list[dict]], task_yaml: str) -> None:
    """A task folder: one JSONL file per split and its task.yaml."""
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        write_jsonl(out / f"{split}.jsonl", rows)
    (out / "task.yaml").write_text(task_yaml, encoding="utf-8")
