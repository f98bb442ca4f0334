"""`explain-result`: a 1-3 sentence plain-language explanation of a query result.

score = faithfulness x (0.5 x coverage + 0.5 x similarity), each part in [0, 1]:
* faithfulness: share of stated numbers derivable by rounding from the question, SQL and result
  table (numeric.py); an invented number scales the whole score down;
* coverage: share of the key facts stated (meta.key_facts, e.g. [["West", "4512.5"]]; else
  every number of the reference answer);
* similarity: semantic similarity to the reference answer, min(1, cosine / 0.8) with the
  packaged sentence-embedding model (a close paraphrase scores about 0.8 and up), or
  min(1, cosine / 0.6) of word counts when that model is not installed.
The parts are recorded in every row's `reason` ("...: faithfulness=1.00 coverage=0.50
similarity=0.81 (embedding)") so a run shows which requirement an answer missed.
"""

from __future__ import annotations

from collections.abc import Sequence

from tailorlm.metrics.numeric import coverage, default_facts, faithfulness
from tailorlm.metrics.similarity import text_similarity
from tailorlm.types import Score

# Cosine at which an answer counts as saying the same as the reference, per similarity kind.
FULL_CREDIT = {"embedding": 0.8, "lexical": 0.6}


def explanation_score(
    prediction: str,
    reference: str,
    sources: Sequence[str],
    key_facts: Sequence[Sequence[str]] | None = None,
    *,
    similarity: str = "embedding",
) -> Score:
    faith = faithfulness(prediction, sources)
    facts = key_facts if key_facts is not None else default_facts(reference)
    cov, missed = coverage(prediction, facts)
    cosine, kind = text_similarity(prediction, reference, similarity)
    sim = min(1.0, cosine / FULL_CREDIT[kind])
    value = faith.value * (0.5 * cov + 0.5 * sim)
    parts = {"faithfulness": faith.value, "coverage": cov, "similarity": sim, "kind": kind}
    text = f"faithfulness={faith.value:.2f} coverage={cov:.2f} similarity={sim:.2f} ({kind})"
    if not prediction.strip():
        problem = "empty answer"
    elif faith.invented:
        problem = f"invented numbers {', '.join(faith.invented[:3])}"
    elif missed:
        problem = "key figure missing"
    elif sim < 1:
        problem = "reworded"
    else:
        problem = "ok"
    details = {**parts, "invented": list(faith.invented), "missed": missed}
    return Score(value, reason=f"{problem}: {text}"[:300], details=details)
