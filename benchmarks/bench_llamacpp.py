"""The optional llama.cpp engine vs the transformers backend on the same sql-sales prompts:
tokens/s one request at a time on both, and llama.cpp against our batched transformers path,
with the count of identical greedy outputs (llama.cpp computes on the GGUF's 4-bit weights,
transformers on their de-quantized bf16/float32 copy, so some outputs differ).

    pip install -e '.[llamacpp]'      # compiles llama.cpp (~12 min on 2 cores)
    .venv/bin/python benchmarks/bench_llamacpp.py [--n 8] [--max-new-tokens 48] [--json rows.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_generation import SHORT, _requests, _timed  # noqa: E402
from common import emit, row  # noqa: E402


def compare(llama: Any, local: Any, spec: str, n: int, new: int) -> list[dict[str, Any]]:
    from dataclasses import replace

    from tailorlm.types import GenerationOptions

    requests = _requests(spec, n)
    one = GenerationOptions(max_new_tokens=new, batch_size=1)
    llama.generate(requests[:1], one)  # warm-up (first-call allocations)
    ours, t_llama = _timed(llama, requests, one)
    single, t_single = _timed(local, requests, one)
    batched, t_batched = _timed(local, requests, replace(one, batch_size=len(requests)))
    same = sum(a.text == b.text for a, b in zip(ours, single))
    tokens = sum(c.completion_tokens for c in ours)
    ref_tokens = sum(c.completion_tokens for c in single)
    prompt = sum(c.prompt_tokens for c in ours) / len(ours)
    note = f"{n} prompts, {new} new tokens; identical outputs {same}/{n}"
    return [
        row(
            f"llama.cpp vs transformers, one at a time ({spec}, {prompt:.0f}-token prompts)",
            "transformers, one at a time",
            ref_tokens / t_single,
            tokens / t_llama,
            "tokens/s",
            note=note,
        ),
        row(
            f"llama.cpp (one at a time) vs transformers batched ({spec})",
            f"transformers, batch {len(requests)}",
            sum(c.completion_tokens for c in batched) / t_batched,
            tokens / t_llama,
            "tokens/s",
            note=note,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--json", help="also write the result rows to this file")
    args = parser.parse_args()
    from tailorlm.backends import load_backend
    from tailorlm.backends.local import LocalBackend

    llama = load_backend("llamacpp:smollm2-135m")
    local = LocalBackend()
    print(f"llama.cpp loaded in {llama.load_seconds:.1f}s; transformers {local.dtype}")
    rows = []
    for spec in (SHORT, "role+context+format+few-shot"):
        rows += compare(llama, local, spec, args.n, args.max_new_tokens)
    emit(rows, args.json)


if __name__ == "__main__":
    main()
