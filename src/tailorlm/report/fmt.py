"""Number formatting shared by every view, so the terminal, Markdown and HTML agree."""

from __future__ import annotations

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def count(x: float | int | None) -> str:
    return "?" if x is None else f"{x:,.0f}"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def seconds(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s" if x < 120 else duration(x)


def latency(p50: float | None, p95: float | None, n: int | None) -> str:
    """One request timed is one measurement, not a percentile: "3.41 s (1 request)". Otherwise
    "p50 3.41 s / p95 4.92 s (8 requests)"; the count is left out where it was not recorded."""
    if p50 is None:
        return "—"
    if n == 1:
        return f"{seconds(p50)} (1 request)"
    timed = f" ({n} requests)" if n else ""
    return f"p50 {seconds(p50)} / p95 {seconds(p95) if p95 is not None else '?'}{timed}"


def size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def money(x: float | None, currency: str = "USD") -> str:
    """Enough significant digits that sub-cent per-request costs don't all read as 0.00."""
    if x is None:
        return "—"
    symbol = SYMBOLS.get(currency, currency + " ")
    if x == 0:
        return f"{symbol}0"
    if abs(x) >= 100:
        return f"{symbol}{x:,.0f}"
    if abs(x) >= 1:
        return f"{symbol}{x:,.2f}"
    return f"{symbol}{x:.2g}" if abs(x) < 0.01 else f"{symbol}{x:.3f}"
