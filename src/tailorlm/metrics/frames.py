"""Comparing pandas results in their canonical JSON form (see _pandas_child.canonical), with
the tolerance a person would allow:

* a one-value frame, series or list equals that scalar (`df.x.sum()` vs `df[["x"]].sum()`);
* column names are ignored, column order is not (as for SQL results);
* an index that carries information (group keys) is part of the rows; a plain 0..n-1 index is
  not, and the prediction's index may also be dropped: `reset_index()` or `as_index=False`
  versions of a group-by match, as do `unique()` and `drop_duplicates()` versions of a list;
* rows compare as a multiset unless `ordered`; numbers with a relative tolerance of 1e-6
  (ints and floats alike); missing values equal each other.
"""

from __future__ import annotations

import math
from typing import Any

REL_TOL = 1e-6
Row = tuple[Any, ...]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return a == b


def _scalar(result: dict[str, Any]) -> tuple[bool, Any]:
    """(True, value) when the result holds exactly one value."""
    kind = result["type"]
    if kind == "scalar":
        return True, result["value"]
    if kind == "list" and len(result["values"]) == 1:
        return True, result["values"][0]
    if kind == "frame" and len(result["rows"]) == 1 and len(result["rows"][0]) == 1:
        return True, result["rows"][0][0]
    return False, None


def _views(result: dict[str, Any], *, optional_index: bool) -> list[list[Row]]:
    """The row lists a result may be read as: with its index when it carries information, and
    (for a prediction) also without it."""
    if result["type"] == "list":
        return [[(v,) for v in result["values"]]]
    if result["type"] == "scalar":
        return [[(result["value"],)]]
    bare = [tuple(r) for r in result["rows"]]
    if result["trivial_index"]:
        return [bare]
    indexed = [(*k, *r) for k, r in zip(result["index"], result["rows"])]
    return [indexed, bare] if optional_index else [indexed]


def _key(row: Row) -> tuple:
    return tuple((0, round(float(v), 4), "") if _is_number(v) else (1, 0.0, str(v)) for v in row)


def rows_equal(a: list[Row], b: list[Row], *, ordered: bool) -> bool:
    if len(a) != len(b):
        return False
    if not ordered:
        a, b = sorted(a, key=_key), sorted(b, key=_key)
    return all(
        len(x) == len(y) and all(values_equal(u, v) for u, v in zip(x, y)) for x, y in zip(a, b)
    )


def results_match(pred: dict[str, Any], gold: dict[str, Any], *, ordered: bool = False) -> bool:
    one_pred, p = _scalar(pred)
    one_gold, g = _scalar(gold)
    if one_gold or one_pred:
        return one_gold and one_pred and values_equal(p, g)
    expected = _views(gold, optional_index=False)[0]
    return any(
        rows_equal(view, expected, ordered=ordered) for view in _views(pred, optional_index=True)
    )
