"""Build the built-in task `ticket-triage`: internal support tickets -> category and priority.

Regenerate (stdlib only, fixed seed, so two runs give byte-identical files):

    .venv/bin/python scripts/build_ticket_triage.py            # src/tailorlm/tasks/builtin/...
    .venv/bin/python scripts/build_ticket_triage.py --out DIR  # anywhere else (the tests do this)

Tickets are what the analytics and IT desk of a mid-sized company receives: a subject and a
body made from a category template (what is wrong or wanted), filled with systems, reports,
teams and amounts, plus an optional urgency cue that sets the priority (blocking, deadline
today -> high; a workaround, this week -> medium; no rush, nice to have -> low).

The answer is one line, `category: <category>; priority: <priority>`.

The test split measures generalization, not recall: each category reserves one body template
and one subject template for test, and some urgency cues appear only in test; no test ticket
appears in train or dev. Each row's meta records its category ("family") and what is held out.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SEED = 20261125
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tailorlm/tasks/builtin/ticket-triage"
SIZES = {"train": 480, "dev": 110, "test": 160}
CATEGORIES = ("access", "billing", "bug", "data", "feature", "how-to")
PRIORITIES = ("low", "medium", "high")

SYSTEMS = ["the sales dashboard", "Tableau", "the data warehouse", "Salesforce", "the VPN",
           "Jira", "the expense tool", "Looker", "the finance share drive", "the HR portal",
           "Snowflake", "the forecasting notebook server"]  # fmt: skip
REPORTS = ["weekly revenue report", "churn dashboard", "regional sales summary",
           "inventory report", "marketing funnel dashboard", "monthly P&L pack",
           "customer cohort report", "board KPI deck"]  # fmt: skip
TEAMS = ["finance", "sales ops", "marketing", "customer success", "logistics", "executive"]
VENDORS = ["Acme Cloud", "DataStream", "Northwind Licensing", "Globex Analytics", "Initech"]
ERRORS = ["a 500 error", "a blank page", "'permission denied'", "a timeout after 30 seconds",
          "'unexpected token'", "an endless spinner"]  # fmt: skip
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip

# category -> (subject templates, body templates); the last of each is reserved for test.
TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "access": (
        ["Can't log in to {system}", "Access request: {system}", "Locked out of {system}"],
        [
            "Since this morning {system} says my account is locked after I reset my password.",
            "I moved to the {team} team and need read access to {system} to see the {report}.",
            "My login to {system} stopped working; it shows {error} right after the SSO page.",
            "Please grant our new analyst an account on {system}; she starts on Monday.",
            "I lost my permissions on {system} overnight and can no longer open the {report}.",
        ],
    ),
    "billing": (
        ["Invoice question from {vendor}", "Duplicate charge - {vendor}", "{vendor} invoice"],
        [
            "We were charged twice by {vendor} in {month}: two payments of ${amount}.",
            "The {month} invoice from {vendor} is ${amount}, but our contract says less.",
            "Finance needs the purchase order number for the {vendor} invoice of ${amount}.",
            "Our {vendor} subscription renewed at ${amount} although we cancelled it in {month}.",
            "Can someone explain the ${amount} line on the {vendor} bill? It was not there "
            "before {month}.",
        ],
    ),
    "bug": (
        ["{system} broken", "Error in the {report}", "{system} shows {error}"],
        [
            "The {report} in {system} shows {error} when I filter by region.",
            "Totals in the {report} double-count returns since the last release.",
            "Exporting the {report} from {system} to Excel gives {error}.",
            "{system} crashes whenever I open the {report}; it worked last week.",
            "The date picker on the {report} jumps back to {month} every time I change it.",
        ],
    ),
    "data": (
        ["Data request: {report}", "Numbers don't match in the {report}", "Need an extract"],
        [
            "Could you pull {month} sales by product for the {team} team into a spreadsheet?",
            "The {report} shows ${amount} for {month}, but the ledger says something else.",
            "I need a list of customers who churned in {month} for a {team} review.",
            "Please add last year's figures to the extract behind the {report}.",
            "The row counts in {system} and the {report} disagree for {month}; which is right?",
        ],
    ),
    "feature": (
        ["Feature request: {report}", "Idea for {system}", "Could {system} do this?"],
        [
            "It would help if the {report} had a filter for sales channel.",
            "Could {system} send the {report} by email every Monday morning?",
            "Please add a year-over-year column to the {report} for the {team} team.",
            "We would like a dark mode and bigger fonts in {system}.",
            "Can we get an alert in {system} when the {report} numbers drop sharply?",
        ],
    ),
    "how-to": (
        ["How do I ...?", "Question about {system}", "Help using the {report}"],
        [
            "How do I share the {report} with someone outside the {team} team?",
            "What is the right way to schedule a refresh of the {report} in {system}?",
            "Where can I find the definition of active customer used in the {report}?",
            "How can I export only {month} from the {report} in {system}?",
            "Is there a guide for building my own chart from the {report} data?",
        ],
    ),
}

# priority -> urgency cues; cues after the bar are reserved for test.
CUES: dict[str, tuple[list[str], list[str]]] = {
    "high": (
        ["This is blocking the whole {team} team.", "We need this fixed before the board "
         "meeting this afternoon.", "Production reporting is down for everyone.",
         "URGENT: month-end close is today."],
        ["Nobody in {team} can work until this is resolved.", "Critical - the CFO is waiting."],
    ),
    "medium": (
        ["I have a workaround for now, but please look at it this week.",
         "It slows me down a bit.", "Could you take a look in the next few days?", ""],
        ["Not urgent, but it should be handled before the end of the month.",
         "A fix by Friday would be great."],
    ),
    "low": (
        ["No rush, whenever you have time.", "Minor thing, just flagging it.",
         "Nice to have for next quarter.", "Low priority."],
        ["Totally fine if this waits a few weeks.", "Just a small annoyance, no hurry."],
    ),
}  # fmt: skip
GREETINGS = ["", "Hi team! ", "Hello. ", "Hey there! "]
SIGNOFFS = ["", " Thanks!", " Thank you.", " Cheers, {name}"]
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon"]


def _slots(rng: random.Random) -> dict[str, str]:
    return {
        "system": rng.choice(SYSTEMS),
        "report": rng.choice(REPORTS),
        "team": rng.choice(TEAMS),
        "vendor": rng.choice(VENDORS),
        "error": rng.choice(ERRORS),
        "month": rng.choice(MONTHS),
        "amount": f"{rng.randrange(120, 48000):,}",
        "name": rng.choice(NAMES),
    }


def _ticket(rng: random.Random, category: str, priority: str, test: bool) -> dict:
    subjects, bodies = TEMPLATES[category]
    shared, held = CUES[priority]
    # Test rows use a held-out template or cue about half the time each.
    held_subject, held_body, held_cue = (test and rng.random() < 0.5 for _ in range(3))
    subject = rng.choice(subjects[-1:] if held_subject else subjects[:-1])
    body_text = rng.choice(bodies[-1:] if held_body else bodies[:-1])
    cue = rng.choice(held if held_cue else shared)
    held_out = "phrasing" if held_subject or held_body or held_cue else "none"
    template = f"{rng.choice(GREETINGS)}{body_text} {cue}{rng.choice(SIGNOFFS)}"
    slots = _slots(rng)  # one set of values, so subject and body agree
    return {
        "input": {
            "subject": subject.format(**slots),
            "body": " ".join(template.format(**slots).split()),
        },
        "output": f"category: {category}; priority: {priority}",
        "meta": {"family": category, "priority": priority, "held_out": held_out},
    }


def build_rows() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    rows: dict[str, list[dict]] = {}
    for split in ("test", "dev", "train"):  # test first: it claims its tickets
        out: list[dict] = []
        while len(out) < SIZES[split]:
            category, priority = CATEGORIES[len(out) % 6], rng.choice(PRIORITIES)
            row = _ticket(rng, category, priority, test=split == "test")
            key = json.dumps(row["input"], sort_keys=True).lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(row)
        rng.shuffle(out)
        rows[split] = [{"id": f"{split}-{i:04d}", **r} for i, r in enumerate(out, 1)]
    return rows


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in build_rows().items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (out / f"{split}.jsonl").write_text(text, encoding="utf-8")
    (out / "task.yaml").write_text(TASK_YAML, encoding="utf-8")


TASK_YAML = """\
name: ticket-triage
description: >-
  Triage internal support tickets of an analytics and IT desk. Each row is a ticket (subject and
  body); the answer names its category (access, billing, bug, data, feature, how-to) and its
  priority (low, medium, high) in one line, `category: bug; priority: high`. Scored per field
  (each right field earns half); accuracy and macro-F1 per field come from
  tailorlm.metrics.fields.corpus_report. The test split holds out one subject and one body
  template per category and some urgency phrasings.
input_fields: [subject, body]
output_type: label
metric: label_fields
role: You are the triage assistant of an internal analytics and IT help desk.
system_prompt: >-
  You are the triage assistant of an internal analytics and IT help desk.
  Read the ticket and answer with one line, `category: <category>; priority: <priority>`, and
  nothing else. Categories: access (logins, accounts, permissions), billing (invoices, charges,
  vendors), bug (something is broken or wrong in a tool), data (data requests, extracts, numbers
  that disagree), feature (requests for new functionality), how-to (questions about using a
  tool). Priorities: high (blocking people or a deadline today), medium (should be handled this
  week or month), low (no rush).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
