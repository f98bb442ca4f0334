"""Build the built-in task `pandas-code`: question + DataFrame description -> pandas code that
assigns the answer to `result`.

Regenerate (needs pandas; fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_pandas_code.py            # src/tailorlm/tasks/builtin/...
    .venv/bin/python scripts/build_pandas_code.py --out DIR  # anywhere else

Data: the 2024 order lines of the sql-sales database as one flat table, sales.csv (order, date,
region, segment, channel, status, category, product, quantity, unit price, revenue). Every row's
input describes that DataFrame `df` (columns, dtypes, values of the text columns, two sample
rows); the answer is pandas code whose `result` is scored by running it (sandboxed) and
comparing with the gold result, which is stored in `meta.result` in canonical form so scoring
runs only the prediction.

Questions come from families: a code template with slots (region, channel, category, month,
group column) and three phrasings. A filling is kept only when its result is non-empty and
non-zero and, for top-N questions, has no tie at the cut-off. The test split measures
generalization: three families (pivot tables, best month, average order value) appear only in
test, shared families use their third phrasing only in test, and each filling lands in one
split.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyst_tables import LONG_MONTHS, sales_lines, write_task  # noqa: E402

from tailorlm.metrics._pandas_child import canonical  # noqa: E402

SEED = 20261128
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/pandas-code"
SHARE = {"train": 0.68, "dev": 0.18}
COLUMNS = ["order_id", "order_date", "region", "segment", "channel", "status", "category",
           "product", "quantity", "unit_price", "revenue"]  # fmt: skip
REGIONS = ["North", "South", "East", "West", "Central"]
CHANNELS = ["online", "in-store", "phone"]
CATEGORIES = ["Electronics", "Books", "Clothing", "Home", "Sports", "Toys", "Beauty", "Garden"]
DIMS = ["region", "category", "channel", "segment"]
MONTH = "df['order_date'].dt.month == {m}"


def periods() -> list[tuple[str, str]]:
    """(question suffix, code condition): the whole year, then each month."""
    return [("", "")] + [(f" in {LONG_MONTHS[m - 1]}", MONTH.format(m=m)) for m in range(1, 13)]


def quarters() -> list[tuple[str, str]]:
    out = [("", "")]
    for q in range(4):
        cond = f"df['order_date'].dt.quarter == {q + 1}"
        out.append((f" in Q{q + 1}", cond))
    return out


def frame(*conds: str) -> str:
    """`df` filtered by the non-empty conditions, as code."""
    conds = tuple(c for c in conds if c)
    if not conds:
        return "df"
    if len(conds) == 1:
        return f"df[{conds[0]}]"
    return "df[" + " & ".join(f"({c})" for c in conds) + "]"


@dataclass(frozen=True)
class Family:
    name: str
    phrasings: tuple[str, ...]  # the last one only in test
    fillings: Callable[[], list[tuple[dict, str]]]  # (slots for the phrasing, gold code)
    test_only: bool = False


def _eq(col: str, value: str) -> str:
    return f"df['{col}'] == '{value}'"


def _above(x: int) -> str:
    return f"df['unit_price'] > {x}"


def _top_fillings() -> list[tuple[dict, str]]:
    out = []
    for n in (3, 5):
        for suffix, cond in periods():
            code = f"result = {frame(cond)}.groupby('product')['quantity'].sum().nlargest({n + 1})"
            out.append(({"n": n, "period": suffix}, code))
    return out


FAMILIES = [
    Family("region_revenue",
           ("What is the total revenue of the {region} region{period}?",
            "Compute the sum of revenue for orders from {region}{period}.",
            "How much revenue came from {region}{period}?"),
           lambda: [({"region": r, "period": s},
                     f"result = {frame(_eq('region', r), c)}['revenue'].sum()")
                    for r in REGIONS for s, c in periods()]),
    Family("channel_orders",
           ("How many distinct orders were placed through the {channel} channel{period}?",
            "Count the unique order ids of {channel} orders{period}.",
            "What number of {channel} orders do we have{period}?"),
           lambda: [({"channel": ch, "period": s},
                     f"result = {frame(_eq('channel', ch), c)}['order_id'].nunique()")
                    for ch in CHANNELS for s, c in periods()]),
    Family("revenue_by_group",
           ("What is the total revenue per {dim}{period}?",
            "Sum the revenue for each {dim}{period}.",
            "Give me revenue broken down by {dim}{period}."),
           lambda: [({"dim": d, "period": s},
                     f"result = {frame(c)}.groupby('{d}')['revenue'].sum()")
                    for d in DIMS for s, c in periods()]),
    Family("top_products",
           ("List the {n} products with the most units sold{period}, with their unit totals.",
            "Which {n} products sold the most units{period}? Include the units.",
            "Top {n} products by quantity{period}, with quantities?"),
           _top_fillings),
    Family("mean_price",
           ("What is the average unit price per {dim}{period}?",
            "Compute the mean unit_price for each {dim}{period}.",
            "Average selling price by {dim}{period}?"),
           lambda: [({"dim": d, "period": s},
                     f"result = {frame(c)}.groupby('{d}')['unit_price'].mean()")
                    for d in DIMS for s, c in periods()]),
    Family("segment_units",
           ("How many units of {category} did each customer segment buy{period}?",
            "Sum the quantity of {category} products per segment{period}.",
            "{category} units by segment{period}?"),
           lambda: [({"category": k, "period": s},
                     f"result = {frame(_eq('category', k), c)}"
                     ".groupby('segment')['quantity'].sum()")
                    for k in CATEGORIES for s, c in periods()]),
    Family("distinct_products",
           ("How many different {category} products were sold{period}?",
            "Count the distinct {category} product names that appear{period}.",
            "Number of unique {category} products with sales{period}?"),
           lambda: [({"category": k, "period": s},
                     f"result = {frame(_eq('category', k), c)}['product'].nunique()")
                    for k in CATEGORIES for s, c in periods()]),
    Family("cancel_rate",
           ("What fraction of orders{period} have the status cancelled? Count each order once.",
            "Share (0 to 1) of distinct orders{period} whose status is cancelled?",
            "Cancellation rate of orders{period}, as a fraction?"),
           lambda: [({"period": s},
                     f"result = {frame(c)}.drop_duplicates('order_id')['status']"
                     ".eq('cancelled').mean()")
                    for s, c in periods()]),
    Family("max_line",
           ("What is the largest revenue of a single order line in the {region} region{period}?",
            "Find the maximum line revenue for {region}{period}.",
            "Biggest single-line revenue in {region}{period}?"),
           lambda: [({"region": r, "period": s},
                     f"result = {frame(_eq('region', r), c)}['revenue'].max()")
                    for r in REGIONS for s, c in periods()]),
    Family("pricey_products",
           ("Which {category} products were sold at a unit price above {x}? Give a sorted list "
            "of names.",
            "Sorted list of the {category} product names with a unit_price over {x}.",
            "{category} products sold for more than {x} per unit (sorted names)?"),
           lambda: [({"category": k, "x": x},
                     f"result = sorted({frame(_eq('category', k), _above(x))}"
                     "['product'].unique())")
                    for k in CATEGORIES for x in (10, 25, 50)]),
    Family("pivot", ("Make a table of revenue with one row per {dim} and one column per "
                     "channel{period}.",),
           lambda: [({"dim": d, "period": s},
                     f"result = {frame(c)}.pivot_table(index='{d}', columns='channel', "
                     "values='revenue', aggfunc='sum')")
                    for d in ("region", "category", "segment") for s, c in quarters()],
           test_only=True),
    Family("best_month", ("In which month number (1-12) did {category} earn the most revenue?",),
           lambda: [({"category": k},
                     f"sub = {frame(_eq('category', k))}\n"
                     "result = sub.groupby(sub['order_date'].dt.month)['revenue'].sum().idxmax()")
                    for k in CATEGORIES],
           test_only=True),
    Family("order_value", ("What is the average order value (total revenue per order) per "
                           "channel{period}?",),
           lambda: [({"period": s},
                     f"result = {frame(c)}.groupby(['channel', 'order_id'])['revenue'].sum()"
                     ".groupby('channel').mean()")
                    for s, c in periods()],
           test_only=True),
]  # fmt: skip


def load_frame() -> pd.DataFrame:
    lines = [r for r in sales_lines() if r["year"] == 2024]
    df = pd.DataFrame(lines)
    df["revenue"] = (df["quantity"] * df["unit_price"]).round(2)
    df["order_date"] = pd.to_datetime(df["order_date"])
    return df[COLUMNS].reset_index(drop=True)


def describe(df: pd.DataFrame) -> str:
    lines = [f"DataFrame `df`: {len(df):,} rows (order lines of 2024), columns:"]
    for col in df.columns:
        dtype = "datetime64[ns]" if col == "order_date" else str(df[col].dtype)
        dtype = "str" if dtype in ("object", "str", "string") else dtype
        values = sorted(df[col].unique()) if dtype == "str" and df[col].nunique() <= 8 else None
        extra = f" (one of: {', '.join(values)})" if values else ""
        lines.append(f"- {col}: {dtype}{extra}")
    sample = df.head(2).assign(order_date=df["order_date"].dt.strftime("%Y-%m-%d"))
    lines.append("First rows (CSV):\n" + sample.to_csv(index=False).strip())
    return "\n".join(lines)


def _gold(code: str, df: pd.DataFrame) -> object:
    namespace: dict = {"pd": pd, "df": df.copy()}
    exec(code, namespace)
    return namespace["result"]


def _usable(slots: dict, code: str, result: object) -> tuple[str, object] | None:
    if "n" in slots:  # top n: n+1 computed, kept only when there is no tie at the cut-off
        n = slots["n"]
        if len(result) != n + 1 or result.iloc[n - 1] == result.iloc[n]:  # type: ignore
            return None
        code, result = code.replace(f"nlargest({n + 1})", f"nlargest({n})"), result.iloc[:n]  # type: ignore
    if isinstance(result, (pd.Series, pd.DataFrame, list)) and len(result) == 0:
        return None
    if not isinstance(result, (pd.Series, pd.DataFrame, list)) and (pd.isna(result) or result == 0):
        return None
    return code, result


def _rows_for(family: Family, df: pd.DataFrame, description: str) -> list[dict]:
    out = []
    for slots, code in family.fillings():
        kept = _usable(slots, code, _gold(code, df))
        if kept is None:
            continue
        code, result = kept
        out.append({"slots": slots, "code": code, "result": canonical(result)})
    return out


def _row(family: Family, filling: dict, phrasing: str, held_out: str, description: str) -> dict:
    question = phrasing.format(**filling["slots"])
    return {
        "input": {"question": question, "dataframe": description},
        "output": filling["code"],
        "meta": {
            "family": family.name,
            "held_out": held_out,
            "result": filling["result"],
            "parse_dates": ["order_date"],
        },  # fmt: skip
    }


def build_rows(df: pd.DataFrame) -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    description = describe(df)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for family in FAMILIES:
        fillings = _rows_for(family, df, description)
        if len(fillings) < 5:
            raise SystemExit(f"family {family.name}: only {len(fillings)} usable fillings")
        rng.shuffle(fillings)
        if family.test_only:
            splits["test"] += [
                _row(family, f, family.phrasings[-1], "family", description) for f in fillings
            ]
            continue
        n_train, n_dev = int(len(fillings) * SHARE["train"]), int(len(fillings) * SHARE["dev"])
        for i, f in enumerate(fillings):
            split = "train" if i < n_train else "dev" if i < n_train + n_dev else "test"
            phrasing = (
                family.phrasings[-1] if split == "test" else rng.choice(family.phrasings[:-1])
            )
            held = "phrasing" if split == "test" else "none"
            splits[split].append(_row(family, f, phrasing, held, description))
    for rows in splits.values():
        rng.shuffle(rows)
    return {
        s: [{"id": f"{s}-{i:04d}", **r} for i, r in enumerate(rows, 1)]
        for s, rows in splits.items()
    }


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    df = load_frame()
    csv = df.assign(order_date=df["order_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False)
    (out / "sales.csv").write_text(csv, encoding="utf-8")
    write_task(out, build_rows(df), TASK_YAML)


TASK_YAML = """\
name: pandas-code
description: >-
  Write pandas code that answers a question about a DataFrame `df` (2024 order lines of a
  retailer: date, region, segment, channel, status, category, product, quantity, unit price,
  revenue); the input describes its columns, dtypes and first rows. The code must assign the
  answer to a variable named `result`. Scored by execution: the code runs in a sandboxed child
  process on sales.csv and its `result` is compared with the gold result (numbers to 1e-6
  relative, row order and column names ignored, a group-by Series and its reset_index() frame
  count as the same). Three question families appear only in test.
input_fields: [question, dataframe]
output_type: code
metric: pandas_execution
role: You are a data analyst who writes correct, concise pandas code.
system_prompt: >-
  You are a data analyst who writes correct, concise pandas code.
  `df` is already loaded and pandas is imported as `pd`. Answer with Python code only, without
  explanation or markdown fences, and assign the final answer to a variable named `result`.
  Do not print, read or write files.
resources:
  data: sales.csv
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
