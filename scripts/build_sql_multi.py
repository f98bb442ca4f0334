"""Build the built-in text-to-SQL task `sql-multi`: six SQLite databases, train/dev/test JSONL and
task.yaml. Its rows use several databases, so it measures generalization across schemas.

Regenerate (stdlib only, fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_sql_multi.py            # src/tailorlm/tasks/builtin/sql-multi
    .venv/bin/python scripts/build_sql_multi.py --out DIR  # anywhere else (the tests do this)

Databases: six hand-designed schemas in different domains, 4-5 tables each with foreign keys and
1,200-2,500 synthetic rows, mostly dated 2023-2024, each drawn from its own seeded generator. Each
has rows that make NOT EXISTS and LEFT JOIN questions meaningful (members who never borrow,
doctors without appointments, items never shipped, players who never score, ...).

The split holds out whole schemas:
* train: library, clinic, airline;
* dev: school only, a schema that no train row uses, so tuning on dev (prompt search, early
  stopping) rewards what transfers to an unseen database rather than recall of the train ones;
* test: warehouse and sports only, schemas that appear in no train or dev row.
Every row names its database (`"db": "<resource name>"`, resolved by the task loader) and its
meta records the family, the database, the query shape and what is held out ("none" for train,
"schema" for dev and test). Nine shapes (count, join, aggregate, group_by, top_n, not_exists,
having, date_filter, left_join) recur in every database, plus null_filter (library, school) and
self_join (airline, sports), so per-shape scores on test compare like with like.

Questions come from query *families*: one SQL template with slots plus 2-3 English phrasings.
Slots are filled with values read from the family's database, and a filling is kept only when
its gold query runs and returns a non-empty, non-NULL, non-zero answer of at most
MAX_ANSWER_ROWS rows; for top-N queries there must also be no tie at or above the LIMIT
cut-off, so the gold answer (and its order) is unambiguous. Each family belongs to one database
and so to one split: no (family, filling) appears in two splits. A template that fails to run,
or yields fewer than MIN_FILLINGS usable fillings, stops the build.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling generator's helpers
from build_sql_sales import (  # noqa: E402 - after the path it is found on
    axis,
    column,
    grid,
    jsonl,
    month_name,
    non_empty,
    norm,
    pick,
    random_day,
    render,
    slot_fields,
    write_atomic,
)

SEED = 20251202
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/sql-multi"
QUOTA = {"train": 16, "dev": 12, "test": 10}  # fillings per family
MIN_FILLINGS = 6
MAX_ANSWER_ROWS = 60
PAGE_SIZE = 4096


def words(text: str) -> list[str]:
    """A list written as text: comma-separated when a value has spaces, else space-separated."""
    return text.split(", ") if ", " in text else text.split()


FIRST_NAMES = words(
    "Ava, Ben, Chloe, Daniel, Emma, Felix, Grace, Henry, Isla, Jack, Kara, Liam, Mia, Noah, "
    "Olivia, Paul, Quinn, Rosa, Sam, Tara, Uma, Victor, Wendy, Xavier, Yara, Zane, Nina, Omar, "
    "Leah, Ethan, Hugo, Iris, Jonah, Lena, Marco, Nadia"
)
LAST_NAMES = words(
    "Adams, Baker, Clark, Davis, Evans, Foster, Garcia, Harris, Irwin, Jones, Keller, Lopez, "
    "Morgan, Nguyen, Owens, Patel, Reed, Shaw, Turner, Vance, Walsh, Young, Brooks, Cruz, Diaz, "
    "Ellis, Fisher, Grant, Hayes, Kim, Lambert, Moreno, Novak, Price, Quinlan, Rossi"
)
MONTHS = "January February March April May June July August September October November December"
YEARS = ("2023", "2024")


# ---------------------------------------------------------------- generic helpers


def people(rng: random.Random, n: int) -> list[str]:
    """`n` distinct full names, so a name identifies one person in its table."""
    return rng.sample([f"{f} {la}" for f in FIRST_NAMES for la in LAST_NAMES], n)


def activity(rng: random.Random, n: int, idle: float) -> list[float]:
    """Weights for picking `n` entities: a share `idle` never picked (NOT EXISTS answers)."""
    return [0.0 if rng.random() < idle else 0.25 + rng.expovariate(1.0) for _ in range(n)]


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def numbered(rows: list[tuple]) -> list[tuple]:
    return [(i, *row) for i, row in enumerate(rows, 1)]


def date_ranges(rng: random.Random, n: int, start: date, end: date) -> list[dict]:
    out = []
    for _ in range(n):
        first = random_day(rng, start, end)
        out.append(
            {"start": first.isoformat(), "end": (first + timedelta(rng.randint(6, 60))).isoformat()}
        )
    return out


def common(name: str) -> dict[str, list[dict]]:
    """Slot axes every database shares; date ranges differ per database."""
    months = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    rng = random.Random(f"{SEED}-{name}-dates")
    return {
        "year": axis("year", YEARS),
        "month": [{"month": m, "month_name": month_name(m)} for m in months],
        "date_range": date_ranges(rng, 150, date(2023, 1, 1), date(2024, 11, 30)),
        "agg": [
            {"agg": "AVG", "agg_word": "average"},
            {"agg": "MIN", "agg_word": "lowest"},
            {"agg": "MAX", "agg_word": "highest"},
        ],
    }


# ---------------------------------------------------------------- families and databases


def zero_and_nonzero(rows: list[tuple]) -> bool:
    """LEFT JOIN counts: some group with none (why the LEFT JOIN matters) and some with some."""
    counts = [row[-1] for row in rows]
    return 0 in counts and any(c for c in counts)


@dataclass(frozen=True)
class Family:
    name: str
    shape: str  # the query's kind, shared across databases (see the module docstring)
    sql: str
    phrasings: tuple[str, ...]
    slots: Callable[[dict], list[dict]]
    check: Callable[[list[tuple]], bool] = non_empty


@dataclass(frozen=True)
class Database:
    name: str
    split: str  # the one split whose rows use this database
    schema: str
    tables: Callable[[random.Random], dict[str, list[tuple]]]
    context: Callable[[sqlite3.Connection], dict[str, list[dict]]]
    families: tuple[Family, ...]


# ---------------------------------------------------------------- library (train)

LIBRARY_SCHEMA = """
CREATE TABLE authors (
  author_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, nationality TEXT NOT NULL,
  birth_year INTEGER NOT NULL);
CREATE TABLE books (
  book_id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE,
  author_id INTEGER NOT NULL REFERENCES authors(author_id), genre TEXT NOT NULL,
  published_year INTEGER NOT NULL, pages INTEGER NOT NULL);
CREATE TABLE members (
  member_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, city TEXT NOT NULL,
  membership_type TEXT NOT NULL, join_date TEXT NOT NULL);
CREATE TABLE loans (
  loan_id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL REFERENCES books(book_id),
  member_id INTEGER NOT NULL REFERENCES members(member_id), loan_date TEXT NOT NULL,
  due_date TEXT NOT NULL, return_date TEXT);
