"""`tailor data synth-sql`: a text-to-SQL training set for a user's own SQLite database, made
from its schema alone, for an analyst who has a database but no labelled questions.

Query families (counts, filters on real values, aggregates, group-bys, top-N, years of date
columns, and joins along foreign keys, one and two hops) are filled with values sampled from
the data and phrased several ways. A draft is kept only when its gold SQL runs in the metric's
sandbox and gives a usable answer: rows, not all NULL, not a zero count, not too long a list,
and for top-N no tie at the cut-off. Families are then interleaved so a small `n` still covers
every kind of question. The result is a task folder like any other, split leak-free."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tailorlm.errors import ConfigError, DataError
from tailorlm.metrics.sql_exec import run_sql, unusable_result
from tailorlm.tasks.folder import staged_folder, write_jsonl
from tailorlm.tasks.loader import display_path
from tailorlm.tasks.splitting import POOL_FILE, SplitResult, SplitSpec, write_splits
from tailorlm.tasks.synth_drafts import MEDIAN, Draft, generate
from tailorlm.tasks.synth_schema import connect_readonly, database_error, read_schema


@dataclass(frozen=True)
class SynthResult:
    root: Path
    rows: int
    drafts: int  # candidates generated before checking and sampling
    families: dict[str, int]
    split: SplitResult


def synth_sql(
    db: str | Path, *, n: int = 300, out: str | Path, seed: int = 0, split: SplitSpec | None = None
) -> SynthResult:
    """Write a task folder `out` with up to `n` checked question/SQL pairs for database `db`."""
    db, target = Path(db).expanduser(), Path(out).expanduser()
    split = split or SplitSpec(seed=seed)
    split.check()
    if n < 1:
        raise ConfigError(f"--n {n} must be at least 1")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{display_path(target)} already exists", hint="choose a new --out")
    schema = read_schema(db, seed)
    rng = random.Random(seed)
    drafts = list(generate(schema, rng))
    rows = pick(checked(drafts, db), n, rng)
    if not rows:
        raise DataError(
            "no question could be generated from this database",
            path=display_path(db),
            hint="synth-sql needs tables with rows and text or number columns",
        )
    with staged_folder(target, copy_existing=False) as stage:
        _copy_db(db, stage / db.name)
        (stage / "task.yaml").write_text(_task_yaml(target.name, db.name), encoding="utf-8")
        records = [_record(i, d) for i, d in enumerate(rows, 1)]
        write_jsonl(stage / POOL_FILE, records)
        result = write_splits(stage, list(enumerate(records, 1)), split)
    families: dict[str, int] = {}
    for d in rows:
        families[d.family] = families.get(d.family, 0) + 1
    return SynthResult(target, len(rows), len(drafts), families, result)


# ---------------------------------------------------------------------------- checking


def checked(drafts: list[Draft], db: Path) -> list[Draft]:
    """The drafts whose gold SQL runs in the sandbox and gives a usable answer."""
    medians: dict[tuple[str, str], object] = {}
    keep, seen = [], set[str]()
    for draft in drafts:
        if draft.median_of is not None:
            if draft.median_of not in medians:
                medians[draft.median_of] = _median(db, *draft.median_of)
            draft = _with_value(draft, medians[draft.median_of])
        if draft.sql in seen:
            continue
        seen.add(draft.sql)
        if _usable(draft, db):
            keep.append(draft)
    return keep


def _usable(draft: Draft, db: Path) -> bool:
    if MEDIAN in draft.sql:
        return False  # the column had no values to take a median of
    rows = run_sql(db, draft.sql).rows
    if rows is None or unusable_result(rows):
        return False
    if draft.tie_check is not None:
        tail = run_sql(db, draft.tie_check).rows or ()
        return len(tail) >= len(rows) and (len(tail) == len(rows) or tail[-1] != tail[-2])
    return True


def _median(db: Path, sql_from: str, column: str) -> object:
    """The middle value of `column`, read through the sandbox like every other query."""
    sql = f"SELECT {column} FROM {sql_from} WHERE {column} IS NOT NULL ORDER BY {column}"
    values = [row[0] for row in run_sql(db, sql, max_rows=1_000_000).rows or ()]
    if not values:
        return None
    value = values[len(values) // 2]
    return round(value, 2) if isinstance(value, float) else value


def _with_value(draft: Draft, value: object) -> Draft:
    if value is None:
        return draft
    text = str(value)
    return Draft(
        draft.family,
        draft.question.replace(MEDIAN, text),
        draft.sql.replace(MEDIAN, text),
        draft.tie_check,
    )


def pick(drafts: list[Draft], n: int, rng: random.Random) -> list[Draft]:
    """Up to `n` drafts, taking families in turn so every kind of question is represented."""
    by_family: dict[str, list[Draft]] = {}
    for draft in drafts:
        by_family.setdefault(draft.family, []).append(draft)
    queues = [rng.sample(group, len(group)) for _, group in sorted(by_family.items())]
    out: list[Draft] = []
    seen_questions: set[str] = set()
    while len(out) < n and any(queues):
        for queue in queues:
            while queue and len(out) < n:
                draft = queue.pop()
                if draft.question.lower() not in seen_questions:
                    seen_questions.add(draft.question.lower())
                    out.append(draft)
                    break
    return out


# ---------------------------------------------------------------------------- output


def _record(i: int, draft: Draft) -> dict[str, object]:
    return {
        "id": f"synth-{i:04d}",
        "input": {"question": draft.question},
        "output": draft.sql,
        "meta": {"family": draft.family, "synthetic": True},
    }


def _copy_db(db: Path, dest: Path) -> None:
    # The backup API gives a consistent copy even while another process writes to the file.
    src = connect_readonly(db)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise database_error(db, exc) from None
    finally:
        dst.close()
        src.close()


def _task_yaml(name: str, db_name: str) -> str:
    from tailorlm.tasks.scaffold import task_yaml

    return task_yaml(
        name,
        "sql",
        description=f"Synthetic questions about {db_name}, generated by `tailor data synth-sql` "
        "from its schema and values. Replace test.jsonl with hand-written questions to measure "
        "what matters.",
        db=db_name,
    )
