"""Build the built-in task `explain-result`: question + SQL + result table -> a short explanation.

Regenerate (stdlib only, fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_explain_result.py            # src/tailorlm/tasks/builtin/...
    .venv/bin/python scripts/build_explain_result.py --out DIR  # anywhere else

Each row is a business question about the sql-sales database, the SQLite query that answers it
and the query's result (at most five rows, as a markdown table); the reference answer is a one-
or two-sentence plain-language explanation that quotes the result's figures. `meta.key_facts`
names the figure (and the row it belongs to) an explanation must state.

Questions come from families: one SQL template with slots (region, channel, category, period)
plus three phrasings. A filling is kept only when its query returns a non-empty, non-zero
result without a tie where the explanation names a top or bottom row. The test split measures
generalization: two families (year-over-year comparison, distinct customers) appear only in
test, shared families use their third phrasing only in test, and each filling lands in exactly
one split.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyst_tables import (  # noqa: E402
    LONG_MONTHS,
    SALES_DB,
    fmt,
    long_month,
    markdown_table,
    write_task,
)

SEED = 20261127
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/explain-result"
SHARE = {"train": 0.68, "dev": 0.18}  # of the shared fillings; the rest goes to test
TEST_ONLY_CAP = 40  # rows per test-only family

REGIONS = ["North", "South", "East", "West", "Central"]
CHANNELS = ["online", "in-store", "phone"]
CATEGORIES = ["Electronics", "Books", "Clothing", "Home", "Sports", "Toys", "Beauty", "Garden"]
JOINS = {
    "o": "orders o",
    "oi": "order_items oi JOIN orders o ON oi.order_id = o.order_id",
    "oic": "order_items oi JOIN orders o ON oi.order_id = o.order_id "
    "JOIN customers c ON o.customer_id = c.customer_id",
    "oir": "order_items oi JOIN orders o ON oi.order_id = o.order_id "
    "JOIN customers c ON o.customer_id = c.customer_id "
    "JOIN regions r ON c.region_id = r.region_id",
    "oip": "order_items oi JOIN orders o ON oi.order_id = o.order_id "
    "JOIN products p ON oi.product_id = p.product_id",
    "oipc": "order_items oi JOIN orders o ON oi.order_id = o.order_id "
    "JOIN customers c ON o.customer_id = c.customer_id "
    "JOIN products p ON oi.product_id = p.product_id "
    "JOIN categories cat ON p.category_id = cat.category_id",
}
REVENUE = "ROUND(SUM(oi.quantity * oi.unit_price), 2)"


def periods() -> list[tuple[str, str]]:
    """(name, SQL condition on o.order_date) for every month, quarter and year."""
    out = []
    for year in (2023, 2024):
        out.append((str(year), f"strftime('%Y', o.order_date) = '{year}'"))
        for q in range(4):
            end_day = (31, 30, 30, 31)[q]
            first, last = f"{year}-{3 * q + 1:02d}-01", f"{year}-{3 * q + 3:02d}-{end_day}"
            out.append((f"Q{q + 1} {year}", f"o.order_date BETWEEN '{first}' AND '{last}'"))
        for m in range(12):
            cond = f"strftime('%Y-%m', o.order_date) = '{year}-{m + 1:02d}'"
            out.append((f"{LONG_MONTHS[m]} {year}", cond))
    return out


@dataclass(frozen=True)
class Family:
    name: str
    phrasings: tuple[str, ...]  # the last one only in test
    sql: str
    slots: Callable[[], list[dict]]
    explain: Callable[[dict, list[tuple], random.Random], tuple[str, list[list[str]]] | None]
    test_only: bool = False


def _money(v: float) -> str:
    return fmt(v, money=True)


def _ranked(rows: list[tuple]) -> bool:
    """True when the first and last rows are strict extremes of the last column."""
    values = [r[-1] for r in rows]
    return len(rows) >= 3 and values[0] > values[1] and values[-1] < values[-2]


def ex_region_revenue(s, rows, rng):
    v = rows[0][0]
    text = rng.choice([
        "The {region} region brought in {v} in revenue in {period}.",
        "In {period}, revenue in the {region} region came to {v}.",
    ]).format(v=_money(v), **s)  # fmt: skip
    return text, [[str(v)]]


def ex_channel_orders(s, rows, rng):
    n = rows[0][0]
    text = rng.choice([
        "{n} orders were placed through the {channel} channel in {period}.",
        "The {channel} channel received {n} orders in {period}.",
    ]).format(n=fmt(n), **s)  # fmt: skip
    return text, [[str(n)]]


def ex_region_ranking(s, rows, rng):
    if not _ranked(rows):
        return None
    (top, v1), (second, v2), (last, vl) = rows[0], rows[1], rows[-1]
    text = (
        f"{top} had the highest revenue in {s['period']} at {_money(v1)}, ahead of {second} "
        f"({_money(v2)}). {last} was lowest with {_money(vl)}."
    )
    return text, [[top, str(v1)], [last, str(vl)]]


def ex_top_products(s, rows, rng):
    if len(rows) < 3 or rows[0][1] == rows[1][1]:
        return None
    (p1, u1), (p2, u2), (p3, u3) = rows[:3]
    text = (
        f"The best seller in {s['period']} was {p1} with {fmt(u1)} units, followed by {p2} "
        f"({fmt(u2)}) and {p3} ({fmt(u3)})."
    )
    return text, [[p1, str(u1)]]


def ex_channel_aov(s, rows, rng):
    if not _ranked(rows):
        return None
    (top, v), (bottom, w) = rows[0], rows[-1]
    text = (
        f"In {s['period']}, {top} orders were the largest on average at {_money(v)} per "
        f"order, while {bottom} orders were the smallest at {_money(w)}."
    )
    return text, [[top, str(v)], [bottom, str(w)]]


def ex_monthly(s, rows, rng):
    values = [r[1] for r in rows]
    if len(rows) != 3 or len(set(values)) < 3:
        return None
    peak = max(rows, key=lambda r: r[1])
    trend = "rose" if values[-1] > values[0] else "fell"
    text = (
        f"Revenue in {s['region']} {trend} from {_money(values[0])} in {long_month(rows[0][0])} "
        f"to {_money(values[-1])} in {long_month(rows[-1][0])}; the strongest month was "
        f"{long_month(peak[0])} at {_money(peak[1])}."
    )
    # The peak's figure only: "2024-02", "February" and "Feb 2024" all name the month.
    return text, [[str(peak[1])]]


def ex_cancelled(s, rows, rng):
    p = rows[0][0]
    text = rng.choice([
        "{p}% of the orders placed in {period} were cancelled.",
        "In {period}, {p}% of orders ended up cancelled.",
    ]).format(p=p, **s)  # fmt: skip
    return text, [[str(p)]]


def ex_segment_units(s, rows, rng):
    if not _ranked(rows):
        return None
    (top, u), (bottom, w) = rows[0], rows[-1]
    text = (
        f"{top} customers bought the most {s['category']} items in {s['period']} "
        f"({fmt(u)} units); {bottom} customers bought the fewest ({fmt(w)})."
    )
    return text, [[top, str(u)]]


def ex_yoy(s, rows, rng):
    if len(rows) != 2 or rows[0][1] == rows[1][1]:
        return None
    (_, a), (_, b) = rows
    trend = "grew" if b > a else "declined"
    text = f"Revenue in {s['region']} {trend} from {_money(a)} in 2023 to {_money(b)} in 2024."
    return text, [[str(a)], [str(b)]]


def ex_customers(s, rows, rng):
    n = rows[0][0]
    text = f"{fmt(n)} different customers bought {s['category']} products in {s['period']}."
    return text, [[str(n)]]


def _per_period(**extra: list[str]) -> Callable[[], list[dict]]:
    def slots() -> list[dict]:
        (key, values), *_ = extra.items() if extra else [("", [""])]
        return [
            {"period": name, "cond": cond, **({key: v} if key else {})}
            for name, cond in periods()
            for v in values
        ]

    return slots


def _quarters_and_years(key: str, values: list[str]) -> Callable[[], list[dict]]:
    def slots() -> list[dict]:
        return [
            {"period": name, "cond": cond, key: v}
            for name, cond in periods()
            if name[0] in "Q2"
            for v in values
        ]

    return slots


FAMILIES = [
    Family(
        "region_revenue",
        ("What was the total revenue in the {region} region in {period}?",
         "How much revenue did the {region} region bring in during {period}?",
         "Revenue for {region}, {period}: what was it?"),
        f"SELECT {REVENUE} AS revenue FROM {JOINS['oir']} WHERE r.name = '{{region}}' AND {{cond}}",
        _per_period(region=REGIONS), ex_region_revenue),
    Family(
        "channel_orders",
        ("How many orders came in through the {channel} channel in {period}?",
         "What was the number of {channel} orders in {period}?",
         "Count the {channel} orders of {period}."),
        "SELECT COUNT(*) AS orders FROM orders o WHERE o.channel = '{channel}' AND {cond}",
        _per_period(channel=CHANNELS), ex_channel_orders),
    Family(
        "region_ranking",
        ("Which region had the most revenue in {period}?",
         "Rank the regions by revenue for {period}.",
         "Where did we sell the most in {period}, by region?"),
        f"SELECT r.name AS region, {REVENUE} AS revenue FROM {JOINS['oir']} WHERE {{cond}} "
        "GROUP BY r.name ORDER BY revenue DESC",
        _per_period(), ex_region_ranking),
    Family(
        "top_products",
        ("What were the three best-selling products by units in {period}?",
         "Which three products sold the most units in {period}?",
         "Top three products of {period} by quantity?"),
        f"SELECT p.name AS product, SUM(oi.quantity) AS units FROM {JOINS['oip']} WHERE {{cond}} "
        "GROUP BY p.name ORDER BY units DESC, p.name LIMIT 3",
        _per_period(), ex_top_products),
    Family(
        "channel_aov",
        ("What was the average order value per channel in {period}?",
         "How large was the average order in each channel during {period}?",
         "Average basket size by channel, {period}?"),
        "SELECT o.channel, ROUND(SUM(oi.quantity * oi.unit_price) / COUNT(DISTINCT o.order_id), "
        f"2) AS avg_order_value FROM {JOINS['oi']} WHERE {{cond}} GROUP BY o.channel "
        "ORDER BY avg_order_value DESC",
        _quarters_and_years("", [""]), ex_channel_aov),
    Family(
        "monthly_region",
        ("How did monthly revenue develop in {region} during {period}?",
         "Show the revenue per month for the {region} region in {period}.",
         "Month by month, what did {region} make in {period}?"),
        f"SELECT strftime('%Y-%m', o.order_date) AS month, {REVENUE} AS revenue FROM "
        f"{JOINS['oir']} WHERE r.name = '{{region}}' AND {{cond}} GROUP BY month ORDER BY month",
        lambda: [s for s in _quarters_and_years("region", REGIONS)() if s["period"][0] == "Q"],
        ex_monthly),
    Family(
        "cancelled_share",
        ("What share of orders in {period} were cancelled?",
         "What percentage of the orders placed in {period} got cancelled?",
         "Cancellation rate for {period}?"),
        "SELECT ROUND(100.0 * SUM(o.status = 'cancelled') / COUNT(*), 1) AS pct_cancelled "
        "FROM orders o WHERE {cond}",
        _per_period(), ex_cancelled),
    Family(
        "segment_units",
        ("How many {category} units did each customer segment buy in {period}?",
         "Break down {category} units sold by customer segment for {period}.",
         "Which segment bought the most {category} in {period}?"),
        f"SELECT c.segment, SUM(oi.quantity) AS units FROM {JOINS['oipc']} WHERE "
        "cat.name = '{category}' AND {cond} GROUP BY c.segment ORDER BY units DESC",
        _quarters_and_years("category", CATEGORIES), ex_segment_units),
    Family(
        "yoy_region",
        ("How did revenue in {region} compare between 2023 and 2024?",),
        f"SELECT strftime('%Y', o.order_date) AS year, {REVENUE} AS revenue FROM "
        f"{JOINS['oir']} WHERE r.name = '{{region}}' GROUP BY year ORDER BY year",
        lambda: [{"region": r, "period": "", "cond": ""} for r in REGIONS],
        ex_yoy, test_only=True),
    Family(
        "distinct_customers",
        ("How many different customers bought {category} products in {period}?",),
        f"SELECT COUNT(DISTINCT o.customer_id) AS customers FROM {JOINS['oipc']} WHERE "
        "cat.name = '{category}' AND {cond}",
        _per_period(category=CATEGORIES), ex_customers, test_only=True),
]  # fmt: skip


def _result_table(cursor: sqlite3.Cursor, rows: list[tuple]) -> str:
    header = [d[0] for d in cursor.description]
    return markdown_table(header, [[_cell(v) for v in row] for row in rows])


def _cell(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _fillings(conn: sqlite3.Connection, family: Family, rng: random.Random) -> list[dict]:
    out = []
    for slots in family.slots():
        sql = family.sql.format(**slots)
        cursor = conn.execute(sql)
        rows = cursor.fetchall()
        if not rows or any(v in (None, 0) for row in rows for v in row) or len(rows) > 5:
            continue
        explained = family.explain(slots, rows, rng)
        if explained is None:
            continue
        text, facts = explained
        out.append({"slots": slots, "sql": sql, "result": _result_table(cursor, rows),
                    "output": text, "facts": facts})  # fmt: skip
    return out


def _row(family: Family, filling: dict, phrasing: str, held_out: str) -> dict:
    slots = filling["slots"]
    question = phrasing.format(**slots)
    return {
        "input": {"question": question, "sql": filling["sql"], "result": filling["result"]},
        "output": filling["output"],
        "meta": {"family": family.name, "key_facts": filling["facts"], "held_out": held_out},
    }


def build_rows() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    conn = sqlite3.connect(f"{SALES_DB.resolve().as_uri()}?mode=ro", uri=True)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    try:
        for family in FAMILIES:
            fillings = _fillings(conn, family, rng)
            if len(fillings) < 5:
                raise SystemExit(f"family {family.name}: only {len(fillings)} usable fillings")
            rng.shuffle(fillings)
            if family.test_only:
                splits["test"] += [
                    _row(family, f, family.phrasings[-1], "family")
                    for f in fillings[:TEST_ONLY_CAP]
                ]
                continue
            n_train = int(len(fillings) * SHARE["train"])
            n_dev = int(len(fillings) * SHARE["dev"])
            shared = family.phrasings[:-1]
            for i, f in enumerate(fillings):
                split = "train" if i < n_train else "dev" if i < n_train + n_dev else "test"
                phrasing = family.phrasings[-1] if split == "test" else rng.choice(shared)
                splits[split].append(
                    _row(family, f, phrasing, "phrasing" if split == "test" else "none")
                )
    finally:
        conn.close()
    for rows in splits.values():
        rng.shuffle(rows)
    return {
        s: [{"id": f"{s}-{i:04d}", **r} for i, r in enumerate(rows, 1)]
        for s, rows in splits.items()
    }


def write(out: Path) -> None:
    write_task(out, build_rows(), TASK_YAML)


TASK_YAML = """\
name: explain-result
description: >-
  Explain a query result in plain language. Each row gives a business question about a retail
  sales database, the SQLite query that answered it and its result table (at most five rows);
  the answer is a one- or two-sentence explanation for a non-technical reader that quotes the
  result's figures. Scored as faithfulness x (0.5 x coverage + 0.5 x similarity): numbers must
  come from the question, query or result (rounding allowed), the key figure must be stated, and
  the meaning should match the reference answer. Two question families appear only in test.
input_fields: [question, sql, result]
output_type: text
metric: explanation
role: You are a data analyst who explains query results to business colleagues.
system_prompt: >-
  You are a data analyst who explains query results to business colleagues.
  Answer the question in one or two plain sentences using the result table. Quote the figures
  exactly as the result shows them (money with a $ sign), name the row they belong to, and do
  not compute or invent other numbers. Do not describe the SQL.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