"""
NATIONALITIES = words("American British Canadian French German Irish Japanese Nigerian")
GENRES = {
    "Fiction": 20, "Mystery": 14, "Science Fiction": 10, "Fantasy": 10, "History": 10,
    "Biography": 8, "Science": 10, "Poetry": 6, "Children": 10,
}  # fmt: skip
TITLE_WORDS = (
    words(
        "Silent Hidden Broken Golden Last Distant Burning Frozen Secret Wild Quiet Endless "
        "Forgotten Crimson Bright"
    ),
    words(
        "River Garden City Empire Forest Letter Island Mountain Kingdom Harbor Voyage Winter "
        "Station Mirror Orchard"
    ),
)
LIBRARY_CITIES = words(
    "Springfield Riverside Fairview Lakewood Greenville Oakdale Hillcrest Maplewood"
)
MEMBERSHIPS = {"standard": 50, "student": 25, "senior": 15, "premium": 10}


def library_tables(rng: random.Random) -> dict[str, list[tuple]]:
    authors = [
        (name, rng.choice(NATIONALITIES), rng.randint(1920, 1990)) for name in people(rng, 45)
    ]
    main_genre = [pick(rng, GENRES) for _ in authors]
    titles = [f"The {a} {n}" for a in TITLE_WORDS[0] for n in TITLE_WORDS[1]]
    prolific = [1 + (i % 5) for i in range(len(authors))]  # some authors write five times more
    books = []
    for title in rng.sample(titles, 180):
        aid = rng.choices(range(len(authors)), weights=prolific)[0]
        genre = main_genre[aid] if rng.random() < 0.7 else pick(rng, GENRES)
        year = rng.randint(min(authors[aid][2] + 25, 2023), 2023)
        books.append((title, aid + 1, genre, year, rng.randint(80, 850)))
    members = [
        (
            name,
            rng.choice(LIBRARY_CITIES),
            pick(rng, MEMBERSHIPS),
            random_day(rng, date(2018, 1, 1), date(2024, 6, 30)),
        )
        for name in people(rng, 160)
    ]
    loans = library_loans(rng, len(books), members)
    members_out = [(n, c, t, j.isoformat()) for n, c, t, j in members]
    return {
        "authors": numbered(authors),
        "books": numbered(books),
        "members": numbered(members_out),
        "loans": numbered(loans),
    }


def library_loans(rng: random.Random, n_books: int, members: list[tuple]) -> list[tuple]:
    book_w, member_w = activity(rng, n_books, 0.1), activity(rng, len(members), 0.1)
    drafts = []
    for _ in range(1000):
        mid = rng.choices(range(len(members)), weights=member_w)[0]
        loan = random_day(rng, max(members[mid][3], date(2023, 1, 1)), date(2024, 12, 31))
        due = loan + timedelta(days=21)
        back = loan + timedelta(days=rng.randint(2, 40))
        # lost books and loans still out at the end of 2024 have no return date
        lost = rng.random() < 0.05 or back > date(2024, 12, 31)
        book = rng.choices(range(n_books), weights=book_w)[0] + 1
        drafts.append(
            (loan.isoformat(), book, mid + 1, due.isoformat(), None if lost else back.isoformat())
        )
    drafts.sort(key=lambda d: d[:3])  # loan ids follow dates; a None return date never compares
    return [(book, mid, loan, due, back) for loan, book, mid, due, back in drafts]


def library_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    return {
        **common("library"),
        "genre": axis("genre", list(GENRES)),
        "since": axis("since", [1960, 1970, 1980, 1990, 2000, 2005, 2010, 2015, 2020]),
        "author": axis("author", column(conn, "SELECT name FROM authors ORDER BY 1")),
        "member": axis("member", column(conn, "SELECT name FROM members ORDER BY 1")),
        "nationality": axis("nationality", NATIONALITIES),
        "city": axis("city", LIBRARY_CITIES),
        "mtype": axis("mtype", list(MEMBERSHIPS)),
        "n": axis("n", [2, 3, 4]),
        "k": axis("k", range(4, 11)),
    }


J_BOOK = "JOIN books b ON l.book_id = b.book_id"
J_MEMBER = "JOIN members m ON l.member_id = m.member_id"
J_AUTHOR = "JOIN authors a ON b.author_id = a.author_id"
LOAN_YEAR = "strftime('%Y', l.loan_date) = '{year}'"

LIBRARY_FAMILIES = (
    Family(
        "count_genre_since",
        "count",
        "SELECT COUNT(*) FROM books WHERE genre = '{genre}' AND published_year >= {since}",
        (
            "How many {genre} books were published in {since} or later?",
            "Count the {genre} titles with a publication year of {since} or after.",
            "What is the number of books in the {genre} genre published since {since}?",
        ),
        lambda c: grid(c["genre"], c["since"]),
    ),
    Family(
        "books_by_author",
        "join",
        f"SELECT b.title, b.published_year FROM books b {J_AUTHOR} WHERE a.name = '{{author}}'",
        (
            "List the titles and publication years of the books written by {author}.",
            "Which books did {author} write, and in what year was each published?",
            "Show every book by {author} with its publication year.",
        ),
        lambda c: list(c["author"]),
    ),
    Family(
        "loans_membership_month",
        "date_filter",
        f"SELECT COUNT(*) FROM loans l {J_MEMBER} WHERE m.membership_type = '{{mtype}}' "
        "AND strftime('%Y-%m', l.loan_date) = '{month}'",
        (
            "How many loans did members with a {mtype} membership make in {month_name}?",
            "Count the {month_name} loans made by {mtype} members.",
            "In {month_name}, how many books were checked out by {mtype} members?",
        ),
        lambda c: grid(c["mtype"], c["month"]),
    ),
    Family(
        "pages_by_nationality",
        "aggregate",
        f"SELECT {{agg}}(b.pages) FROM books b {J_AUTHOR} "
        "WHERE b.genre = '{genre}' AND a.nationality = '{nationality}'",
        (
            "What is the {agg_word} page count of {genre} books by {nationality} authors?",
            "Among {genre} books written by {nationality} authors, what is the {agg_word} "
            "number of pages?",
        ),
        lambda c: grid(c["agg"], c["genre"], c["nationality"]),
    ),
    Family(
        "genre_loans_city",
        "group_by",
        f"SELECT b.genre, COUNT(*) FROM loans l {J_BOOK} {J_MEMBER} "
        f"WHERE m.city = '{{city}}' AND {LOAN_YEAR} GROUP BY b.genre",
        (
            "For each genre, how many loans did members from {city} make in {year}?",
            "Break down the {year} loans of members living in {city} by book genre, with the "
            "number of loans per genre.",
            "Count the loans by {city} members in {year} per genre.",
        ),
        lambda c: grid(c["city"], c["year"]),
    ),
    Family(
        "top_authors_pages",
        "top_n",
        f"SELECT a.name, SUM(b.pages) AS total_pages FROM books b {J_AUTHOR} "
        "WHERE b.genre = '{genre}' GROUP BY a.author_id, a.name ORDER BY total_pages DESC "
        "LIMIT {n}",
        (
            "Which {n} authors have written the most pages of {genre}? Show each author with "
            "the total page count.",
            "List the top {n} authors by total pages across their {genre} books, with the totals.",
        ),
        lambda c: grid(c["genre"], c["n"]),
    ),
    Family(
        "top_books_borrowed",
        "top_n",
        f"SELECT b.title, COUNT(*) AS times_borrowed FROM loans l {J_BOOK} "
        f"WHERE b.genre = '{{genre}}' AND {LOAN_YEAR} GROUP BY b.book_id, b.title "
        "ORDER BY times_borrowed DESC LIMIT {n}",
        (
            "What are the {n} most borrowed {genre} books of {year}, with how often each was "
            "borrowed?",
            "Show the {n} {genre} titles with the most loans in {year} and their loan counts.",
        ),
        lambda c: grid(c["genre"], c["year"], c["n"]),
    ),
    Family(
        "members_without_loans",
        "not_exists",
        "SELECT m.name FROM members m WHERE m.city = '{city}' AND m.membership_type = '{mtype}' "
        f"AND NOT EXISTS (SELECT 1 FROM loans l WHERE l.member_id = m.member_id AND {LOAN_YEAR})",
        (
            "Which {mtype} members from {city} borrowed nothing in {year}?",
            "List the members in {city} with a {mtype} membership who had no loans in {year}.",
            "Find {city} members of type {mtype} without a single loan during {year}.",
        ),
        lambda c: grid(c["city"], c["mtype"], c["year"]),
    ),
    Family(
        "frequent_borrowers",
        "having",
        "SELECT m.name, COUNT(*) FROM members m JOIN loans l ON l.member_id = m.member_id "
        f"WHERE m.membership_type = '{{mtype}}' AND {LOAN_YEAR} "
        "GROUP BY m.member_id, m.name HAVING COUNT(*) >= {k}",
        (
            "Which {mtype} members made at least {k} loans in {year}? Give each name and loan "
            "count.",
            "List {mtype} members with {k} or more loans during {year}, and how many loans each "
            "made.",
        ),
        lambda c: grid(c["mtype"], c["year"], c["k"]),
    ),
    Family(
        "late_returns_month",
        "date_filter",
        "SELECT COUNT(*) FROM loans WHERE return_date > due_date "
        "AND strftime('%Y-%m', loan_date) = '{month}'",
        (
            "How many loans made in {month_name} were returned after their due date?",
            "Count the {month_name} loans that came back late, after the due date.",
        ),
        lambda c: list(c["month"]),
    ),
    Family(
        "authors_recent_books",
        "left_join",
        "SELECT a.name, COUNT(b.book_id) FROM authors a LEFT JOIN books b ON b.author_id = "
        "a.author_id AND b.published_year >= {since} WHERE a.nationality = '{nationality}' "
        "GROUP BY a.author_id, a.name",
        (
            "For every {nationality} author, how many of their books were published in {since} "
            "or later? Include authors with none.",
            "List all {nationality} authors with their number of books published since {since}, "
            "showing 0 for authors without any.",
        ),
        lambda c: grid(c["nationality"], c["since"]),
        zero_and_nonzero,
    ),
    Family(
        "unreturned_by_member",
        "null_filter",
        f"SELECT b.title, l.loan_date FROM loans l {J_BOOK} {J_MEMBER} "
        "WHERE m.name = '{member}' AND l.return_date IS NULL",
        (
            "Which books has {member} borrowed and not returned yet, and when was each borrowed?",
            "List the titles {member} still has on loan (no return date), with the loan dates.",
        ),
        lambda c: list(c["member"]),
    ),
)


# ---------------------------------------------------------------- clinic (train)

CLINIC_SCHEMA = """
CREATE TABLE departments (
  department_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, floor INTEGER NOT NULL);
CREATE TABLE doctors (
  doctor_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  department_id INTEGER NOT NULL REFERENCES departments(department_id),
  hire_date TEXT NOT NULL);
