"""synth-sql's drafts: question/SQL pairs from a database schema, before any is checked.

A `Source` is what questions can be about: one table, or a table joined along one or two
foreign keys, whose filters (categories, labels), dates and measures come from the tables
reached. Every query family runs over every source, so joins get the same kinds of questions
as single tables, naming the joined column with its table ("customer city")."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tailorlm.tasks.synth_schema import (
    Column,
    ForeignKey,
    Schema,
    Table,
    lit,
    plural,
    q,
    singular,
    words,
)
from tailorlm.tasks.synth_templates import AGG_WORDS, PHRASES

MEDIAN = "<median>"  # placeholder for a value read from the data when the draft is checked


@dataclass(frozen=True)
class Draft:
    family: str
    question: str
    sql: str
    tie_check: str | None = None  # top-N: query whose rows n-1 and n must differ
    median_of: tuple[str, str] | None = None  # (FROM, column): MEDIAN in the text is its median


def generate(schema: Schema, rng: random.Random) -> Iterator[Draft]:
    """Every draft the schema allows: per table, per foreign key, per two-hop join path."""
    for source in sources(schema):
        yield from _source_drafts(source, rng)


@dataclass(frozen=True)
class Filter:
    expr: str  # SQL of the column, qualified with its table alias in joins
    name: str  # its English name ("segment", "customer name")
    values: tuple[object, ...]
    group: str | None  # GROUP BY for "per <name>" questions; None: not a grouping column


@dataclass(frozen=True)
class Source:
    """Rows questions are about (`things`) and what can filter, group and measure them."""

    sql_from: str
    things: str
    thing: str
    hops: int  # 0: one table, 1 or 2: filters come from tables reached along foreign keys
    measures: tuple[tuple[str, str], ...]  # (SQL, English)
    filters: tuple[Filter, ...]
    dates: tuple[tuple[str, str, tuple[object, ...]], ...]  # (SQL, English, years)
    label: tuple[str, str] | None


def sources(schema: Schema) -> Iterator[Source]:
    tables = schema.tables
    for t in tables.values():
        if t.rows:
            yield _source(t, [(t, "")], q(t.name))
    for fk in schema.fks:
        child, parent = tables[fk.child], tables[fk.parent]
        join = f"{q(child.name)} c JOIN {q(parent.name)} p ON {_on('c', fk, 'p')}"
        if child.rows and parent.rows:
            yield _source(child, [(parent, "p")], join, alias="c", hops=1)
        for second in schema.fks:
            top = tables[second.parent]
            if second.child == fk.parent and second.parent != fk.child and top.rows:
                path = f"{join} JOIN {q(top.name)} t ON {_on('p', second, 't')}"
                yield _source(child, [(top, "t")], path, alias="c", hops=2)


def _on(child_alias: str, fk: ForeignKey, parent_alias: str) -> str:
    return f"{child_alias}.{q(fk.child_col)} = {parent_alias}.{q(fk.parent_col)}"


def _source(
    t: Table, others: list[tuple[Table, str]], sql_from: str, alias: str = "", hops: int = 0
) -> Source:
    pre = f"{alias}." if alias else ""
    base = words(t.name)
    filters, dates = [], []
    for table, a in others:
        col_pre = f"{a}." if a else ""
        for c in table.of_kind("category") + ([table.label] if a and table.label else []):
            expr = col_pre + q(c.name)
            group = expr if c.kind == "category" else f"{col_pre}{q(table.pk or c.name)}, {expr}"
            filters.append(Filter(expr, _owned(table, c, a), c.values, group))
        dates += [
            (col_pre + q(d.name), _owned(table, d, a), d.values) for d in table.of_kind("date")
        ]
    return Source(
        sql_from=sql_from,
        things=plural(base),
        thing=singular(base),
        hops=hops,
        measures=tuple((pre + q(m.name), words(m.name)) for m in t.of_kind("measure")),
        filters=tuple(filters),
        dates=tuple(dates),
        label=(pre + q(t.label.name), words(t.label.name)) if t.label else None,
    )


def _owned(table: Table, column: Column, alias: str) -> str:
    """A column's English name; in a join, with its table's ("customer city"), once."""
    name, owner = words(column.name), singular(words(table.name))
    return f"{owner} {name}" if alias and not name.startswith(owner) else name


def _source_drafts(s: Source, rng: random.Random) -> Iterator[Draft]:
    if s.hops == 0:
        yield _draft("count", s, rng, f"SELECT COUNT(*) FROM {s.sql_from}")
        yield from _whole_table(s, rng)
    for f in s.filters:
        yield from _grouped(s, f, rng)
        for value in f.values:
            yield from _filtered(s, f, value, rng)
    for f in s.filters[:3]:
        yield from _filtered_by_year(s, f, rng)
    yield from _by_year(s, rng)


def _by_year(s: Source, rng: random.Random) -> Iterator[Draft]:
    for expr, name, years in s.dates:
        for year in years[-3:]:
            where = f"WHERE strftime('%Y', {expr}) = '{year}'"
            yield _draft(
                "count_year",
                s,
                rng,
                f"SELECT COUNT(*) FROM {s.sql_from} {where}",
                col=name,
                year=year,
            )
            for m_sql, m_name in s.measures[:2]:
                agg = rng.choice(list(AGG_WORDS))
                yield _draft(
                    "agg_year",
                    s,
                    rng,
                    f"SELECT {agg}({m_sql}) FROM {s.sql_from} {where}",
                    col=name,
                    year=year,
                    measure=m_name,
                    agg=rng.choice(AGG_WORDS[agg]),
                )


def _draft(
    family: str,
    s: Source,
    rng: random.Random,
    sql: str,
    *,
    tie: str | None = None,
    median_of: tuple[str, str] | None = None,
    **slots: object,
) -> Draft:
    text = rng.choice(PHRASES[family]).format(things=s.things, thing=s.thing, **slots)
    tag = {0: "", 1: "_join", 2: "_2hop"}[s.hops]
    return Draft(family + tag, text[0].upper() + text[1:], sql, tie, median_of)


def _grouped(s: Source, f: Filter, rng: random.Random) -> Iterator[Draft]:
    if f.group is None:
        return
    by = f"FROM {s.sql_from} GROUP BY {f.group}"
    yield _draft("group_count", s, rng, f"SELECT {f.expr}, COUNT(*) {by}", col=f.name)
    most = f"{by} ORDER BY COUNT(*) DESC"
    yield _draft(
        "most",
        s,
        rng,
        f"SELECT {f.expr}, COUNT(*) {most} LIMIT 1",
        tie=f"SELECT COUNT(*) {most} LIMIT 2",
        col=f.name,
    )
    for m_sql, m_name in s.measures[:2]:
        agg = rng.choice(list(AGG_WORDS))
        yield _draft(
            "group_agg",
            s,
            rng,
            f"SELECT {f.expr}, {agg}({m_sql}) {by}",
            col=f.name,
            measure=m_name,
            agg=rng.choice(AGG_WORDS[agg]),
        )
    if s.hops == 0:
        yield _draft(
            "count_distinct",
            s,
            rng,
            f"SELECT COUNT(DISTINCT {f.expr}) FROM {s.sql_from}",
            col=f.name,
        )


def _filtered_by_year(s: Source, f: Filter, rng: random.Random) -> Iterator[Draft]:
    for expr, name, years in s.dates[:1]:
        for value in f.values[:3]:
            for year in years[-2:]:
                where = f"WHERE {f.expr} = {lit(value)} AND strftime('%Y', {expr}) = '{year}'"
                sql = f"SELECT COUNT(*) FROM {s.sql_from} {where}"
                yield _draft(
                    "count_where_year", s, rng, sql, col=f.name, value=value, date=name, year=year
                )


def _filtered(s: Source, f: Filter, value: object, rng: random.Random) -> Iterator[Draft]:
    where = f"FROM {s.sql_from} WHERE {f.expr} = {lit(value)}"
    slots: dict[str, Any] = {"col": f.name, "value": value}
    yield _draft("count_where", s, rng, f"SELECT COUNT(*) {where}", **slots)
    for m_sql, m_name in s.measures:
        agg = rng.choice(list(AGG_WORDS))
        yield _draft(
            "agg_where",
            s,
            rng,
            f"SELECT {agg}({m_sql}) {where}",
            measure=m_name,
            agg=rng.choice(AGG_WORDS[agg]),
            **slots,
        )
    if s.label is not None:
        yield _draft(
            "list_where", s, rng, f"SELECT {s.label[0]} {where}", label=s.label[1], **slots
        )


def _whole_table(s: Source, rng: random.Random) -> Iterator[Draft]:
    for m_sql, m_name in s.measures:
        for agg in AGG_WORDS:
            yield _draft(
                "agg",
                s,
                rng,
                f"SELECT {agg}({m_sql}) FROM {s.sql_from}",
                measure=m_name,
                agg=rng.choice(AGG_WORDS[agg]),
            )
        if s.label is None:
            continue
        slots: dict[str, Any] = {"label": s.label[1], "measure": m_name}
        for order, family in (("DESC", "top_n"), ("ASC", "bottom_n")):
            k = rng.choice((3, 5))
            base = f"FROM {s.sql_from} WHERE {m_sql} IS NOT NULL ORDER BY {m_sql} {order}"
            yield _draft(
                family,
                s,
                rng,
                f"SELECT {s.label[0]}, {m_sql} {base} LIMIT {k}",
                tie=f"SELECT {m_sql} {base} LIMIT {k + 1}",
                n=k,
                **slots,
            )
        for op, word in ((">", "above"), ("<", "below")):
            sql = f"SELECT {s.label[0]} FROM {s.sql_from} WHERE {m_sql} {op} {MEDIAN}"
            yield _draft(
                "filter_num",
                s,
                rng,
                sql,
                median_of=(s.sql_from, m_sql),
                op=word,
                value=MEDIAN,
                **slots,
            )
