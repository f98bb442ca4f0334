"""`report-bullets`: a short report of exactly three bullet points with the main facts of a table.

score = format x faithfulness x coverage, each in [0, 1]:
* format: 1 for exactly three bullet lines (`- `, `* `, `• `, `1.`), 0.5 for two or four, else 0;
  prose lines around the bullets are not counted;
* faithfulness: share of stated numbers supported by the table (see numeric.py);
* coverage: share of the reference facts (meta.facts, else the reference's numbers) stated.
A product, so a report that misses any one requirement loses in proportion to it. Every row's
`reason` shows the parts ("2 bullets: format=0.50 (2 bullets) faithfulness=1.00 coverage=0.67").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tailorlm.metrics.numeric import coverage, default_facts, faithfulness
from tailorlm.types import Score

BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)")
WANTED = 3


def bullet_items(text: str) -> list[str]:
    return [m.group(1) for m in map(BULLET.match, text.splitlines()) if m]


def format_score(n_bullets: int, wanted: int = WANTED) -> float:
    if n_bullets == wanted:
        return 1.0
    return 0.5 if abs(n_bullets - wanted) == 1 else 0.0


def report_bullets_score(
    prediction: str,
    reference: str,
    sources: Sequence[str],
    facts: Sequence[Sequence[str]] | None = None,
) -> Score:
    items = bullet_items(prediction)
    fmt = format_score(len(items))
    body = "\n".join(items) if items else prediction
    faith = faithfulness(body, sources)
    cov, missed = coverage(body, facts if facts is not None else default_facts(reference))
    value = fmt * faith.value * cov
    parts = {"format": fmt, "faithfulness": faith.value, "coverage": cov, "bullets": len(items)}
    text = (
        f"format={fmt:.2f} ({len(items)} bullets) faithfulness={faith.value:.2f} coverage={cov:.2f}"
    )
    if fmt < 1:
        kind = f"{len(items)} bullets"
    elif faith.invented:
        kind = f"invented numbers {', '.join(faith.invented[:3])}"
    elif missed:
        kind = "facts missing"
    else:
        kind = "ok"
    details = {**parts, "invented": list(faith.invented), "missed": missed}
    return Score(value, reason=f"{kind}: {text}"[:300], details=details)