CREATE TABLE patients (
  patient_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, birth_date TEXT NOT NULL,
  gender TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE appointments (
  appointment_id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patients(patient_id),
  doctor_id INTEGER NOT NULL REFERENCES doctors(doctor_id), appointment_date TEXT NOT NULL,
  status TEXT NOT NULL, fee REAL NOT NULL);
"""
# department -> base fee of a completed appointment
DEPARTMENTS = {
    "Cardiology": 220, "Dermatology": 140, "Neurology": 240, "Orthopedics": 190,
    "Pediatrics": 110, "Oncology": 260, "Radiology": 170, "General Medicine": 90,
}  # fmt: skip
CLINIC_CITIES = words("Ashton Brookfield Carver Dunmore Elmwood Fulton Granger Holloway")
APPOINTMENT_STATUS = {"completed": 80, "cancelled": 12, "no-show": 8}
GENDERS = [{"gender": "F", "gender_word": "female"}, {"gender": "M", "gender_word": "male"}]


def clinic_tables(rng: random.Random) -> dict[str, list[tuple]]:
    departments = [(name, rng.randint(1, 5)) for name in DEPARTMENTS]
    doctors = []
    for i, name in enumerate(people(rng, 30)):
        dept = i % len(DEPARTMENTS) + 1 if i < 16 else rng.randint(1, len(DEPARTMENTS))
        doctors.append(
            (name, dept, random_day(rng, date(2005, 1, 1), date(2024, 6, 30)).isoformat())
        )
    patients = [
        (
            n,
            random_day(rng, date(1935, 1, 1), date(2022, 12, 31)).isoformat(),
            rng.choice("FM"),
            rng.choice(CLINIC_CITIES),
        )
        for n in people(rng, 320)
    ]
    return {
        "departments": numbered(departments),
        "doctors": numbered(doctors),
        "patients": numbered(patients),
        "appointments": numbered(clinic_appointments(rng, doctors, len(patients))),
    }


def clinic_appointments(rng: random.Random, doctors: list[tuple], n_patients: int) -> list[tuple]:
    doctor_w, patient_w = activity(rng, len(doctors), 0.1), activity(rng, n_patients, 0.08)
    fees = list(DEPARTMENTS.values())
    drafts = []
    for _ in range(1600):
        did = rng.choices(range(len(doctors)), weights=doctor_w)[0]
        first = max(date.fromisoformat(doctors[did][2]), date(2023, 1, 1))
        when = random_day(rng, first, date(2024, 12, 31)).isoformat()
        status = pick(rng, APPOINTMENT_STATUS)
        base = fees[doctors[did][1] - 1]
        fee = {"completed": round(base * rng.uniform(0.8, 1.3), 2), "no-show": 25.0}.get(
            status, 0.0
        )
        pid = rng.choices(range(n_patients), weights=patient_w)[0] + 1
        drafts.append((when, pid, did + 1, status, fee))
    drafts.sort()
    return [(pid, did, when, status, fee) for when, pid, did, status, fee in drafts]


def clinic_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    return {
        **common("clinic"),
        "dept": axis("dept", list(DEPARTMENTS)),
        "status": axis("status", list(APPOINTMENT_STATUS)),
        "city": axis("city", CLINIC_CITIES),
        "gender": GENDERS,
        "born": axis("born", range(1950, 2021, 10)),
        "hired": axis("hired", range(2008, 2025)),
        "patient": axis("patient", column(conn, "SELECT name FROM patients ORDER BY 1")),
        "n": axis("n", [3, 4, 5]),
        "k": axis("k", [3, 4, 5]),
    }


J_DOC = "JOIN doctors d ON ap.doctor_id = d.doctor_id"
J_DEPT = "JOIN departments dep ON d.department_id = dep.department_id"
AP_YEAR = "strftime('%Y', ap.appointment_date) = '{year}'"
AP_MONTH = "strftime('%Y-%m', ap.appointment_date) = '{month}'"

CLINIC_FAMILIES = (
    Family(
        "appointments_dept_status",
        "count",
        f"SELECT COUNT(*) FROM appointments ap {J_DOC} {J_DEPT} "
        f"WHERE dep.name = '{{dept}}' AND ap.status = '{{status}}' AND {AP_YEAR}",
        (
            "How many {dept} appointments in {year} had the status {status}?",
            "Count the {status} appointments with {dept} doctors during {year}.",
            "What is the number of appointments in the {dept} department in {year} whose status "
            "is {status}?",
        ),
        lambda c: grid(c["dept"], c["status"], c["year"]),
    ),
    Family(
        "doctors_hired_before",
        "join",
        f"SELECT d.name, d.hire_date FROM doctors d {J_DEPT} "
        "WHERE dep.name = '{dept}' AND d.hire_date < '{hired}-01-01'",
        (
            "Which {dept} doctors were hired before {hired}? Show their hire dates.",
            "List the doctors of the {dept} department hired before the start of {hired}, with "
            "the date each was hired.",
        ),
        lambda c: grid(c["dept"], c["hired"]),
    ),
    Family(
        "patients_city_born",
        "count",
        "SELECT COUNT(*) FROM patients WHERE city = '{city}' AND gender = '{gender}' "
        "AND birth_date < '{born}-01-01'",
        (
            "How many {gender_word} patients from {city} were born before {born}?",
            "Count the {gender_word} patients living in {city} with a birth date before {born}.",
            "What is the number of {gender_word} patients in {city} born earlier than {born}?",
        ),
        lambda c: grid(c["city"], c["gender"], c["born"]),
    ),
    Family(
        "fee_by_department",
        "aggregate",
        f"SELECT {{agg}}(ap.fee) FROM appointments ap {J_DOC} {J_DEPT} "
        f"WHERE dep.name = '{{dept}}' AND ap.status = 'completed' AND {AP_YEAR}",
        (
            "What was the {agg_word} fee of completed {dept} appointments in {year}?",
            "Find the {agg_word} fee charged for completed appointments in the {dept} "
            "department during {year}.",
        ),
        lambda c: grid(c["agg"], c["dept"], c["year"]),
    ),
    Family(
        "appointments_per_department",
        "group_by",
        f"SELECT dep.name, COUNT(*) FROM appointments ap {J_DOC} {J_DEPT} "
        f"WHERE {AP_MONTH} GROUP BY dep.name",
        (
            "How many appointments did each department have in {month_name}?",
            "Show the number of appointments per department for {month_name}.",
            "Break down the {month_name} appointments by department.",
        ),
        lambda c: list(c["month"]),
    ),
    Family(
        "top_doctors_fees",
        "top_n",
        f"SELECT d.name, SUM(ap.fee) AS total_fees FROM appointments ap {J_DOC} "
        f"WHERE ap.status = 'completed' AND {AP_MONTH} GROUP BY d.doctor_id, d.name "
        "ORDER BY total_fees DESC LIMIT {n}",
        (
            "Which {n} doctors earned the most in fees from completed appointments in "
            "{month_name}? Include their totals.",
            "List the top {n} doctors by total fees of completed appointments in {month_name}, "
            "with each total.",
        ),
        lambda c: grid(c["month"], c["n"]),
    ),
    Family(
        "patients_no_completed_visit",
        "not_exists",
        "SELECT p.name FROM patients p WHERE p.city = '{city}' AND p.gender = '{gender}' "
        "AND NOT EXISTS (SELECT 1 FROM appointments ap WHERE ap.patient_id = p.patient_id "
        f"AND ap.status = 'completed' AND {AP_YEAR})",
        (
            "Which {gender_word} patients from {city} had no completed appointment in {year}?",
            "List {gender_word} patients living in {city} without any completed appointment "
            "during {year}.",
        ),
        lambda c: grid(c["city"], c["gender"], c["year"]),
    ),
    Family(
        "doctors_many_patients",
        "having",
        f"SELECT d.name FROM doctors d JOIN appointments ap ON ap.doctor_id = d.doctor_id "
        f"WHERE ap.status = 'completed' AND {AP_MONTH} GROUP BY d.doctor_id, d.name "
        "HAVING COUNT(DISTINCT ap.patient_id) >= {k}",
        (
            "Which doctors saw at least {k} different patients in completed appointments in "
            "{month_name}?",
            "List the doctors with completed appointments for {k} or more distinct patients "
            "during {month_name}.",
        ),
        lambda c: grid(c["month"], c["k"]),
    ),
    Family(
        "status_in_range",
        "date_filter",
        "SELECT COUNT(*) FROM appointments WHERE status = '{status}' "
        "AND appointment_date BETWEEN '{start}' AND '{end}'",
        (
            "How many appointments between {start} and {end} (inclusive) were {status}?",
            "Count the {status} appointments dated from {start} through {end}.",
        ),
        lambda c: grid(c["status"], c["date_range"]),
    ),
    Family(
        "recent_hires_per_department",
        "left_join",
        "SELECT dep.name, COUNT(d.doctor_id) FROM departments dep LEFT JOIN doctors d ON "
        "d.department_id = dep.department_id AND d.hire_date >= '{hired}-01-01' "
        "GROUP BY dep.department_id, dep.name",
        (
            "For each department, how many doctors were hired in {hired} or later? Include "
            "departments with none.",
            "List every department with its number of doctors hired since the start of {hired}, "
            "showing 0 where there are none.",
        ),
        lambda c: list(c["hired"]),
        zero_and_nonzero,
    ),
    Family(
        "doctors_of_patient",
        "join",
        f"SELECT DISTINCT d.name, dep.name FROM appointments ap {J_DOC} {J_DEPT} "
        "JOIN patients p ON ap.patient_id = p.patient_id WHERE p.name = '{patient}'",
        (
            "Which doctors has {patient} had appointments with, and in which department does "
            "each work?",
            "List the doctors (with their departments) that patient {patient} has booked, "
            "without duplicates.",
        ),
        lambda c: list(c["patient"]),
    ),
)


# ---------------------------------------------------------------- airline (train)

AIRLINE_SCHEMA = """
CREATE TABLE airports (
  airport_code TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, city TEXT NOT NULL,
  country TEXT NOT NULL);
CREATE TABLE flights (
  flight_id INTEGER PRIMARY KEY, flight_number TEXT NOT NULL,
  origin_code TEXT NOT NULL REFERENCES airports(airport_code),
  destination_code TEXT NOT NULL REFERENCES airports(airport_code),
  departure_date TEXT NOT NULL, duration_minutes INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE passengers (
  passenger_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, nationality TEXT NOT NULL,
  loyalty_tier TEXT NOT NULL);
CREATE TABLE bookings (
  booking_id INTEGER PRIMARY KEY, flight_id INTEGER NOT NULL REFERENCES flights(flight_id),
  passenger_id INTEGER NOT NULL REFERENCES passengers(passenger_id),
  booking_date TEXT NOT NULL, seat_class TEXT NOT NULL, price REAL NOT NULL);
"""
AIRPORTS = (
    ("SEA", "Seattle-Tacoma International", "Seattle", "United States"),
    ("PDX", "Portland International", "Portland", "United States"),
    ("SFO", "San Francisco International", "San Francisco", "United States"),
    ("LAX", "Los Angeles International", "Los Angeles", "United States"),
    ("DEN", "Denver International", "Denver", "United States"),
    ("MDW", "Chicago Midway International", "Chicago", "United States"),
    ("JFK", "John F. Kennedy International", "New York", "United States"),
    ("BOS", "Logan International", "Boston", "United States"),
    ("YVR", "Vancouver International", "Vancouver", "Canada"),
    ("YYZ", "Toronto Pearson International", "Toronto", "Canada"),
    ("YUL", "Montreal-Trudeau International", "Montreal", "Canada"),
    ("MEX", "Mexico City International", "Mexico City", "Mexico"),
    ("CUN", "Cancun International", "Cancun", "Mexico"),
    ("LHR", "London Heathrow", "London", "United Kingdom"),
    ("MAN", "Manchester Airport", "Manchester", "United Kingdom"),
    ("DUB", "Dublin Airport", "Dublin", "Ireland"),
)
PASSENGER_NATIONALITIES = words("American Canadian Mexican British Irish German French Japanese")
TIERS = {"basic": 60, "silver": 25, "gold": 15}
FLIGHT_STATUS = {"on time": 80, "delayed": 15, "cancelled": 5}
SEAT_CLASSES = {"economy": 75, "business": 20, "first": 5}  # value: share of bookings
CLASS_PRICE = {"economy": 1.0, "business": 2.8, "first": 5.0}


def airline_tables(rng: random.Random) -> dict[str, list[tuple]]:
    codes = [a[0] for a in AIRPORTS]
    pairs = rng.sample([(o, d) for o in codes for d in codes if o != d], 40)
    routes = [(f"TL{101 + i}", o, d, rng.randint(55, 540)) for i, (o, d) in enumerate(pairs)]
    route_w = [rng.uniform(0.5, 2.0) for _ in routes]
    seen, flights = set(), []
    while len(flights) < 420:
        number, origin, dest, minutes = rng.choices(routes, weights=route_w)[0]
        when = random_day(rng, date(2023, 1, 1), date(2024, 12, 31)).isoformat()
        status = pick(rng, FLIGHT_STATUS)
        if (number, when) not in seen:  # a flight number flies once a day
            seen.add((number, when))
            flights.append((when, number, origin, dest, minutes, status))
    flights.sort()
    flights = [(num, o, d, when, mins, st) for when, num, o, d, mins, st in flights]
    passengers = [
        (name, rng.choice(PASSENGER_NATIONALITIES), pick(rng, TIERS)) for name in people(rng, 260)
    ]
    return {
        "airports": list(AIRPORTS),
        "flights": numbered(flights),
        "passengers": numbered(passengers),
        "bookings": numbered(airline_bookings(rng, flights, len(passengers))),
    }


def airline_bookings(rng: random.Random, flights: list[tuple], n_passengers: int) -> list[tuple]:
    flight_w, passenger_w = activity(rng, len(flights), 0.05), activity(rng, n_passengers, 0.07)
    seen, drafts = set(), []
    for _ in range(1800):
        fid = rng.choices(range(len(flights)), weights=flight_w)[0]
        pid = rng.choices(range(n_passengers), weights=passenger_w)[0]
        seat = pick(rng, SEAT_CLASSES)
        booked = date.fromisoformat(flights[fid][3]) - timedelta(days=rng.randint(0, 120))
        base = 40 + 0.25 * flights[fid][4]
        price = round(base * CLASS_PRICE[seat] * rng.uniform(0.85, 1.25), 2)
        if (fid, pid) not in seen:
            seen.add((fid, pid))
            drafts.append((booked.isoformat(), fid + 1, pid + 1, seat, price))
    drafts.sort()
    return [(fid, pid, booked, seat, price) for booked, fid, pid, seat, price in drafts]


def airline_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    flights = conn.execute("SELECT flight_number, departure_date FROM flights ORDER BY flight_id")
    return {
        **common("airline"),
        "city": axis("city", [a[2] for a in AIRPORTS]),
        "airport": axis("airport", [a[1] for a in AIRPORTS]),
        "country": axis("country", ["United States", "Canada", "Mexico", "United Kingdom"]),
        "seat_class": axis("seat_class", list(SEAT_CLASSES)),
        "premium_class": axis("seat_class", ["business", "first"]),
        "nationality": axis("nationality", PASSENGER_NATIONALITIES),
        "tier": axis("tier", list(TIERS)),
        "flight_number": axis(
            "flight_number", column(conn, "SELECT DISTINCT flight_number FROM flights ORDER BY 1")
        ),
        "flight": [{"flight_number": num, "date": when} for num, when in flights],
        "late_status": axis("status", ["delayed", "cancelled"]),
        "n": axis("n", [3, 4, 5]),
        "k": axis("k", range(2, 9)),
        "days": axis("days", [3, 7, 14, 30]),
    }


J_FLIGHT = "JOIN flights f ON b.flight_id = f.flight_id"
J_ORIGIN = "JOIN airports a ON f.origin_code = a.airport_code"
DEP_YEAR = "strftime('%Y', f.departure_date) = '{year}'"
DEP_MONTH = "strftime('%Y-%m', f.departure_date) = '{month}'"

AIRLINE_FAMILIES = (
    Family(
        "departures_city_month",
        "count",
        f"SELECT COUNT(*) FROM flights f {J_ORIGIN} WHERE a.city = '{{city}}' AND {DEP_MONTH}",
        (
            "How many flights departed from {city} in {month_name}?",
            "Count the flights leaving {city} during {month_name}.",
            "What is the number of departures from {city} in {month_name}?",
        ),
        lambda c: grid(c["city"], c["month"]),
    ),
    Family(
        "destinations_from_airport",
        "self_join",
        "SELECT DISTINCT dst.city FROM flights f JOIN airports org ON f.origin_code = "
        "org.airport_code JOIN airports dst ON f.destination_code = dst.airport_code "
        f"WHERE org.name = '{{airport}}' AND {DEP_YEAR}",
        (
            "To which cities were there flights from {airport} in {year}?",
            "List the destination cities of flights departing {airport} during {year}, each once.",
        ),
        lambda c: grid(c["airport"], c["year"]),
    ),
    Family(
        "fare_by_origin",
        "aggregate",
        f"SELECT {{agg}}(b.price) FROM bookings b {J_FLIGHT} {J_ORIGIN} "
        "WHERE b.seat_class = '{seat_class}' AND a.city = '{city}'",
        (
            "What is the {agg_word} {seat_class} fare booked on flights departing {city}?",
            "Find the {agg_word} price of {seat_class} bookings for flights out of {city}.",
        ),
        lambda c: grid(c["agg"], c["seat_class"], c["city"]),
    ),
    Family(
        "bookings_per_class",
        "group_by",
        f"SELECT b.seat_class, COUNT(*) FROM bookings b {J_FLIGHT} "
        f"WHERE f.flight_number = '{{flight_number}}' AND {DEP_YEAR} GROUP BY b.seat_class",
        (
            "For flight number {flight_number} in {year}, how many bookings were there in each "
            "seat class?",
            "Count the {year} bookings on flight {flight_number} per seat class.",
            "Break down the bookings for flight {flight_number} departing in {year} by seat class.",
        ),
        lambda c: grid(c["flight_number"], c["year"]),
    ),
    Family(
        "top_spending_passengers",
        "top_n",
        "SELECT p.name, SUM(b.price) AS total_spent FROM bookings b JOIN passengers p ON "
        "b.passenger_id = p.passenger_id WHERE p.nationality = '{nationality}' AND "
        "strftime('%Y', b.booking_date) = '{year}' GROUP BY p.passenger_id, p.name "
        "ORDER BY total_spent DESC LIMIT {n}",
        (
            "Which {n} {nationality} passengers spent the most on bookings made in {year}? "
            "Show how much each spent.",
            "List the top {n} {nationality} passengers by the total price of their {year} "
            "bookings, with the totals.",
        ),
        lambda c: grid(c["nationality"], c["year"], c["n"]),
    ),
    Family(
        "never_booked_class",
        "not_exists",
        "SELECT p.name FROM passengers p WHERE p.loyalty_tier = '{tier}' AND p.nationality = "
        "'{nationality}' AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.passenger_id = "
        "p.passenger_id AND b.seat_class = '{seat_class}')",
        (
            "Which {tier}-tier {nationality} passengers have never booked a {seat_class} seat?",
            "List the {nationality} passengers with {tier} loyalty status who have no "
            "{seat_class} booking.",
        ),
        lambda c: grid(c["tier"], c["nationality"], c["premium_class"]),
    ),
    Family(
        "airports_with_disruptions",
        "having",
        f"SELECT a.name, COUNT(*) FROM airports a JOIN flights f ON f.origin_code = "
        f"a.airport_code WHERE f.status = '{{status}}' AND {DEP_YEAR} "
        "GROUP BY a.airport_code, a.name HAVING COUNT(*) >= {k}",
        (
            "Which airports had at least {k} {status} departures in {year}? Show the number for "
            "each.",
            "List airports with {k} or more {status} departing flights during {year}, with "
            "their counts.",
        ),
        lambda c: grid(c["late_status"], c["year"], c["k"]),
    ),
    Family(
        "late_bookings_month",
        "date_filter",
        f"SELECT COUNT(*) FROM bookings b {J_FLIGHT} WHERE julianday(f.departure_date) - "
        f"julianday(b.booking_date) <= {{days}} AND {DEP_MONTH}",
        (
            "How many bookings for flights departing in {month_name} were made at most {days} "
            "days before departure?",
            "Count the bookings on {month_name} flights that were booked {days} days or fewer "
            "before the departure date.",
        ),
        lambda c: grid(c["month"], c["days"]),
    ),
    Family(
        "passengers_on_flight",
        "join",
        f"SELECT p.name, b.seat_class FROM bookings b JOIN passengers p ON b.passenger_id = "
        f"p.passenger_id {J_FLIGHT} WHERE f.flight_number = '{{flight_number}}' "
        "AND f.departure_date = '{date}'",
        (
            "Who is booked on flight {flight_number} on {date}, and in which seat class?",
            "List the passengers and their seat classes for flight {flight_number} departing "
            "{date}.",
        ),
        lambda c: list(c["flight"]),
    ),
    Family(
        "arrivals_per_airport",
        "left_join",
        "SELECT a.name, COUNT(f.flight_id) FROM airports a LEFT JOIN flights f ON "
        f"f.destination_code = a.airport_code AND {DEP_MONTH} WHERE a.country = '{{country}}' "
        "GROUP BY a.airport_code, a.name",
        (
            "For each airport in {country}, how many flights arrived in {month_name}? Include "
            "airports with no arrivals.",
            "List every {country} airport with its number of arriving flights in {month_name}, "
            "showing 0 where there were none.",
        ),
        lambda c: grid(c["country"], c["month"]),
        zero_and_nonzero,
    ),
)


# ---------------------------------------------------------------- school (dev)

SCHOOL_SCHEMA = """
CREATE TABLE teachers (
  teacher_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, department TEXT NOT NULL,
  hire_year INTEGER NOT NULL);
CREATE TABLE courses (
  course_id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE,
  teacher_id INTEGER NOT NULL REFERENCES teachers(teacher_id), level TEXT NOT NULL,
  credits INTEGER NOT NULL);
CREATE TABLE students (
  student_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, grade_level INTEGER NOT NULL,
  advisor_id INTEGER NOT NULL REFERENCES teachers(teacher_id), admission_date TEXT NOT NULL);
CREATE TABLE enrollments (
  enrollment_id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL REFERENCES students(student_id),
  course_id INTEGER NOT NULL REFERENCES courses(course_id), term TEXT NOT NULL,
  enrolled_on TEXT NOT NULL, final_score INTEGER);
"""
COURSES = {
    "Mathematics": "Algebra I, Geometry, Algebra II, Precalculus, Calculus, Statistics",
    "Science": "Biology, Chemistry, Physics, Earth Science, Environmental Science, Anatomy",
    "English": "English 9, English 10, American Literature, British Literature, "
    "Creative Writing, Journalism",
    "History": "World History, US History, Government, Economics, European History, Psychology",
    "Arts": "Drawing, Painting, Ceramics, Choir, Band, Theater",
    "Languages": "Spanish I, Spanish II, French I, French II, German I, Latin",
    "Computing": "Intro to Programming, Web Design, Data Science, Robotics, "
    "Computer Science Principles, Cybersecurity",
}
LEVELS = {"introductory": 40, "intermediate": 35, "advanced": 25}
# term -> first day of classes; Fall 2024 is in progress, so it has no final scores yet
TERMS = {
    "Fall 2023": date(2023, 9, 5),
    "Spring 2024": date(2024, 1, 16),
    "Fall 2024": date(2024, 9, 3),
}
GRADED_TERMS = ("Fall 2023", "Spring 2024")


def school_tables(rng: random.Random) -> dict[str, list[tuple]]:
    depts = list(COURSES)
    teachers = [
        (name, depts[i % len(depts)] if i < 14 else rng.choice(depts), rng.randint(1995, 2023))
        for i, name in enumerate(people(rng, 24))
    ]
    courses = []
    for dept, titles in COURSES.items():
        staff = [i + 1 for i, t in enumerate(teachers) if t[1] == dept]
        for title in titles.split(", "):
            courses.append((title, rng.choice(staff), pick(rng, LEVELS), rng.randint(2, 5)))
    students = []
    for name in people(rng, 320):
        grade = rng.randint(9, 12)
        admitted = date(2024 - (grade - 9), 8, rng.randint(19, 30))
        if grade > 9 and rng.random() < 0.25:  # transfer students join later
            admitted = random_day(rng, admitted + timedelta(days=30), date(2024, 6, 30))
        students.append((name, grade, rng.randint(1, len(teachers)), admitted.isoformat()))
    return {
        "teachers": numbered(teachers),
        "courses": numbered(courses),
        "students": numbered(students),
        "enrollments": numbered(school_enrollments(rng, students, len(courses))),
    }


def school_enrollments(rng: random.Random, students: list[tuple], n_courses: int) -> list[tuple]:
    course_w = [rng.uniform(0.3, 2.0) for _ in range(n_courses)]
    drafts = []
    for sid, student in enumerate(students, 1):
        for term, start in TERMS.items():
            if date.fromisoformat(student[3]) > start:
                continue
            k = rng.choices([0, 1, 2, 3], weights=[20, 30, 30, 20])[0]
            chosen = sorted({rng.choices(range(n_courses), weights=course_w)[0] for _ in range(k)})
            for cid in chosen:
                score = min(100, max(30, int(rng.gauss(76, 12))))
                withdrawn = term not in GRADED_TERMS or rng.random() < 0.04
                enrolled = (start - timedelta(days=rng.randint(0, 20))).isoformat()
                drafts.append((enrolled, sid, cid + 1, term, None if withdrawn else score))
    drafts.sort(key=lambda d: d[:3])
    return [(sid, cid, term, enrolled, score) for enrolled, sid, cid, term, score in drafts]


def school_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    rng = random.Random(f"{SEED}-school-admissions")
    return {
        **common("school"),
        "dept": axis("dept", list(COURSES)),
        "level": axis("level", list(LEVELS)),
        "grade": axis("grade", [9, 10, 11, 12]),
        "term": axis("term", list(TERMS)),
        "graded_term": axis("term", GRADED_TERMS),
        "course": axis("course", column(conn, "SELECT title FROM courses ORDER BY 1")),
        "teacher": axis("teacher", column(conn, "SELECT name FROM teachers ORDER BY 1")),
        "student": axis("student", column(conn, "SELECT name FROM students ORDER BY 1")),
        "admission_range": date_ranges(rng, 150, date(2021, 1, 1), date(2024, 6, 30)),
        "score": axis("score", [70, 80, 90]),
        "n": axis("n", [2, 3, 5]),
        "k": axis("k", range(10, 19)),
    }


J_COURSE = "JOIN courses c ON e.course_id = c.course_id"
J_TEACHER = "JOIN teachers t ON c.teacher_id = t.teacher_id"
J_STUDENT = "JOIN students s ON e.student_id = s.student_id"

SCHOOL_FAMILIES = (
    Family(
        "students_by_advisor_department",
        "count",
        "SELECT COUNT(*) FROM students s JOIN teachers t ON s.advisor_id = t.teacher_id "
        "WHERE s.grade_level = {grade} AND t.department = '{dept}'",
        (
            "How many grade {grade} students have an advisor from the {dept} department?",
            "Count the students in grade {grade} whose advisor teaches in {dept}.",
            "What is the number of grade-{grade} students advised by {dept} teachers?",
        ),
        lambda c: grid(c["grade"], c["dept"]),
    ),
    Family(
        "courses_by_department_level",
        "join",
        f"SELECT c.title, t.name FROM courses c {J_TEACHER} "
        "WHERE t.department = '{dept}' AND c.level = '{level}'",
        (
            "Which {level} courses does the {dept} department offer, and who teaches each?",
            "List the {level}-level {dept} courses with the name of each course's teacher.",
        ),
        lambda c: grid(c["dept"], c["level"]),
    ),
    Family(
        "score_by_course_term",
        "aggregate",
        f"SELECT {{agg}}(e.final_score) FROM enrollments e {J_COURSE} "
        "WHERE c.title = '{course}' AND e.term = '{term}'",
        (
            "What was the {agg_word} final score in {course} in {term}?",
            "Find the {agg_word} final score of students taking {course} during {term}.",
        ),
        lambda c: grid(c["agg"], c["course"], c["graded_term"]),
    ),
    Family(
        "enrollments_per_term",
        "group_by",
        f"SELECT e.term, COUNT(*) FROM enrollments e {J_COURSE} {J_TEACHER} "
        "WHERE t.name = '{teacher}' GROUP BY e.term",
        (
            "How many enrollments did the courses taught by {teacher} have in each term?",
            "For every term, count the enrollments in {teacher}'s courses.",
        ),
        lambda c: list(c["teacher"]),
    ),
    Family(
        "top_students_average",
        "top_n",
        f"SELECT s.name, AVG(e.final_score) AS avg_score FROM enrollments e {J_STUDENT} "
        "WHERE s.grade_level = {grade} AND e.term = '{term}' GROUP BY s.student_id, s.name "
        "ORDER BY avg_score DESC LIMIT {n}",
        (
            "Which {n} grade {grade} students had the highest average final score in {term}? "
            "Show each average.",
            "List the top {n} students of grade {grade} by average final score for {term}, "
            "with their averages.",
        ),
        lambda c: grid(c["grade"], c["graded_term"], axis("n", [2, 3, 4, 5, 6])),
    ),
    Family(
        "advisees_not_enrolled",
        "not_exists",
        "SELECT s.name FROM students s JOIN teachers t ON s.advisor_id = t.teacher_id "
        "WHERE t.name = '{teacher}' AND NOT EXISTS (SELECT 1 FROM enrollments e "
        "WHERE e.student_id = s.student_id AND e.term = '{term}')",
        (
            "Which students advised by {teacher} were not enrolled in any course in {term}?",
            "List {teacher}'s advisees who have no enrollment for {term}.",
        ),
        lambda c: grid(c["teacher"], c["term"]),
    ),
    Family(
        "popular_courses",
        "having",
        "SELECT c.title, COUNT(*) FROM courses c JOIN enrollments e ON e.course_id = "
        "c.course_id WHERE e.term = '{term}' GROUP BY c.course_id, c.title HAVING COUNT(*) >= {k}",
        (
            "Which courses had at least {k} enrollments in {term}? Give each title and count.",
            "List the courses with {k} or more students enrolled in {term}, and their "
            "enrollment counts.",
        ),
        lambda c: grid(c["term"], c["k"]),
    ),
    Family(
        "ungraded_enrollments",
        "null_filter",
        f"SELECT COUNT(*) FROM enrollments e {J_STUDENT} {J_COURSE} {J_TEACHER} "
        "WHERE e.final_score IS NULL AND s.grade_level = {grade} AND t.department = '{dept}'",
        (
            "How many enrollments of grade {grade} students in {dept} courses have no final score?",
            "Count the grade-{grade} enrollments in courses of the {dept} department whose "
            "final score is missing.",
        ),
        lambda c: grid(c["grade"], c["dept"]),
    ),
    Family(
        "admissions_in_range",
        "date_filter",
        "SELECT COUNT(*) FROM students WHERE admission_date BETWEEN '{start}' AND '{end}'",
        (
            "How many students were admitted between {start} and {end}, inclusive?",
            "Count the students whose admission date falls from {start} through {end}.",
        ),
        lambda c: list(c["admission_range"]),
    ),
    Family(
        "teachers_course_load",
        "left_join",
        "SELECT t.name, COUNT(c.course_id) FROM teachers t LEFT JOIN courses c ON "
        "c.teacher_id = t.teacher_id AND c.level = '{level}' WHERE t.department = '{dept}' "
        "GROUP BY t.teacher_id, t.name",
        (
            "For each {dept} teacher, how many {level} courses do they teach? Include teachers "
            "with none.",
            "List every teacher in the {dept} department with their number of {level} courses, "
            "showing 0 for those without any.",
        ),
        lambda c: grid(c["dept"], c["level"]),
        zero_and_nonzero,
    ),
    Family(
        "student_high_scores",
        "join",
        f"SELECT c.title, e.final_score FROM enrollments e {J_COURSE} {J_STUDENT} "
        "WHERE s.name = '{student}' AND e.final_score >= {score}",
        (
            "In which courses did {student} get a final score of {score} or more, and what "
            "were the scores?",
            "List the courses where {student} scored at least {score}, with the final scores.",
        ),
        lambda c: grid(c["student"], c["score"]),
    ),
)


# ---------------------------------------------------------------- warehouse (test)

WAREHOUSE_SCHEMA = """
CREATE TABLE suppliers (
  supplier_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, country TEXT NOT NULL);
CREATE TABLE items (
  item_id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL, supplier_id INTEGER NOT NULL REFERENCES suppliers(supplier_id),
  unit_cost REAL NOT NULL);
CREATE TABLE warehouses (
  warehouse_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, city TEXT NOT NULL);
CREATE TABLE stock (
  warehouse_id INTEGER NOT NULL REFERENCES warehouses(warehouse_id),
  item_id INTEGER NOT NULL REFERENCES items(item_id), quantity INTEGER NOT NULL,
  PRIMARY KEY (warehouse_id, item_id));
CREATE TABLE shipments (
  shipment_id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(item_id),
  warehouse_id INTEGER NOT NULL REFERENCES warehouses(warehouse_id), direction TEXT NOT NULL,
  quantity INTEGER NOT NULL, shipped_on TEXT NOT NULL);
"""
SUPPLIER_WORDS = (
    words(
        "Acme Northwind Blue-Ridge Summit Harbor Pioneer Granite Evergreen Silverline Redwood "
        "Keystone Lakeside"
    ),
    words("Supply Industries Trading Goods Manufacturing Wholesale"),
)
SUPPLIER_COUNTRIES = words("United States, Canada, Mexico, Germany, China, Vietnam, India")
# category -> (lowest, highest) unit cost, item kinds
ITEM_KINDS = {
    "Fasteners": ((0.2, 4), "Hex Bolt, Wood Screw, Wall Anchor, Lock Washer, Carriage Bolt, Rivet"),
    "Tools": ((6, 80), "Claw Hammer, Tape Measure, Utility Knife, Socket Set, Pliers, "
              "Spirit Level"),
    "Electrical": ((1, 45), "Extension Cord, Wire Nut, Circuit Breaker, Light Switch, "
                   "Outlet Cover, Cable Tie"),
    "Plumbing": ((1, 40), "PVC Pipe, Ball Valve, Pipe Wrench, Faucet Washer, Drain Trap, "
                 "Hose Clamp"),
    "Paint": ((2, 35), "Paint Roller, Primer, Masking Tape, Paint Brush, Drop Cloth, Wood Stain"),
    "Safety": ((1, 30), "Safety Glasses, Work Gloves, Hard Hat, Ear Plugs, Dust Mask, Safety Vest"),
    "Packaging": ((0.5, 20), "Shipping Box, Bubble Wrap, Packing Tape, Pallet Wrap, "
                  "Mailer Envelope, Foam Insert"),
    "Lighting": ((2, 60), "LED Bulb, Work Light, Flashlight, Floodlight, Lamp Socket, Light Strip"),
}  # fmt: skip
VARIANTS = words("Standard Heavy-Duty Compact Premium")
WAREHOUSES = (
    ("Central Depot", "Columbus"), ("East Hub", "Newark"), ("West Hub", "Reno"),
    ("South Hub", "Dallas"), ("North Hub", "Minneapolis"), ("Coastal Annex", "Savannah"),
)  # fmt: skip
DIRECTIONS = {"outbound": 60, "inbound": 40}


def warehouse_tables(rng: random.Random) -> dict[str, list[tuple]]:
    names = [f"{a.replace('-', ' ')} {b}" for a in SUPPLIER_WORDS[0] for b in SUPPLIER_WORDS[1]]
    suppliers = [(name, rng.choice(SUPPLIER_COUNTRIES)) for name in rng.sample(names, 18)]
    kinds = [
        (cat, f"{variant} {kind}")
        for cat, (_, kinds) in ITEM_KINDS.items()
        for kind in kinds.split(", ")
        for variant in VARIANTS
    ]
    items = []
    for i, (cat, name) in enumerate(rng.sample(kinds, 150), 1):
        lo, hi = ITEM_KINDS[cat][0]
        cost = round(rng.uniform(lo, hi), 2)
        items.append((f"{cat[:3].upper()}-{i:04d}", name, cat, rng.randint(1, 18), cost))
    stock = [
        (wid, iid, 0 if rng.random() < 0.08 else rng.randint(5, 400))
        for wid in range(1, len(WAREHOUSES) + 1)
        for iid in range(1, len(items) + 1)
        if rng.random() < 0.65
    ]
    return {
        "suppliers": numbered(suppliers),
        "items": numbered(items),
        "warehouses": numbered(list(WAREHOUSES)),
        "stock": stock,
        "shipments": numbered(warehouse_shipments(rng, len(items))),
    }


def warehouse_shipments(rng: random.Random, n_items: int) -> list[tuple]:
    item_w = activity(rng, n_items, 0.08)
    drafts = []
    for _ in range(1600):
        iid = rng.choices(range(n_items), weights=item_w)[0] + 1
        when = random_day(rng, date(2023, 1, 1), date(2024, 12, 31)).isoformat()
        wid, direction = rng.randint(1, len(WAREHOUSES)), pick(rng, DIRECTIONS)
        drafts.append((when, iid, wid, direction, rng.randint(1, 120)))
    drafts.sort()
    return [(iid, wid, direction, qty, when) for when, iid, wid, direction, qty in drafts]


def quarters() -> list[dict]:
    ends = ("03-31", "06-30", "09-30", "12-31")
    return [
        {"start": f"{y}-{3 * q + 1:02d}-01", "end": f"{y}-{ends[q]}"}
        for y in YEARS
        for q in range(4)
    ]


def warehouse_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    return {
        **common("warehouse"),
        "category": axis("category", list(ITEM_KINDS)),
        "country": axis("country", SUPPLIER_COUNTRIES),
        "supplier": axis("supplier", column(conn, "SELECT name FROM suppliers ORDER BY 1")),
        "warehouse": axis("warehouse", [w[0] for w in WAREHOUSES]),
        "sku": axis("sku", column(conn, "SELECT sku FROM items ORDER BY 1")),
        "direction": axis("direction", list(DIRECTIONS)),
        "quarter": quarters(),
        "cost": axis("cost", [2, 5, 10, 20, 40]),
        "units": axis("units", [150, 250, 400, 600]),
        "n": axis("n", [3, 4, 5]),
    }


J_ITEM = "JOIN items i ON sh.item_id = i.item_id"
J_SUPPLIER = "JOIN suppliers s ON i.supplier_id = s.supplier_id"
SHIP_YEAR = "strftime('%Y', sh.shipped_on) = '{year}'"

WAREHOUSE_FAMILIES = (
    Family(
        "items_category_country",
        "count",
        f"SELECT COUNT(*) FROM items i {J_SUPPLIER} "
        "WHERE i.category = '{category}' AND s.country = '{country}'",
        (
            "How many {category} items come from suppliers based in {country}?",
            "Count the items in the {category} category supplied by companies from {country}.",
            "What is the number of {category} items whose supplier is in {country}?",
        ),
        lambda c: grid(c["category"], c["country"]),
    ),
    Family(
        "cheap_items_of_supplier",
        "join",
        f"SELECT i.name, i.unit_cost FROM items i {J_SUPPLIER} "
        "WHERE s.name = '{supplier}' AND i.unit_cost < {cost}",
        (
            "Which items supplied by {supplier} cost less than ${cost} per unit? Show the unit "
            "costs.",
            "List the name and unit cost of every {supplier} item cheaper than ${cost}.",
        ),
        lambda c: grid(c["supplier"], c["cost"]),
    ),
    Family(
        "stock_category_warehouse",
        "aggregate",
        "SELECT SUM(st.quantity) FROM stock st JOIN items i ON st.item_id = i.item_id "
        "JOIN warehouses w ON st.warehouse_id = w.warehouse_id "
        "WHERE w.name = '{warehouse}' AND i.category = '{category}'",
        (
            "How many units of {category} items are in stock at {warehouse}?",
            "What is the total stock quantity of the {category} category held in {warehouse}?",
        ),
        lambda c: grid(c["warehouse"], c["category"]),
    ),
    Family(
        "cost_by_supplier_country",
        "aggregate",
        f"SELECT {{agg}}(i.unit_cost) FROM items i {J_SUPPLIER} "
        "WHERE s.country = '{country}' AND i.category = '{category}'",
        (
            "What is the {agg_word} unit cost of {category} items from suppliers in {country}?",
            "Among {category} items supplied from {country}, what is the {agg_word} unit cost?",
        ),
        lambda c: grid(c["agg"], c["country"], c["category"]),
    ),
    Family(
        "units_per_warehouse",
        "group_by",
        "SELECT w.name, SUM(sh.quantity) FROM shipments sh JOIN warehouses w ON "
        "sh.warehouse_id = w.warehouse_id WHERE sh.direction = '{direction}' AND "
        "strftime('%Y-%m', sh.shipped_on) = '{month}' GROUP BY w.name",
        (
            "For each warehouse, how many units were shipped {direction} in {month_name}?",
            "Show the total {direction} shipment quantity per warehouse for {month_name}.",
        ),
        lambda c: grid(c["direction"], c["month"]),
    ),
    Family(
        "top_shipped_items",
        "top_n",
        f"SELECT i.name, SUM(sh.quantity) AS units_shipped FROM shipments sh {J_ITEM} "
        f"WHERE sh.direction = 'outbound' AND i.category = '{{category}}' AND {SHIP_YEAR} "
        "GROUP BY i.item_id, i.name ORDER BY units_shipped DESC LIMIT {n}",
        (
            "Which {n} {category} items had the most units shipped outbound in {year}? Include "
            "the unit totals.",
            "List the top {n} {category} items by outbound units in {year}, with each total.",
        ),
        lambda c: grid(c["category"], c["year"], c["n"]),
    ),
    Family(
        "items_not_shipped",
        "not_exists",
        "SELECT i.name FROM items i WHERE i.category = '{category}' AND NOT EXISTS (SELECT 1 "
        "FROM shipments sh WHERE sh.item_id = i.item_id AND sh.direction = 'outbound' AND "
        "sh.shipped_on BETWEEN '{start}' AND '{end}')",
        (
            "Which {category} items had no outbound shipment between {start} and {end}?",
            "List the {category} items that were not shipped out at all from {start} to {end}.",
        ),
        lambda c: grid(c["category"], c["quarter"]),
    ),
    Family(
        "low_stock_items",
        "having",
        "SELECT i.name, SUM(st.quantity) FROM items i JOIN stock st ON st.item_id = i.item_id "
        "WHERE i.category = '{category}' GROUP BY i.item_id, i.name "
        "HAVING SUM(st.quantity) < {units}",
        (
            "Which {category} items have fewer than {units} units in stock across all "
            "warehouses? Show each total.",
            "List {category} items whose total stock over every warehouse is below {units}, "
            "with those totals.",
        ),
        lambda c: grid(c["category"], c["units"]),
    ),
    Family(
        "shipments_in_range",
        "date_filter",
        "SELECT COUNT(*) FROM shipments WHERE direction = '{direction}' "
        "AND shipped_on BETWEEN '{start}' AND '{end}'",
        (
            "How many {direction} shipments were there between {start} and {end}, inclusive?",
            "Count the {direction} shipments dated from {start} through {end}.",
        ),
        lambda c: grid(c["direction"], c["date_range"]),
    ),
    Family(
        "inbound_per_item",
        "left_join",
        f"SELECT i.name, COUNT(sh.shipment_id) FROM items i {J_SUPPLIER} LEFT JOIN shipments sh "
        f"ON sh.item_id = i.item_id AND sh.direction = 'inbound' AND {SHIP_YEAR} "
        "WHERE s.name = '{supplier}' GROUP BY i.item_id, i.name",
        (
            "For each item supplied by {supplier}, how many inbound shipments did it have in "
            "{year}? Include items with none.",
            "List every {supplier} item with its number of inbound shipments in {year}, showing "
            "0 where there were none.",
        ),
        lambda c: grid(c["supplier"], c["year"]),
        zero_and_nonzero,
    ),
    Family(
        "where_sku_is_stocked",
        "join",
        "SELECT w.name, st.quantity FROM stock st JOIN warehouses w ON st.warehouse_id = "
        "w.warehouse_id JOIN items i ON st.item_id = i.item_id "
        "WHERE i.sku = '{sku}' AND st.quantity > 0",
        (
            "Which warehouses have item {sku} in stock, and how many units does each hold?",
            "List the warehouses holding a positive quantity of SKU {sku}, with the quantities.",
        ),
        lambda c: list(c["sku"]),
    ),
)


# ---------------------------------------------------------------- sports league (test)

SPORTS_SCHEMA = """
CREATE TABLE teams (
  team_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, city TEXT NOT NULL,
  founded_year INTEGER NOT NULL);
CREATE TABLE players (
  player_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  team_id INTEGER NOT NULL REFERENCES teams(team_id), position TEXT NOT NULL,
  shirt_number INTEGER NOT NULL, birth_date TEXT NOT NULL);
CREATE TABLE matches (
  match_id INTEGER PRIMARY KEY, season INTEGER NOT NULL, match_date TEXT NOT NULL,
  home_team_id INTEGER NOT NULL REFERENCES teams(team_id),
  away_team_id INTEGER NOT NULL REFERENCES teams(team_id),
  home_goals INTEGER NOT NULL, away_goals INTEGER NOT NULL);
CREATE TABLE goals (
  goal_id INTEGER PRIMARY KEY, match_id INTEGER NOT NULL REFERENCES matches(match_id),
  player_id INTEGER NOT NULL REFERENCES players(player_id), minute INTEGER NOT NULL);
"""
TEAMS = (
    "Riverton Rovers", "Ashford United", "Kingsport Falcons", "Millbrook Athletic",
    "Eastbay Mariners", "Northgate Wolves", "Stonebridge City", "Westfield Rangers",
    "Harborview Hornets", "Oakridge Titans", "Redcliff Comets", "Lakeside Lions",
)  # fmt: skip
SQUAD = {"Goalkeeper": 2, "Defender": 7, "Midfielder": 7, "Forward": 4}
SEASONS = (2023, 2024)


def sports_tables(rng: random.Random) -> dict[str, list[tuple]]:
    teams = [(name, name.split()[0], rng.randint(1880, 1995)) for name in TEAMS]
    names, players, weights = iter(people(rng, 20 * len(TEAMS))), [], []
    for tid in range(1, len(TEAMS) + 1):
        shirts = iter(rng.sample(range(1, 41), 20))
        for position, count in SQUAD.items():
            for _ in range(count):
                born = random_day(rng, date(1988, 1, 1), date(2005, 12, 31)).isoformat()
                players.append((next(names), tid, position, next(shirts), born))
                weights.append(scoring_weight(rng, position))
    matches = [m for season in SEASONS for m in season_matches(rng, season)]
    return {
        "teams": numbered(teams),
        "players": numbered(players),
        "matches": numbered(matches),
        "goals": numbered(match_goals(rng, matches, players, weights)),
    }


def scoring_weight(rng: random.Random, position: str) -> float:
    """How likely a player is to score; goalkeepers and many defenders never do."""
    if position == "Forward":
        return rng.uniform(3, 8)
    if position == "Midfielder":
        return rng.uniform(0.5, 3)
    return 0.0 if position == "Goalkeeper" or rng.random() < 0.5 else rng.uniform(0.1, 0.8)


def season_matches(rng: random.Random, season: int) -> list[tuple]:
    """A double round robin (circle method), one round a weekend from early March."""
    strength = [rng.uniform(0.7, 1.3) for _ in TEAMS]
    order, n = list(range(1, len(TEAMS) + 1)), len(TEAMS)
    first_half = []
    for rnd in range(n - 1):
        pairs = [(order[i], order[n - 1 - i]) for i in range(n // 2)]
        first_half.append([(b, a) if rnd % 2 else (a, b) for a, b in pairs])
        order = [order[0], order[-1], *order[1:-1]]
    rounds = first_half + [[(b, a) for a, b in rnd] for rnd in first_half]
    start, rows = date(season, 3, 4), []
    for r, pairs in enumerate(rounds):
        for i, (home, away) in enumerate(pairs):
            when = (start + timedelta(days=7 * r + i % 2)).isoformat()
            ratio = strength[home - 1] / strength[away - 1]
            hg, ag = poisson(rng, 1.5 * ratio), poisson(rng, 1.1 / ratio)
            rows.append((season, when, home, away, hg, ag))
    return sorted(rows, key=lambda m: m[1])


def match_goals(
    rng: random.Random, matches: list[tuple], players: list[tuple], weights: list[float]
) -> list[tuple]:
    squads: dict[int, list[int]] = {}
    for pid, player in enumerate(players, 1):
        squads.setdefault(player[1], []).append(pid)
    rows = []
    for mid, (_, _, home, away, hg, ag) in enumerate(matches, 1):
        scorers = [(home, hg), (away, ag)]
        goals = []
        for team, count in scorers:
            squad = squads[team]
            for pid in rng.choices(squad, weights=[weights[p - 1] for p in squad], k=count):
                goals.append((rng.randint(1, 90), pid))
        rows.extend((mid, pid, minute) for minute, pid in sorted(goals))
    return rows


def sports_context(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    rng = random.Random(f"{SEED}-sports-dates")
    months = [f"{y}-{m:02d}" for y in SEASONS for m in range(3, 9)]
    return {
        **common("sports"),
        "team": axis("team", TEAMS),
        "season": axis("season", SEASONS),
        "position": axis("position", list(SQUAD)),
        "outfield": axis("position", ["Defender", "Midfielder", "Forward"]),
        "attacker": axis("position", ["Midfielder", "Forward"]),
        "result": [
            {"cmp": ">", "result": "wins"},
            {"cmp": "=", "result": "draws"},
            {"cmp": "<", "result": "losses"},
        ],
        "season_range": date_ranges(rng, 150, date(2023, 3, 1), date(2024, 7, 31)),
        "season_month": [{"month": m, "month_name": month_name(m)} for m in months],
        "minute": axis("minute", [45, 60, 75, 80]),
        "n": axis("n", [2, 3, 4]),
        "k": axis("k", range(3, 13)),
    }


J_PLAYER = "JOIN players p ON g.player_id = p.player_id"
J_MATCH = "JOIN matches m ON g.match_id = m.match_id"

SPORTS_FAMILIES = (
    Family(
        "home_results",
        "count",
        "SELECT COUNT(*) FROM matches m JOIN teams t ON m.home_team_id = t.team_id "
        "WHERE t.name = '{team}' AND m.season = {season} AND m.home_goals {cmp} m.away_goals",
        (
            "How many home {result} did {team} have in the {season} season?",
            "Count the {season} home matches of {team} that ended in {result} for them.",
            "In {season}, what number of {team} home games were {result}?",
        ),
        lambda c: grid(c["team"], c["season"], c["result"]),
    ),
    Family(
        "squad_by_position",
        "join",
        "SELECT p.name, p.shirt_number FROM players p JOIN teams t ON p.team_id = t.team_id "
        "WHERE t.name = '{team}' AND p.position = '{position}'",
        (
            "Who plays {position} for {team}, and what shirt number does each wear?",
            "List the {team} players in the {position} position with their shirt numbers.",
        ),
        lambda c: grid(c["team"], c["position"]),
    ),
    Family(
        "home_goals_agg",
        "aggregate",
        "SELECT {agg}(m.home_goals) FROM matches m JOIN teams t ON m.home_team_id = t.team_id "
        "WHERE t.name = '{team}' AND m.season = {season}",
        (
            "What was the {agg_word} number of goals {team} scored in home matches in {season}?",
            "In the {season} season, find the {agg_word} home-match goal tally of {team}.",
        ),
        lambda c: grid(c["agg"], c["team"], c["season"]),
    ),
    Family(
        "goals_per_position",
        "group_by",
        f"SELECT p.position, COUNT(*) FROM goals g {J_PLAYER} {J_MATCH} "
        "JOIN teams t ON p.team_id = t.team_id WHERE t.name = '{team}' AND m.season = {season} "
        "GROUP BY p.position",
        (
            "For each position, how many goals did {team} players score in {season}?",
            "Break down the goals scored by {team} in the {season} season by player position.",
        ),
        lambda c: grid(c["team"], c["season"]),
    ),
    Family(
        "top_scorers",
        "top_n",
        f"SELECT p.name, COUNT(*) AS goals_scored FROM goals g {J_PLAYER} {J_MATCH} "
        "JOIN teams t ON p.team_id = t.team_id WHERE t.name = '{team}' AND m.season = {season} "
        "GROUP BY p.player_id, p.name ORDER BY goals_scored DESC LIMIT {n}",
        (
            "Who were the top {n} goal scorers of {team} in {season}, with their goal counts?",
            "List the {n} {team} players who scored the most goals in the {season} season and "
            "how many each scored.",
        ),
        lambda c: grid(c["team"], c["season"], c["n"]),
    ),
    Family(
        "players_without_goals",
        "not_exists",
        "SELECT p.name FROM players p JOIN teams t ON p.team_id = t.team_id "
        "WHERE t.name = '{team}' AND p.position = '{position}' AND NOT EXISTS (SELECT 1 "
        f"FROM goals g {J_MATCH} WHERE g.player_id = p.player_id AND m.season = {{season}})",
        (
            "Which {team} {position}s did not score a goal in {season}?",
            "List the {position}s of {team} who scored no goals during the {season} season.",
        ),
        lambda c: grid(c["team"], c["outfield"], c["season"]),
    ),
    Family(
        "prolific_scorers",
        "having",
        f"SELECT p.name, COUNT(*) FROM goals g {J_PLAYER} {J_MATCH} WHERE m.season = {{season}} "
        "AND p.position = '{position}' GROUP BY p.player_id, p.name HAVING COUNT(*) >= {k}",
        (
            "Which {position}s scored at least {k} goals in {season}? Show each goal count.",
            "List the {position}s with {k} or more goals in the {season} season, and their totals.",
        ),
        lambda c: grid(c["season"], c["attacker"], c["k"]),
    ),
    Family(
        "draws_in_range",
        "date_filter",
        "SELECT COUNT(*) FROM matches WHERE home_goals = away_goals "
        "AND match_date BETWEEN '{start}' AND '{end}'",
        (
            "How many matches between {start} and {end} (inclusive) ended in a draw?",
            "Count the drawn matches played from {start} through {end}.",
        ),
        lambda c: list(c["season_range"]),
    ),
    Family(
        "late_goals_month",
        "date_filter",
        f"SELECT COUNT(*) FROM goals g {J_MATCH} WHERE g.minute > {{minute}} "
        "AND strftime('%Y-%m', m.match_date) = '{month}'",
        (
            "How many goals were scored after minute {minute} in matches played in {month_name}?",
            "Count the goals scored later than the {minute}th minute in {month_name} matches.",
        ),
        lambda c: grid(c["season_month"], c["minute"]),
    ),
    Family(
        "late_goals_per_player",
        "left_join",
        "SELECT p.name, COUNT(g.goal_id) FROM players p JOIN teams t ON p.team_id = t.team_id "
        "LEFT JOIN goals g ON g.player_id = p.player_id AND g.minute > {minute} "
        "WHERE t.name = '{team}' AND p.position = '{position}' GROUP BY p.player_id, p.name",
        (
            "For each {position} of {team}, how many goals did they score after minute "
            "{minute}? Include players with none.",
            "List every {team} {position} with their number of goals scored after the "
            "{minute}th minute, showing 0 for those without any.",
        ),
        lambda c: grid(c["team"], c["attacker"], c["minute"]),
        zero_and_nonzero,
    ),
    Family(
        "away_wins",
        "self_join",
        "SELECT m.match_date, h.name, m.home_goals, m.away_goals FROM matches m "
        "JOIN teams h ON m.home_team_id = h.team_id JOIN teams a ON m.away_team_id = a.team_id "
        "WHERE a.name = '{team}' AND m.season = {season} AND m.away_goals > m.home_goals",
        (
            "List the away wins of {team} in {season}: the date, the home team beaten, and the "
            "score (home goals, away goals).",
            "On which dates did {team} win away from home in {season}? Show the opponent and "
            "the home and away goals.",
        ),
        lambda c: grid(c["team"], c["season"]),
    ),
)


# ---------------------------------------------------------------- the databases

DATABASES = (
    Database("library", "train", LIBRARY_SCHEMA, library_tables, library_context, LIBRARY_FAMILIES),
    Database("clinic", "train", CLINIC_SCHEMA, clinic_tables, clinic_context, CLINIC_FAMILIES),
    Database("airline", "train", AIRLINE_SCHEMA, airline_tables, airline_context, AIRLINE_FAMILIES),
    Database("school", "dev", SCHOOL_SCHEMA, school_tables, school_context, SCHOOL_FAMILIES),
    Database(
        "warehouse",
        "test",
        WAREHOUSE_SCHEMA,
        warehouse_tables,
        warehouse_context,
        WAREHOUSE_FAMILIES,
    ),
    Database("sports", "test", SPORTS_SCHEMA, sports_tables, sports_context, SPORTS_FAMILIES),
)
DEFAULT_DB = "library"  # the `db` resource: a train database, for tools that want one default


def summary(db: Database) -> str:
    tables = re.findall(r"CREATE TABLE (\w+)", db.schema)
    return f"{db.name}.db: {', '.join(tables)}"


def build_db(path: Path, db: Database) -> None:
    """Write to a temp file and move it into place, so a crash leaves no half-written database.
    A fresh file, a fixed page size, no WAL and a final VACUUM give the same bytes every run."""
    tables = db.tables(random.Random(f"{SEED}-{db.name}"))
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.executescript(db.schema)
        for table, rows in tables.items():
            conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    os.replace(tmp, path)


# ---------------------------------------------------------------- rows


def usable(conn: sqlite3.Connection, fam: Family, sql: str) -> bool:
    """Does the gold query give a clear answer? Errors propagate: a broken template must stop us."""
    rows = conn.execute(sql).fetchall()
    if len(rows) > MAX_ANSWER_ROWS or not fam.check(rows):
        return False
    head, sep, n = sql.rpartition(" LIMIT ")
    if not sep:
        return True
    # top-N: the sort key is the last column; a tie at the cut-off makes the gold set arbitrary,
    # one above it makes the gold order arbitrary (the metric compares ordered results in order)
    keys = [row[-1] for row in conn.execute(f"{head} LIMIT {int(n) + 1}")]
    return len(keys) > int(n) and len(set(keys)) == len(keys)


def fillings(conn: sqlite3.Connection, fam: Family, ctx: dict, want: int) -> list[dict]:
    candidates = fam.slots(ctx)
    random.Random(f"{SEED}-{fam.name}").shuffle(candidates)
    kept: list[dict] = []
    for slots in candidates:
        if any("'" in str(v) for v in slots.values()):
            raise ValueError(f"{fam.name}: slot value with a quote: {slots}")
        if usable(conn, fam, render(fam.sql, slots)):
            kept.append(slots)
        if len(kept) == want:
            break
    if len(kept) < MIN_FILLINGS:
        raise ValueError(f"{fam.name}: only {len(kept)} usable fillings, need {MIN_FILLINGS}")
    return kept


def family_rows(conn: sqlite3.Connection, db: Database, fam: Family, ctx: dict) -> list[dict]:
    if len({frozenset(slot_fields(p)) for p in fam.phrasings}) != 1:
        raise ValueError(f"{db.name}.{fam.name}: phrasings use different slots")
    meta = {
        "family": f"{db.name}.{fam.name}",
        "database": db.name,
        "shape": fam.shape,
        "held_out": "none" if db.split == "train" else "schema",
    }
    return [
        {
            "question": render(fam.phrasings[i % len(fam.phrasings)], slots),
            "sql": render(fam.sql, slots),
            "db": db.name,
            "meta": meta,
        }
        for i, slots in enumerate(fillings(conn, fam, ctx, QUOTA[db.split]))
    ]


def database_rows(path: Path, db: Database) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ctx = db.context(conn)
        return [row for fam in db.families for row in family_rows(conn, db, fam, ctx)]
    finally:
        conn.close()


def build_splits(out: Path) -> dict[str, list[dict]]:
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for db in DATABASES:
        path = out / f"{db.name}.db"
        build_db(path, db)
        splits[db.split].extend(database_rows(path, db))
    seen: set[str] = set()
    for split, rows in splits.items():
        for row in rows:
            if norm(row["question"]) in seen:
                raise ValueError(f"duplicate question in {split}: {row['question']}")
            seen.add(norm(row["question"]))
        # mix databases and families so that evaluating only the first N rows is representative
        random.Random(f"{SEED}-{split}").shuffle(rows)
    return splits


# ---------------------------------------------------------------- output


def task_yaml() -> str:
    uses = {s: ", ".join(db.name for db in DATABASES if db.split == s) for s in QUOTA}
    description = (
        "Text-to-SQL across several small SQLite databases, to measure generalization to unseen "
        f"schemas ({'; '.join(summary(db) for db in DATABASES)}). Each row is an English "
        "question about the database its `db` names, whose answer is one SQLite SELECT; it is "
        "scored by executing it and comparing results with the gold query. The split holds out "
        f"whole schemas: train uses {uses['train']}; dev uses {uses['dev']}, which no train row "
        f"uses; test uses {uses['test']}, which appear in no train or dev row. Give systems the "
        "schema of each row's own database."
    )
    resources = "".join(f"  {db.name}: {db.name}.db\n" for db in DATABASES)
    return f"""\
name: sql-multi
description: >-
{textwrap.fill(description, 96, initial_indent="  ", subsequent_indent="  ")}
input_fields: [question]
output_type: sql
metric: sql_execution
role: You are a senior data analyst who writes correct SQLite queries.
system_prompt: >-
  You are a senior data analyst who writes correct SQLite queries.
  Each question is about its own database: use only the tables and columns of the schema
  given with it. Answer with exactly one SQLite SELECT statement and nothing else: no
  explanation, no markdown, no code fences. Use single quotes for strings. Dates are ISO text
  'YYYY-MM-DD'. Return the columns the question asks for, in the order it names them.
resources:
  db: {DEFAULT_DB}.db
{resources}"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="task folder to write")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    splits = build_splits(out)
    for split, rows in splits.items():
        write_atomic(out / f"{split}.jsonl", jsonl(split, rows))
    write_atomic(out / "task.yaml", task_yaml())
    sizes = ", ".join(f"{s}={len(r)}" for s, r in splits.items())
    print(f"wrote {out}: {sizes}, {len(DATABASES)} databases")


if __name__ == "__main__":
    main()
