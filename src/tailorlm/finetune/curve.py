"""The loss curve of a run as a small standalone SVG (no plotting library needed): train loss
per step (smoothed) and dev loss per evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

WIDTH, HEIGHT, PAD = 640, 360, 48


def _smooth(values: Sequence[float], weight: float = 0.8) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def _polyline(points: list[tuple[float, float]], color: str, dashed: bool = False) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{coords}"/>'


def _scale(lo: float, hi: float, size: int, flip: bool) -> Any:
    span = (hi - lo) or 1.0

    def to_px(v: float) -> float:
        frac = (v - lo) / span
        return PAD + (1 - frac if flip else frac) * (size - 2 * PAD)

    return to_px


def loss_curve_svg(
    train_log: Sequence[Mapping[str, Any]], dev_log: Sequence[Mapping[str, Any]]
) -> str:
    train = [(r["step"], r["loss"]) for r in train_log]
    dev = [(r["step"], r["dev_loss"]) for r in dev_log]
    values = [v for _, v in train + dev] or [0.0]
    steps = [s for s, _ in train + dev] or [0]
    x = _scale(0, max(steps), WIDTH, flip=False)
    y = _scale(min(values), max(values), HEIGHT, flip=True)
    smoothed = _smooth([v for _, v in train])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">step</text>',
        f'<text x="8" y="{PAD - 12}">loss ({min(values):.3f} - {max(values):.3f})</text>',
        f'<text x="{WIDTH - PAD}" y="{PAD - 12}" text-anchor="end" fill="#1f77b4">train '
        "(smoothed)</text>",
        f'<text x="{WIDTH - PAD}" y="{PAD + 4}" text-anchor="end" fill="#d62728">dev</text>',
    ]
    if train:
        parts.append(_polyline([(x(s), y(v)) for (s, _), v in zip(train, smoothed)], "#1f77b4"))
    if dev:
        parts.append(_polyline([(x(s), y(v)) for s, v in dev], "#d62728", dashed=True))
    return "\n".join([*parts, "</svg>"]) + "\n"
