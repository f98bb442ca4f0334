"""Build the built-in text-to-SQL task `sql-sales`: sales.db, train/dev/test JSONL and task.yaml.

Regenerate (stdlib only, fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_sql_sales.py            # src/tailorlm/tasks/builtin/sql-sales
    .venv/bin/python scripts/build_sql_sales.py --out DIR  # anywhere else (the tests do this)

Database: a small synthetic retailer (regions, customers, categories, products, orders,
order_items) for 2023-2024. Some customers never order and some products never sell, so
NOT EXISTS questions have answers; 2023 unit prices sit 5% below list price, so revenue must be
computed from order_items.unit_price, not products.price.

Questions come from query *families*: one SQL template with slots plus several English
phrasings. Slots are filled with values that exist in the database, and a filling is kept only
when its gold query runs and returns a non-empty, non-NULL, non-zero answer; for top-N queries
there must also be no tie at the cut-off, so the gold answer is unambiguous. A template that
fails to run, or yields too few usable fillings, stops the build.

The test split measures generalization, not recall:
* held-out query shapes: the families marked "test" (NOT EXISTS, scalar-subquery comparison,
  CASE labelling, best/worst month, year-over-year difference) appear only in test;
* held-out wording: every shared family reserves its last phrasing for test;
* held-out values: each (family, slot filling) lands in exactly one split, so no test gold
  query appears in train or dev.
dev is drawn like train (shared families, train phrasings, its own fillings) plus one dev-only
family, which gives a small held-out-shape signal for tuning without touching test. Each row's
meta records its family and what is held out ("family", "phrasing" or "none").
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sqlite3
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

SEED = 20240611
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/sql-sales"

REGIONS = {
    "North": ["Minneapolis", "Chicago", "Detroit", "Milwaukee"],
    "South": ["Atlanta", "Houston", "Miami", "Nashville"],
    "East": ["Boston", "New York", "Philadelphia", "Baltimore"],
    "West": ["Seattle", "Portland", "San Diego", "Denver"],
    "Central": ["Kansas City", "Omaha", "St. Louis", "Tulsa"],
}
# category -> (lowest, highest) list price; the products of each category
PRICE_RANGE = {
    "Electronics": (15, 250), "Books": (8, 45), "Clothing": (12, 120), "Home": (9, 90),
    "Sports": (10, 150), "Toys": (8, 80), "Beauty": (5, 60), "Garden": (6, 70),
}  # fmt: skip
PRODUCTS = {
    "Electronics": "Wireless Mouse, Mechanical Keyboard, USB-C Hub, Bluetooth Speaker, "
    "Noise Cancelling Headphones, Webcam, Portable Charger, Smart Watch, HDMI Cable, Tablet Stand",
    "Books": "Mystery Novel, Cookbook, Travel Guide, Science Fiction Anthology, Picture Book, "
    "History Atlas, Poetry Collection, Business Handbook, Graphic Novel, Language Workbook",
    "Clothing": "Denim Jacket, Wool Sweater, Rain Coat, Cotton T-Shirt, Running Shorts, "
    "Silk Scarf, Leather Belt, Winter Gloves, Baseball Cap, Linen Shirt",
    "Home": "Ceramic Mug Set, Table Lamp, Throw Blanket, Chef Knife, Cutting Board, "
    "Scented Candle, Wall Clock, Storage Basket, French Press, Bath Towel Set",
    "Sports": "Yoga Mat, Dumbbell Pair, Tennis Racket, Basketball, Cycling Helmet, Jump Rope, "
    "Water Bottle, Hiking Backpack, Resistance Bands, Running Shoes",
    "Toys": "Building Blocks, Jigsaw Puzzle, Plush Bear, Toy Train Set, Kite, Board Game, "
    "Remote Control Car, Art Kit, Dollhouse, Marble Run",
    "Beauty": "Face Cream, Lip Balm, Shampoo, Hair Dryer, Perfume, Nail Polish Set, Sunscreen, "
    "Makeup Brush Set, Body Lotion, Beard Oil",
    "Garden": "Garden Hose, Pruning Shears, Flower Seeds, Watering Can, Garden Gloves, Plant Pot, "
    "Bird Feeder, Lawn Sprinkler, Compost Bin, Solar Path Light",
}  # fmt: skip
FIRST_NAMES = (
    "Ava, Ben, Chloe, Daniel, Emma, Felix, Grace, Henry, Isla, Jack, Kara, Liam, Mia, Noah, "
    "Olivia, Paul, Quinn, Rosa, Sam, Tara, Uma, Victor, Wendy, Xavier, Yara, Zane, Nina, Omar, "
    "Leah, Ethan"
)
LAST_NAMES = (
    "Adams, Baker, Clark, Davis, Evans, Foster, Garcia, Harris, Irwin, Jones, Keller, Lopez, "
    "Morgan, Nguyen, Owens, Patel, Reed, Shaw, Turner, Vance, Walsh, Young, Brooks, Cruz, Diaz, "
    "Ellis, Fisher, Grant, Hayes, Kim"
)
SEGMENTS = {"Consumer": 60, "Corporate": 25, "Small Business": 15}
STATUSES = {"shipped": 75, "pending": 10, "cancelled": 8, "returned": 7}
CHANNELS = {"online": 55, "in-store": 30, "phone": 15}
MONTHS = "January February March April May June July August September October November December"
N_CUSTOMERS, N_ORDERS = 300, 1800

SCHEMA = """
CREATE TABLE regions (region_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE customers (
  customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, city TEXT NOT NULL,
  region_id INTEGER NOT NULL REFERENCES regions(region_id), segment TEXT NOT NULL,
  signup_date TEXT NOT NULL);
CREATE TABLE categories (category_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE products (
  product_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  category_id INTEGER NOT NULL REFERENCES categories(category_id),
  price REAL NOT NULL, cost REAL NOT NULL);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
  order_date TEXT NOT NULL, status TEXT NOT NULL, channel TEXT NOT NULL);
CREATE TABLE order_items (
  order_item_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(order_id),
  product_id INTEGER NOT NULL REFERENCES products(product_id), quantity INTEGER NOT NULL,
  unit_price REAL NOT NULL, discount REAL NOT NULL);
"""

TASK_YAML = """\
name: sql-sales
description: >-
  Text-to-SQL on a small retail database (sales.db: regions, customers, categories, products,
  orders, order_items; orders from 2023-2024). Each row is an English question whose answer is
  one SQLite SELECT; it is scored by executing it and comparing results with the gold query.
  The test split holds out whole query shapes (NOT EXISTS, scalar subqueries, CASE, best month,
  year-over-year change), the wording of shared shapes and their slot values, so it measures
  generalization rather than recall of training questions.
input_fields: [question]
output_type: sql
metric: sql_execution
role: You are a senior data analyst who writes correct SQLite queries.
system_prompt: >-
  You are a senior data analyst who writes correct SQLite queries.
  Answer with exactly one SQLite SELECT statement and nothing else: no explanation, no markdown,
  no code fences. Use single quotes for strings. Dates are ISO text 'YYYY-MM-DD'.
  Revenue means SUM(order_items.quantity * order_items.unit_price); ignore discount and
  order status unless the question mentions them.
resources:
  db: sales.db
"""


# ---------------------------------------------------------------- database


def pick(rng: random.Random, weighted: dict[str, int]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def random_day(rng: random.Random, start: date, end: date) -> date:
    return date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))


def gen_customers(rng: random.Random) -> list[tuple]:
    firsts, lasts = FIRST_NAMES.split(", "), LAST_NAMES.split(", ")
    names = rng.sample([f"{f} {la}" for f in firsts for la in lasts], N_CUSTOMERS)
    region_ids = {name: i for i, name in enumerate(REGIONS, 1)}
    rows = []
    for cid, name in enumerate(names, 1):
        region = rng.choice(list(REGIONS))
        city, segment = rng.choice(REGIONS[region]), pick(rng, SEGMENTS)
        email = name.lower().replace(" ", ".") + "@example.com"
        signup = random_day(rng, date(2021, 1, 1), date(2024, 9, 30)).isoformat()
        rows.append((cid, name, email, city, region_ids[region], segment, signup))
    return rows


def gen_products(rng: random.Random) -> list[tuple]:
    rows = []
    for cat_id, (category, (lo, hi)) in enumerate(PRICE_RANGE.items(), 1):
        for name in PRODUCTS[category].split(", "):
            price = int(rng.uniform(lo, hi)) + 0.99  # retail .99 prices
            cost = round(price * rng.uniform(0.4, 0.7), 2)
            rows.append((len(rows) + 1, name, cat_id, price, cost))
    return rows


def gen_orders(rng: random.Random, customers: list[tuple]) -> list[tuple]:
    # ~8% of customers never order (NOT EXISTS answers); the rest differ in how active they are.
    weights = [0.0 if rng.random() < 0.08 else 0.25 + rng.expovariate(1.0) for _ in customers]
    picks = rng.choices(customers, weights=weights, k=N_ORDERS)
    drafts = []
    for cust in picks:
        first = max(date.fromisoformat(cust[6]), date(2023, 1, 1))
        day = random_day(rng, first, date(2024, 12, 31)).isoformat()
        drafts.append((day, cust[0], pick(rng, STATUSES), pick(rng, CHANNELS)))
    drafts.sort()  # order ids follow dates, as in a real system
    return [(oid, cid, day, status, chan) for oid, (day, cid, status, chan) in enumerate(drafts, 1)]


def gen_items(rng: random.Random, orders: list[tuple], products: list[tuple]) -> list[tuple]:
    never_sold = set(rng.sample(range(len(products)), 5))
    weights = [0.0 if i in never_sold else rng.uniform(0.3, 2.0) for i in range(len(products))]
    rows = []
    for order in orders:
        chosen: list[tuple] = []
        for _ in range(rng.choices([1, 2, 3, 4], weights=[40, 30, 20, 10])[0]):
            prod = rng.choices(products, weights=weights)[0]
            if prod not in chosen:
                chosen.append(prod)
        for prod in chosen:
            price = prod[3] if order[2] >= "2024" else round(prod[3] * 0.95, 2)
            qty = rng.choices([1, 2, 3, 4, 5], weights=[50, 25, 12, 8, 5])[0]
            disc = rng.choices([0.0, 0.05, 0.1, 0.15, 0.2], weights=[60, 15, 12, 8, 5])[0]
            rows.append((len(rows) + 1, order[0], prod[0], qty, price, disc))
    return rows


def build_db(path: Path) -> None:
    """Write the database to a temp file and move it into place, so a crash leaves no half db."""
    rng = random.Random(SEED)
    customers, products = gen_customers(rng), gen_products(rng)
    orders = gen_orders(rng, customers)
    tables = {
        "regions": list(enumerate(REGIONS, 1)),
        "customers": customers,
        "categories": list(enumerate(PRICE_RANGE, 1)),
        "products": products,
        "orders": orders,
        "order_items": gen_items(rng, orders, products),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.executescript(SCHEMA)
    for table, rows in tables.items():
        conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    os.replace(tmp, path)


# ---------------------------------------------------------------- slot values


def axis(key: str, values) -> list[dict]:
    return [{key: v} for v in values]


def grid(*axes: list[dict]) -> list[dict]:
    """Every combination of the axes, each merged into one slot dict."""
    return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes)]


def column(conn: sqlite3.Connection, sql: str) -> list:
    return [row[0] for row in conn.execute(sql)]


def date_ranges(rng: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        start = random_day(rng, date(2023, 1, 1), date(2024, 10, 31))
        end = start + timedelta(days=rng.randint(6, 60))
        out.append({"start": start.isoformat(), "end": end.isoformat()})
    return out


def month_name(month: str) -> str:
    """'2023-03' -> 'March 2023' (a fixed list: calendar.month_name depends on the locale)."""
    return f"{MONTHS.split()[int(month[5:]) - 1]} {month[:4]}"


def context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    """Slot axes, all read from the database (or derived from the seed) in a fixed order."""
    months = [f"{y}-{m:02d}" for y in (2023, 2024) for m in range(1, 13)]
    return {
        "region": axis("region", column(conn, "SELECT name FROM regions ORDER BY region_id")),
        "city": axis("city", column(conn, "SELECT DISTINCT city FROM customers ORDER BY city")),
        "segment": axis("segment", list(SEGMENTS)),
        "category": axis("category", column(conn, "SELECT name FROM categories ORDER BY 1")),
        "product": axis("product", column(conn, "SELECT name FROM products ORDER BY 1")),
        "customer": axis("customer", column(conn, "SELECT name FROM customers ORDER BY 1")),
        "order_id": axis("order_id", column(conn, "SELECT order_id FROM orders ORDER BY 1")),
        "status": axis("status", list(STATUSES)),
        "channel": axis("channel", list(CHANNELS)),
        "year": axis("year", ["2023", "2024"]),
        "signup_year": axis("year", ["2021", "2022", "2023", "2024"]),
        "month": [{"month": m, "month_name": month_name(m)} for m in months],
        "date_range": date_ranges(random.Random(f"{SEED}-dates"), 150),
        "price": axis("t", [10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200]),
    }


# ---------------------------------------------------------------- families


def non_empty(rows: list[tuple]) -> bool:
    """A usable gold answer: some row, some non-NULL value, and not a bare 0 count."""
    values = [v for row in rows for v in row]
    return any(v is not None for v in values) and values != [0]


def two_labels(rows: list[tuple]) -> bool:
    return non_empty(rows) and len({row[-1] for row in rows}) == 2


@dataclass(frozen=True)
class Family:
    name: str
    split: str  # "shared" (train/dev/test), "test" (held out) or "dev" (dev only)
    sql: str
    phrasings: tuple[str, ...]  # for shared families the last one is reserved for test
    slots: Callable[[dict], list[dict]]
    check: Callable[[list[tuple]], bool] = non_empty


REV = "SUM(oi.quantity * oi.unit_price)"
J_PROD = "JOIN products p ON oi.product_id = p.product_id"
J_CAT = "JOIN categories cat ON p.category_id = cat.category_id"
J_ORD = "JOIN orders o ON oi.order_id = o.order_id"
YEAR = "strftime('%Y', o.order_date) = '{year}'"
MONTH = "strftime('%Y-%m', o.order_date) = '{month}'"

SHARED = [
    Family(
        "select_filter",
        "shared",
        "SELECT name FROM customers WHERE city = '{city}' AND segment = '{segment}'",
        (
            "List the names of {segment} customers located in {city}.",
            "Which {segment} customers are in {city}?",
            "Show the names of customers from {city} whose segment is {segment}.",
            "Give me every customer in {city} that belongs to the {segment} segment.",
        ),
        lambda c: grid(c["city"], c["segment"]),
    ),
    Family(
        "count_join_filter",
        "shared",
        "SELECT COUNT(*) FROM customers c JOIN regions r ON c.region_id = r.region_id "
        "WHERE r.name = '{region}' AND c.segment = '{segment}' "
        "AND strftime('%Y', c.signup_date) = '{year}'",
        (
            "How many {segment} customers in the {region} region signed up in {year}?",
            "Count the customers in the {region} region with segment {segment} who joined in "
            "{year}.",
            "What is the number of {segment} customers from the {region} region whose signup "
            "date is in {year}?",
            "In {year}, how many customers from the {region} region in the {segment} segment "
            "registered?",
        ),
        lambda c: grid(c["region"], c["segment"], c["signup_year"]),
    ),
    Family(
        "count_status_month",
        "shared",
        f"SELECT COUNT(*) FROM orders o WHERE o.status = '{{status}}' AND {MONTH}",
        (
            "How many orders placed in {month_name} have status {status}?",
            "Count the {status} orders from {month_name}.",
            "What number of orders made during {month_name} are {status}?",
            "In {month_name}, how many orders ended up {status}?",
        ),
        lambda c: grid(c["status"], c["month"]),
    ),
    Family(
        "date_range_count",
        "shared",
        "SELECT COUNT(*) FROM orders o WHERE o.order_date BETWEEN '{start}' AND '{end}'",
        (
            "How many orders were placed between {start} and {end}, inclusive?",
            "Count the orders dated from {start} through {end}.",
            "What is the number of orders with an order date between {start} and {end} (both "
            "included)?",
            "From {start} up to and including {end}, how many orders came in?",
        ),
        lambda c: list(c["date_range"]),
    ),
    Family(
        "discount_items_month",
        "shared",
        f"SELECT COUNT(*) FROM order_items oi {J_ORD} WHERE oi.discount >= {{frac}} AND {MONTH}",
        (
            "How many order items in {month_name} orders had a discount of at least {pct}%?",
            "Count the order lines from {month_name} with a discount of {pct}% or more.",
            "In orders placed in {month_name}, how many items were discounted by {pct}% or more?",
            "What number of line items from {month_name} orders carry a discount no lower than "
            "{pct}%?",
        ),
        lambda c: grid(c["month"], [{"pct": p, "frac": p / 100} for p in (5, 10, 15, 20)]),
    ),
    Family(
        "filter_price_category",
        "shared",
        f"SELECT p.name, p.price FROM products p {J_CAT} "
        "WHERE cat.name = '{category}' AND p.price < {t}",
        (
            "Which {category} products cost less than ${t}? Show name and price.",
            "List the name and price of products in the {category} category priced under ${t}.",
            "Find {category} products with a price below ${t}, with their prices.",
            "Show every product from the {category} category that is cheaper than ${t}, along "
            "with its price.",
        ),
        # a threshold above the whole price range would not filter anything
        lambda c: [
            s for s in grid(c["category"], c["price"]) if s["t"] <= PRICE_RANGE[s["category"]][1]
        ],
    ),
    Family(
        "price_agg_category",
        "shared",
        f"SELECT {{agg}}(p.price) FROM products p {J_CAT} WHERE cat.name = '{{category}}'",
        (
            "What is the {agg_word} price of products in the {category} category?",
            "Find the {agg_word} product price within {category}.",
            "Among {category} products, what is the {agg_word} price?",
            "Tell me the {agg_word} list price for the {category} category.",
        ),
        lambda c: grid(
            [
                {"agg": "AVG", "agg_word": "average"},
                {"agg": "MIN", "agg_word": "lowest"},
                {"agg": "MAX", "agg_word": "highest"},
            ],
            c["category"],
        ),
    ),
    Family(
        "revenue_category_year",
        "shared",
        f"SELECT {REV} FROM order_items oi {J_PROD} {J_CAT} {J_ORD} "
        f"WHERE cat.name = '{{category}}' AND o.channel = '{{channel}}' AND {YEAR}",
        (
            "What was the total revenue from {category} products in {channel} orders in {year}?",
            "How much revenue did {category} products bring in through {channel} orders in {year}?",
            "Compute the {year} revenue of the {category} category for {channel} orders.",
            "Sum up the revenue of {category} items sold in {channel} orders during {year}.",
        ),
        lambda c: grid(c["category"], c["channel"], c["year"]),
    ),
    Family(
        "units_product_year",
        "shared",
        f"SELECT SUM(oi.quantity) FROM order_items oi {J_PROD} {J_ORD} "
        f"WHERE p.name = '{{product}}' AND {YEAR}",
        (
            "How many units of {product} were sold in {year}?",
            "What was the total quantity of {product} ordered in {year}?",
            "Count the units of {product} sold during {year}.",
            "In {year}, what number of {product} units did we sell?",
        ),
        lambda c: grid(c["product"], c["year"]),
    ),
    Family(
        "group_units_category",
        "shared",
        f"SELECT cat.name, SUM(oi.quantity) FROM order_items oi {J_PROD} {J_CAT} {J_ORD} "
        f"WHERE {MONTH} AND o.channel = '{{channel}}' GROUP BY cat.name",
        (
            "For each category, how many units were sold in {channel} orders in {month_name}?",
            "Show the total quantity sold per category for {channel} orders placed in "
            "{month_name}.",
            "Break down {month_name} unit sales from {channel} orders by category.",
            "List every category with the number of units it sold in {channel} orders during "
            "{month_name}.",
        ),
        lambda c: grid(c["month"], c["channel"]),
    ),
    Family(
        "having_products_units",
        "shared",
        f"SELECT p.name FROM order_items oi {J_PROD} {J_ORD} WHERE {YEAR} "
        "GROUP BY p.product_id, p.name HAVING SUM(oi.quantity) > {n}",
        (
            "Which products sold more than {n} units in {year}?",
            "List the products whose total quantity sold in {year} exceeds {n}.",
            "Find products with over {n} units sold during {year}.",
            "Name the products that moved more than {n} units over the course of {year}.",
        ),
        lambda c: grid(c["year"], axis("n", range(30, 91, 3))),
    ),
    Family(
        "having_customers_orders",
        "shared",
        "SELECT c.name FROM customers c JOIN regions r ON c.region_id = r.region_id "
        "JOIN orders o ON o.customer_id = c.customer_id WHERE r.name = '{region}' "
        "GROUP BY c.customer_id, c.name HAVING COUNT(*) >= {n}",
        (
            "Which customers in the {region} region have placed at least {n} orders?",
            "List {region} region customers with {n} or more orders.",
            "Find customers from the {region} region whose order count is at least {n}.",
            "Who are the {region} region customers that ordered {n} or more times?",
        ),
        lambda c: grid(c["region"], axis("n", range(4, 16))),
    ),
    Family(
        "top_products_revenue",
        "shared",
        f"SELECT p.name, {REV} AS revenue FROM order_items oi {J_PROD} {J_CAT} {J_ORD} "
        f"WHERE cat.name = '{{category}}' AND {YEAR} GROUP BY p.product_id, p.name "
        "ORDER BY revenue DESC LIMIT {n}",
        (
            "What are the top {n} {category} products by revenue in {year}, with their revenue?",
            "Show the {n} highest-revenue products in the {category} category for {year} and the "
            "revenue of each.",
            "List the {n} {category} products with the most revenue in {year}, along with that "
            "revenue.",
            "Which {n} products in {category} earned the most revenue in {year}? Include the "
            "revenue.",
        ),
        lambda c: grid(c["category"], c["year"], axis("n", [3, 4, 5])),
    ),
    Family(
        "top_customers_spend",
        "shared",
        f"SELECT c.name, {REV} AS total_spent FROM customers c "
        "JOIN regions r ON c.region_id = r.region_id JOIN orders o ON o.customer_id = "
        "c.customer_id JOIN order_items oi ON oi.order_id = o.order_id "
        f"WHERE r.name = '{{region}}' AND {YEAR} GROUP BY c.customer_id, c.name "
        "ORDER BY total_spent DESC LIMIT {n}",
        (
            "Who are the top {n} customers in the {region} region by total spending in {year}? "
            "Show how much each spent.",
            "List the {n} {region} region customers who spent the most in {year}, with their "
            "totals.",
            "Rank {region} region customers by {year} spending and show the top {n} with their "
            "spend.",
            "Which {n} customers from the {region} region had the largest total purchases in "
            "{year}, and how much did they spend?",
        ),
        lambda c: grid(c["region"], c["year"], axis("n", [3, 4, 5, 8, 10])),
    ),
    Family(
        "in_subquery_product",
        "shared",
        "SELECT c.name FROM customers c WHERE c.customer_id IN (SELECT o.customer_id "
        f"FROM orders o JOIN order_items oi ON oi.order_id = o.order_id {J_PROD} "
        "WHERE p.name = '{product}' AND o.channel = '{channel}')",
        (
            "Which customers have bought {product} in {channel} orders?",
            "List the names of customers who ordered {product} through the {channel} channel.",
            "Find every customer with at least one {channel} order containing {product}.",
            "Name the customers who have {product} in at least one of their {channel} orders.",
        ),
        lambda c: grid(c["product"], c["channel"]),
    ),
    Family(
        "count_distinct_customers",
        "shared",
        f"SELECT COUNT(DISTINCT o.customer_id) FROM orders o "
        f"JOIN order_items oi ON oi.order_id = o.order_id {J_PROD} {J_CAT} "
        f"WHERE cat.name = '{{category}}' AND {MONTH}",
        (
            "How many different customers bought {category} products in {month_name}?",
            "Count the distinct customers who ordered from the {category} category in "
            "{month_name}.",
            "What is the number of unique customers purchasing {category} items during "
            "{month_name}?",
            "In {month_name}, how many individual customers placed an order that included a "
            "{category} product?",
        ),
        lambda c: grid(c["category"], c["month"]),
    ),
    Family(
        "distinct_categories_customer",
        "shared",
        "SELECT DISTINCT cat.name FROM customers c JOIN orders o ON o.customer_id = "
        f"c.customer_id JOIN order_items oi ON oi.order_id = o.order_id {J_PROD} {J_CAT} "
        "WHERE c.name = '{customer}'",
        (
            "Which categories has {customer} bought from?",
            "List the distinct product categories in orders by {customer}.",
            "What categories of products has customer {customer} ordered?",
            "Show each category that {customer} has purchased at least one item from, without "
            "duplicates.",
        ),
        lambda c: list(c["customer"]),
    ),
    Family(
        "first_last_order",
        "shared",
        "SELECT {agg}(o.order_date) FROM orders o JOIN customers c ON o.customer_id = "
        "c.customer_id WHERE c.name = '{customer}'",
        (
            "When did {customer} place their {which} order?",
            "What is the date of the {which} order placed by {customer}?",
            "Find the {which} order date for customer {customer}.",
            "On what date did customer {customer} make their {which} purchase?",
        ),
        lambda c: grid(
            [{"agg": "MIN", "which": "first"}, {"agg": "MAX", "which": "most recent"}],
            c["customer"],
        ),
    ),
    Family(
        "order_products",
        "shared",
        f"SELECT p.name, oi.quantity FROM order_items oi {J_PROD} WHERE oi.order_id = {{order_id}}",
        (
            "Which products, and how many of each, are in order {order_id}?",
            "List the product names and quantities for order number {order_id}.",
            "Show what was bought in order {order_id}: product name and quantity.",
            "For order #{order_id}, give each product's name together with the quantity ordered.",
        ),
        lambda c: list(c["order_id"]),
    ),
]

HELD_OUT = [
    Family(
        "not_exists_customers",
        "test",
        "SELECT c.name FROM customers c WHERE c.city = '{city}' AND NOT EXISTS (SELECT 1 "
        f"FROM orders o WHERE o.customer_id = c.customer_id AND {YEAR})",
        (
            "Which customers in {city} did not place any orders in {year}?",
            "List customers from {city} with no orders during {year}.",
            "Find the {city} customers who never ordered anything in {year}.",
        ),
        lambda c: grid(c["city"], c["year"]),
    ),
    Family(
        "above_avg_price",
        "test",
        f"SELECT p.name FROM products p {J_CAT} WHERE cat.name = '{{category}}' AND "
        "p.price > (SELECT AVG(p2.price) FROM products p2 JOIN categories cat2 ON "
        "p2.category_id = cat2.category_id WHERE cat2.name = '{category2}')",
        (
            "Which {category} products are priced above the average price of {category2} products?",
            "List {category} products that cost more than the average {category2} product.",
            "Find products in the {category} category whose price exceeds the mean price of the "
            "{category2} category.",
        ),
        lambda c: [
            s
            for s in grid(c["category"], [{"category2": d["category"]} for d in c["category"]])
            if s["category"] != s["category2"]
        ],
    ),
    Family(
        "case_price_band",
        "test",
        f"SELECT p.name, CASE WHEN p.price >= {{t}} THEN 'premium' ELSE 'standard' END "
        f"FROM products p {J_CAT} WHERE cat.name = '{{category}}'",
        (
            "For each {category} product, show its name and the label 'premium' if its price is "
            "at least ${t}, otherwise 'standard'.",
            "Label every product in the {category} category 'premium' when priced at ${t} or "
            "more and 'standard' otherwise; return the name and the label.",
            "List {category} products with a price band: 'premium' for a price of ${t} or "
            "higher, else 'standard'.",
        ),
        lambda c: grid(c["category"], c["price"]),
        check=two_labels,
    ),
    Family(
        "peak_month",
        "test",
        f"SELECT strftime('%Y-%m', o.order_date) AS month, {REV} AS revenue "
        f"FROM order_items oi {J_PROD} {J_CAT} {J_ORD} WHERE cat.name = '{{category}}' "
        f"AND {YEAR} GROUP BY month ORDER BY revenue {{direction}} LIMIT 1",
        (
            "In {year}, which month had the {which} revenue for {category} products? Give the "
            "month as YYYY-MM and the revenue.",
            "Find the month of {year} with the {which} {category} revenue, returning the month "
            "(YYYY-MM) and its revenue.",
            "What was the month of {year} with the {which} revenue in the {category} category? "
            "Show the month in YYYY-MM form and the revenue.",
        ),
        lambda c: grid(
            c["category"],
            c["year"],
            [{"which": "highest", "direction": "DESC"}, {"which": "lowest", "direction": "ASC"}],
        ),
    ),
    Family(
        "year_over_year",
        "test",
        "SELECT SUM(CASE WHEN strftime('%Y', o.order_date) = '2024' THEN oi.quantity * "
        "oi.unit_price ELSE 0 END) - SUM(CASE WHEN strftime('%Y', o.order_date) = '2023' "
        f"THEN oi.quantity * oi.unit_price ELSE 0 END) FROM order_items oi {J_ORD} {J_PROD} "
        f"{J_CAT} WHERE cat.name = '{{category}}' AND o.channel = '{{channel}}'",
        (
            "How much did revenue from {category} products in {channel} orders change from 2023 "
            "to 2024 (2024 minus 2023)?",
            "What is 2024 revenue minus 2023 revenue for the {category} category in {channel} "
            "orders?",
            "Compute the year-over-year revenue change (2024 minus 2023) for {category} products "
            "sold in {channel} orders.",
        ),
        lambda c: grid(c["category"], c["channel"]),
    ),
    Family(
        "distinct_products_customer",
        "dev",
        "SELECT COUNT(DISTINCT oi.product_id) FROM order_items oi JOIN orders o ON "
        "oi.order_id = o.order_id JOIN customers c ON o.customer_id = c.customer_id "
        "WHERE c.name = '{customer}'",
        (
            "How many different products has {customer} ordered?",
            "Count the distinct products that {customer} has bought.",
            "What is the number of unique products in orders by {customer}?",
        ),
        lambda c: list(c["customer"]),
    ),
]
FAMILIES = SHARED + HELD_OUT

# ---------------------------------------------------------------- splits

TRAIN_CAP, DEV_N, TEST_N = 32, 6, 7  # per shared family
HELD_OUT_N = {"test": 14, "dev": 16}  # per test-only / dev-only family
MIN_TRAIN = 8


def render(template: str, slots: dict) -> str:
    return " ".join(template.format(**slots).split())


def usable(conn: sqlite3.Connection, fam: Family, sql: str) -> bool:
    """Does the gold query give a clear answer? Errors propagate: a broken template must stop us."""
    if not fam.check(conn.execute(sql).fetchall()):
        return False
    head, sep, n = sql.rpartition(" LIMIT ")
    if not sep:
        return True
    # top-N: the sort key is the last column; a tie at the cut-off makes the gold set arbitrary
    keys = [row[-1] for row in conn.execute(f"{head} LIMIT {int(n) + 1}")]
    return len(keys) > int(n) and len(set(keys)) == len(keys)


def quotas(fam: Family) -> dict[str, int]:
    if fam.split == "shared":
        return {"test": TEST_N, "dev": DEV_N, "train": TRAIN_CAP}
    return {fam.split: HELD_OUT_N[fam.split]}


def fillings(conn: sqlite3.Connection, fam: Family, ctx: dict, rng: random.Random) -> list[dict]:
    candidates = fam.slots(ctx)
    rng.shuffle(candidates)
    want, kept = sum(quotas(fam).values()), []
    for slots in candidates:
        if any("'" in str(v) for v in slots.values()):
            raise ValueError(f"{fam.name}: slot value with a quote: {slots}")
        if usable(conn, fam, render(fam.sql, slots)):
            kept.append(slots)
        if len(kept) == want:
            break
    floor = want - TRAIN_CAP + MIN_TRAIN if fam.split == "shared" else want
    if len(kept) < floor:
        raise ValueError(f"{fam.name}: only {len(kept)} usable fillings, need {floor}")
    return kept


def family_rows(conn: sqlite3.Connection, fam: Family, ctx: dict) -> dict[str, list[dict]]:
    """Split one family's fillings: each filling goes to one split, phrasings per split rule."""
    rng = random.Random(f"{SEED}-{fam.name}")
    kept, out, start = fillings(conn, fam, ctx, rng), {}, 0
    for split, n in quotas(fam).items():
        if fam.split != "shared":
            phrasings, held = fam.phrasings, "family"
        elif split == "test":
            phrasings, held = fam.phrasings[-1:], "phrasing"
        else:
            phrasings, held = fam.phrasings[:-1], "none"
        out[split] = [
            {
                "question": render(phrasings[i % len(phrasings)], slots),
                "sql": render(fam.sql, slots),
                "meta": {"family": fam.name, "held_out": held},
            }
            for i, slots in enumerate(kept[start : start + n])
        ]
        start += n
    return out


def norm(question: str) -> str:
    return " ".join(question.lower().split())


def build_splits(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    ctx = context(conn)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for fam in FAMILIES:
        if len({frozenset(slot_fields(p)) for p in fam.phrasings}) != 1:
            raise ValueError(f"{fam.name}: phrasings use different slots")
        for split, rows in family_rows(conn, fam, ctx).items():
            splits[split].extend(rows)
    seen: set[str] = set()
    for split, rows in splits.items():
        for row in rows:
            if norm(row["question"]) in seen:
                raise ValueError(f"duplicate question in {split}: {row['question']}")
            seen.add(norm(row["question"]))
        # mix families so that evaluating only the first N rows is still representative
        random.Random(f"{SEED}-{split}").shuffle(rows)
    return splits


def slot_fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


# ---------------------------------------------------------------- output


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def jsonl(split: str, rows: list[dict]) -> str:
    lines = [
        json.dumps(
            {
                "id": f"{split}-{i:04d}",
                "input": {"question": row["question"]},
                "output": row["sql"],
                **({"db": row["db"]} if "db" in row else {}),  # sql-multi: the row's database
                "meta": row["meta"],
            }
        )
        for i, row in enumerate(rows, 1)
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="task folder to write")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    db = out / "sales.db"
    build_db(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        splits = build_splits(conn)
    finally:
        conn.close()
    for split, rows in splits.items():
        write_atomic(out / f"{split}.jsonl", jsonl(split, rows))
    write_atomic(out / "task.yaml", TASK_YAML)
    sizes = ", ".join(f"{s}={len(r)}" for s, r in splits.items())
    print(f"wrote {out}: {sizes}, sales.db {db.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
