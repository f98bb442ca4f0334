"""English phrasings for synth-sql's query families. Several per family, in different styles
(questions, imperatives, terse requests), so a model trained on them learns the query, not one
sentence pattern. Slots: {things}/{thing} (table), {col}, {value}, {measure}, {agg}, {label},
{n}, {op}, {year}. In joins, {col} names the other table too ("customer segment")."""

from __future__ import annotations

AGG_WORDS = {
    "AVG": ("average", "mean"),
    "SUM": ("total", "combined"),
    "MAX": ("highest", "largest", "maximum"),
    "MIN": ("lowest", "smallest", "minimum"),
}

PHRASES: dict[str, tuple[str, ...]] = {
    "count": (
        "how many {things} are there?",
        "what is the total number of {things}?",
        "count the {things}.",
        "give me the number of {things} in the database.",
    ),
    "count_distinct": (
        "how many different {col} values do the {things} have?",
        "count the distinct {col} values among {things}.",
        "how many unique {col} values appear in {things}?",
    ),
    "count_where": (
        "how many {things} have {col} '{value}'?",
        "count the {things} whose {col} is {value}.",
        "what is the number of {things} with {col} equal to '{value}'?",
        "number of {things} where {col} = {value}?",
    ),
    "list_where": (
        "list the {label} of every {thing} with {col} '{value}'.",
        "which {things} have {col} {value}? Show their {label}.",
        "show the {label} of {things} whose {col} is '{value}'.",
    ),
    "agg": (
        "what is the {agg} {measure} of all {things}?",
        "compute the {agg} {measure} across {things}.",
        "tell me the {agg} {measure} over all {things}.",
        "{agg} {measure} of the {things}?",
    ),
    "agg_where": (
        "what is the {agg} {measure} of {things} with {col} '{value}'?",
        "for {things} whose {col} is {value}, what is the {agg} {measure}?",
        "give the {agg} {measure} among {things} where {col} is '{value}'.",
    ),
    "group_count": (
        "how many {things} are there for each {col}?",
        "count the {things} per {col}.",
        "break down the number of {things} by {col}.",
    ),
    "group_agg": (
        "what is the {agg} {measure} of {things} for each {col}?",
        "for each {col}, give the {agg} {measure} of the {things}.",
        "show the {agg} {measure} per {col}.",
    ),
    "top_n": (
        "which {n} {things} have the highest {measure}? Show the {label} and {measure}.",
        "list the top {n} {things} by {measure}, with their {label} and {measure}.",
        "name the {n} {things} with the largest {measure}, along with the {measure}.",
    ),
    "bottom_n": (
        "which {n} {things} have the lowest {measure}? Show the {label} and {measure}.",
        "list the {n} {things} with the smallest {measure}, with their {label} and {measure}.",
        "give the bottom {n} {things} by {measure}: {label} and {measure}.",
    ),
    "filter_num": (
        "list the {label} of {things} with a {measure} {op} {value}.",
        "which {things} have a {measure} {op} {value}? Give their {label}.",
        "show the {label} for every {thing} whose {measure} is {op} {value}.",
    ),
    "count_year": (
        "how many {things} have their {col} in {year}?",
        "count the {things} with {col} during {year}.",
        "in {year}, how many {things} were there by {col}?",
    ),
    "most": (
        "which {col} has the most {things}, and how many?",
        "what {col} appears on the most {things}? Give it with its count.",
        "find the {col} with the largest number of {things} and that number.",
    ),
    "count_where_year": (
        "how many {things} with {col} '{value}' have their {date} in {year}?",
        "in {year} (by {date}), how many {things} had {col} {value}?",
        "count the {things} whose {col} is {value} and whose {date} is in {year}.",
    ),
    "agg_year": (
        "what is the {agg} {measure} of {things} with {col} in {year}?",
        "for {things} whose {col} falls in {year}, give the {agg} {measure}.",
        "{agg} {measure} of the {things} by {col} year {year}?",
    ),
}
