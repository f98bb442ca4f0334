"""Batched vs one-request-at-a-time generation on the same sql-sales prompts, and model load time
cold (GGUF de-quantization) vs cached (safetensors). Prints ratios measured in this run.

    .venv/bin/python benchmarks/bench_generation.py [--n 24] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    os.environ["TAILOR_MODEL_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")

    from tailorlm.backends.local import LocalBackend
    from tailorlm.evaluation import build_request
    from tailorlm.prompting import get_strategy
    from tailorlm.tasks import load_task
    from tailorlm.types import GenerationOptions

    cold = LocalBackend().load_seconds
    backend = LocalBackend()
    print(
        f"model load: cold {cold:.1f}s, cached {backend.load_seconds:.1f}s "
        f"({cold / backend.load_seconds:.1f}x)"
    )
    task = load_task("sql-sales")
    program = get_strategy("schema-role")(task.config)
    requests = [build_request(program, ex, task.resources()) for ex in task.split("test")[: args.n]]
    results = {}
    for batch_size in (args.batch_size, 1):
        options = GenerationOptions(max_new_tokens=args.max_new_tokens, batch_size=batch_size)
        started = time.perf_counter()
        out = backend.generate(requests, options)
        elapsed = time.perf_counter() - started
        tokens = sum(c.completion_tokens for c in out)
        results[batch_size] = (out, tokens / elapsed)
        print(
            f"batch_size={batch_size}: {tokens} tokens in {elapsed:.1f}s "
            f"= {tokens / elapsed:.1f} tokens/s"
        )
    same = sum(a.text == b.text for a, b in zip(results[args.batch_size][0], results[1][0]))
    ratio = results[args.batch_size][1] / results[1][1]
    print(f"batched/single throughput: {ratio:.2f}x; identical outputs: {same}/{len(requests)}")


if __name__ == "__main__":
    main()
