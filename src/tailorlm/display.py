"""What a Jupyter notebook shows of tailorlm's objects: small HTML fragments for `_repr_html_`
and pandas DataFrames for `to_pandas()`. The lowest layer, so a run record, a comparison and a
report all build their fragments from the same few helpers; every text is escaped here."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailorlm.errors import TailorError

MAX_CELL = 300  # characters of one cell: a long prompt or model output would swamp the table
# Notebooks right-align and centre table cells by default; text reads better from the top left.
STYLE = (
    "<style>.tailorlm th, .tailorlm td {text-align: left; vertical-align: top}"
    " .tailorlm caption {text-align: left; font-style: italic}</style>"
)


class Html(str):
    """Markup built here (already escaped): cells and parts pass it through unchanged."""


def plain(value: Any) -> str:
    """A value as one line of text: floats to 4 significant digits, mappings as `key: value`."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "\n".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    return str(value)


def cell(value: Any, limit: int = MAX_CELL) -> Html:
    """One cell: escaped, cut at `limit` characters, line breaks kept."""
    if isinstance(value, Html):
        return value
    text = plain(value)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return Html(html.escape(text).replace("\n", "<br>"))


def strong(value: Any) -> Html:
    return Html(f"<strong>{cell(value)}</strong>")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None
) -> Html:
    head = "".join(f"<th>{cell(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{cell(caption)}</caption>" if caption else ""
    return Html(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def fields(pairs: Mapping[str, Any], caption: str | None = None) -> Html:
    """A two-column table of names and values."""
    rows = "".join(f"<tr><th>{cell(k)}</th><td>{cell(v)}</td></tr>" for k, v in pairs.items())
    cap = f"<caption>{cell(caption)}</caption>" if caption else ""
    return Html(f"<table>{cap}<tbody>{rows}</tbody></table>")


def paragraph(value: Any) -> Html:
    return Html(f"<p>{cell(value, limit=10_000)}</p>")


def bullets(lines: Iterable[Any]) -> Html:
    items = "".join(f"<li>{cell(line, limit=10_000)}</li>" for line in lines)
    return Html(f"<ul>{items}</ul>" if items else "")


def fragment(*parts: str) -> Html:
    """The parts in one block: what `_repr_html_` returns."""
    for part in parts:
        if not isinstance(part, Html):
            raise TypeError("fragment parts are built with tailorlm.display helpers")
    return Html(f'<div class="tailorlm">{STYLE}{"".join(parts)}</div>')


def data_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Any:
    """A pandas DataFrame of `rows`; pandas is imported only here, when a table is asked for."""
    try:
        import pandas as pd
    except ImportError:
        raise TailorError(
            "to_pandas() needs pandas, which is not installed", hint="pip install pandas"
        ) from None
    return pd.DataFrame(list(rows), columns=list(columns) if columns is not None else None)
