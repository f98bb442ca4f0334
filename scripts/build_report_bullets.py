"""Build the built-in task `report-bullets`: a small sales table -> three bullet points.

Regenerate (stdlib only, fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_report_bullets.py            # src/tailorlm/tasks/builtin/...
    .venv/bin/python scripts/build_report_bullets.py --out DIR  # anywhere else

Tables are aggregates of the sql-sales database (revenue, units or orders by region, category,
channel or segment, per month, quarter, half-year or year), as markdown with a Total row and, when
they have several value columns, a Total column. The reference answer is three bullets: the
top row, the bottom row, and the strongest column (or the total), each quoting the table's own
figure; `meta.facts` lists each bullet's entity and number, which the metric checks.
Tables whose top or bottom is a tie are skipped, so the reference is unambiguous.

The test split measures generalization: two table shapes (top-5 products of a month; a profile
of orders, units and revenue per group) appear only in test, and every other table lands in
exactly one split.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyst_tables import (  # noqa: E402
    MEASURES,
    fmt,
    group,
    long_month,
    markdown_table,
    month_label,
    sales_lines,
    write_task,
)

SEED = 20261126
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/report-bullets"
DIMS = {"region": "region", "category": "category", "channel": "channel", "segment": "segment"}
PAIRS = [("region", "channel"), ("category", "channel"), ("region", "segment"),
         ("category", "segment")]  # fmt: skip
WORDS = {"revenue": "revenue", "units": "units sold", "orders": "orders"}
SHARE = {"train": 0.68, "dev": 0.18}  # of the shared tables; the rest goes to test
TOP = ["{r} had the highest {m}, with {v}.", "{r} led on {m} at {v}.",
       "The strongest {d} was {r} with {v} in {m}."]  # fmt: skip
BOTTOM = ["{r} had the lowest {m}, at {v}.", "{r} trailed with {v}.",
          "The weakest {d} was {r} with {v}."]  # fmt: skip
COLUMN = ["{c} was the strongest {k} overall, with {v}.", "Across all {d}s, {c} led with {v}.",
          "By {k}, {c} came out on top with a total of {v}."]  # fmt: skip
TOTAL = ["In total, {m} came to {v}.", "Altogether the table sums to {v} in {m}.",
         "Total {m} were {v}."]  # fmt: skip


def _value(measure: str, rows: list[dict]) -> float:
    return MEASURES[measure][1](rows)


def _unique_extremes(totals: dict[str, float]) -> tuple[str, str] | None:
    ordered = sorted(totals.items(), key=lambda kv: kv[1])
    if len(ordered) < 3 or ordered[0][1] == ordered[1][1] or ordered[-1][1] == ordered[-2][1]:
        return None
    return ordered[-1][0], ordered[0][0]


def pivot(lines, row_dim, col_dim, cols, measure, title, rng):
    """A table of `measure` by row_dim x col_dim (cols: the column values, in order)."""
    cells = group(lines, row_dim, col_dim)
    names = sorted({r[row_dim] for r in lines})
    matrix = {n: [_value(measure, cells.get((n, c), [])) for c in cols] for n in names}
    row_tot = {n: _value(measure, [x for x in lines if x[row_dim] == n]) for n in names}
    col_tot = {c: _value(measure, [x for x in lines if x[col_dim] == c]) for c in cols}
    ends, col_ends = _unique_extremes(row_tot), _unique_extremes(col_tot)
    if ends is None or col_ends is None or 0 in row_tot.values():
        return None
    header = [row_dim.title(), *[_col_label(c) for c in cols], "Total"]
    body = [[n, *[fmt(v) for v in matrix[n]], fmt(row_tot[n])] for n in names]
    body.append(["Total", *[fmt(col_tot[c]) for c in cols], fmt(_value(measure, lines))])
    money, (top, bottom), best = measure == "revenue", ends, col_ends[0]
    slots = {"m": WORDS[measure], "d": row_dim}
    bullets = [
        rng.choice(TOP).format(r=top, v=fmt(row_tot[top], money), **slots),
        rng.choice(BOTTOM).format(r=bottom, v=fmt(row_tot[bottom], money), **slots),
        rng.choice(COLUMN).format(
            c=_col_label(best), k=col_dim, v=fmt(col_tot[best], money), **slots
        ),
    ]
    facts = [[top, str(row_tot[top])], [bottom, str(row_tot[bottom])],
             [_col_label(best), str(col_tot[best])]]  # fmt: skip
    return _row(title, header, body, bullets, facts)


def _col_label(value: str) -> str:
    # Full month names: a summary says "July 2023", so the fact must be written that way too.
    return long_month(value) if len(value) == 7 and value[4] == "-" else str(value)


def _row(title, header, body, bullets, facts) -> dict:
    return {
        "input": {"title": title, "table": markdown_table(header, body)},
        "output": "\n".join(f"- {b[0].upper()}{b[1:]}" for b in bullets),
        "meta": {"facts": facts},
    }


def top_products(lines, month, measure, rng):
    totals = {p: _value(measure, rows) for (p,), rows in group(lines, "product").items()}
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) < 6 or len({v for _, v in ranked[:6]}) < 6:
        return None
    top5, money = ranked[:5], measure == "revenue"
    label = MEASURES[measure][0]
    body = [[str(i), p, fmt(v)] for i, (p, v) in enumerate(top5, 1)]
    total = sum(v for _, v in top5)
    body.append(["", "Top 5 total", fmt(total)])
    bullets = [
        rng.choice(TOP).format(
            r=top5[0][0], v=fmt(top5[0][1], money), m=WORDS[measure], d="product"
        ),
        f"{top5[4][0]} was fifth with {fmt(top5[4][1], money)}.",
        f"The top five products together reached {fmt(total, money)}.",
    ]
    facts = [[top5[0][0], str(top5[0][1])], [top5[4][0], str(top5[4][1])], [str(total)]]
    title = f"Top 5 products by {WORDS[measure]}, {month_label(month)}"
    return _row(title, ["Rank", "Product", label], body, bullets, facts)


def profile(lines, dim, quarter, rng):
    names = sorted({r[dim] for r in lines})
    per = {n: {m: _value(m, [x for x in lines if x[dim] == n]) for m in MEASURES} for n in names}
    rev = {n: per[n]["revenue"] for n in names}
    ends = _unique_extremes(rev)
    if ends is None:
        return None
    header = [dim.title(), "Orders", "Units", "Revenue (USD)"]
    body = [[n, fmt(per[n]["orders"]), fmt(per[n]["units"]), fmt(rev[n])] for n in names]
    total = _value("revenue", lines)
    body.append(["Total", fmt(_value("orders", lines)), fmt(_value("units", lines)), fmt(total)])
    top, bottom = ends
    bullets = [
        rng.choice(TOP).format(r=top, v=fmt(rev[top], True), m="revenue", d=dim),
        rng.choice(BOTTOM).format(r=bottom, v=fmt(rev[bottom], True), m="revenue", d=dim),
        rng.choice(TOTAL).format(v=fmt(total, True), m="revenue"),
    ]
    facts = [[top, str(rev[top])], [bottom, str(rev[bottom])], [str(total)]]
    return _row(f"Orders, units and revenue by {dim}, {quarter}", header, body, bullets, facts)


def shared_tables(lines, rng) -> list[dict]:
    out = []
    quarters = group(lines, "quarter")
    for (quarter,), rows in sorted(quarters.items()):
        months = sorted({r["month"] for r in rows})
        for dim in DIMS:
            for measure in MEASURES:
                title = f"{MEASURES[measure][0]} by {dim} and month, {quarter}"
                out.append(pivot(rows, dim, "month", months, measure, title, rng))
        for row_dim, col_dim in PAIRS:
            cols = sorted({r[col_dim] for r in rows})
            for measure in MEASURES:
                title = f"{MEASURES[measure][0]} by {row_dim} and {col_dim}, {quarter}"
                out.append(pivot(rows, row_dim, col_dim, cols, measure, title, rng))
    for (year,), rows in sorted(group(lines, "year").items()):
        qs = sorted({r["quarter"] for r in rows})
        for dim in DIMS:
            for measure in MEASURES:
                title = f"{MEASURES[measure][0]} by {dim} and quarter, {year}"
                out.append(pivot(rows, dim, "quarter", qs, measure, title, rng))
    for (half,), rows in sorted(group(lines, "half").items()):
        for row_dim, col_dim in PAIRS:
            cols = sorted({r[col_dim] for r in rows})
            for measure in MEASURES:
                title = f"{MEASURES[measure][0]} by {row_dim} and {col_dim}, {half}"
                out.append(pivot(rows, row_dim, col_dim, cols, measure, title, rng))
    for (month,), rows in sorted(group(lines, "month").items()):
        for row_dim, col_dim in PAIRS:
            cols = sorted({r[col_dim] for r in rows})
            for measure in MEASURES:
                title = f"{MEASURES[measure][0]} by {row_dim} and {col_dim}, {month_label(month)}"
                out.append(pivot(rows, row_dim, col_dim, cols, measure, title, rng))
    return [t for t in out if t is not None]


def test_only_tables(lines, rng) -> list[dict]:
    out = []
    for (month,), rows in sorted(group(lines, "month").items()):
        for measure in ("revenue", "units"):
            out.append(top_products(rows, month, measure, rng))
    for (quarter,), rows in sorted(group(lines, "quarter").items()):
        for dim in DIMS:
            out.append(profile(rows, dim, quarter, rng))
    return [_held(t, "shape") for t in out if t is not None]


def _held(row: dict, what: str) -> dict:
    row["meta"]["held_out"] = what
    return row


def build_rows() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    lines = sales_lines()
    for line in lines:
        line["half"] = f"H{1 if line['month'][5:7] <= '06' else 2} {line['year']}"
    shared = shared_tables(lines, rng)
    rng.shuffle(shared)
    n_train, n_dev = int(len(shared) * SHARE["train"]), int(len(shared) * SHARE["dev"])
    splits = {
        "train": [_held(r, "none") for r in shared[:n_train]],
        "dev": [_held(r, "none") for r in shared[n_train : n_train + n_dev]],
        "test": [_held(r, "table") for r in shared[n_train + n_dev :]]
        + test_only_tables(lines, rng),
    }
    rng.shuffle(splits["test"])
    return {
        s: [{"id": f"{s}-{i:04d}", **r} for i, r in enumerate(rows, 1)]
        for s, rows in splits.items()
    }


def write(out: Path) -> None:
    write_task(out, build_rows(), TASK_YAML)


TASK_YAML = """\
name: report-bullets
description: >-
  Summarize a small sales table (revenue, units or orders by region, category, channel or
  segment, from the sql-sales database) in exactly three bullet points with its main facts.
  Scored as format x faithfulness x coverage: exactly three bullets, every number quoted from
  the table (rounding allowed, computed or invented figures are not), and the reference facts
  (top row, bottom row, strongest column or the total) stated. Two table shapes appear only in
  test.
input_fields: [title, table]
output_type: text
metric: report_bullets
role: You are a data analyst who writes short, accurate summaries of tables for a report.
system_prompt: >-
  You are a data analyst who writes short, accurate summaries of tables for a report.
  Answer with exactly three bullet points, each on its own line starting with '- ', and nothing
  else. State the main facts: which row is highest, which is lowest, and which column is
  strongest (or the total). Quote numbers exactly as the table shows them; do not compute new
  figures.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
