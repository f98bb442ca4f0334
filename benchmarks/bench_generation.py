"""Generation speed of the local backend, each figure a ratio to a baseline measured in this run:

1. batched (with the shared-prefix cache) vs one request at a time (plain), same prompts;
2. prefill with vs without the shared-prefix KV cache (max_new_tokens=1) on few-shot prompts;
3. model load cold (GGUF de-quantization) vs cached (safetensors), with --load.

Greedy outputs must be identical between the compared runs; the script counts them.

    .venv/bin/python benchmarks/bench_generation.py [--n 24] [--max-new-tokens 48] [--load]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _timed(backend, requests, options):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = backend.generate(requests, options)
    return out, time.perf_counter() - started


def _requests(spec: str, n: int):  # type: ignore[no-untyped-def]
    from tailorlm.evaluation import build_request
    from tailorlm.prompting import get_strategy
    from tailorlm.tasks import load_task

    task = load_task("sql-sales")
    program = get_strategy(spec)(task)
    return [build_request(program, ex, task.resources()) for ex in task.split("test")[:n]]


def batched_vs_single(cached, plain, args) -> None:  # type: ignore[no-untyped-def]
    from tailorlm.types import GenerationOptions

    requests = _requests(args.spec, args.n)
    new = args.max_new_tokens
    batched, t_batched = _timed(cached, requests, GenerationOptions(new, batch_size=args.batch))
    single, t_single = _timed(plain, requests, GenerationOptions(new, batch_size=1))
    tokens = sum(c.completion_tokens for c in batched)
    same = sum(a.text == b.text for a, b in zip(batched, single))
    print(
        f"[{args.spec}] batched(batch {args.batch}, prefix cache) {tokens / t_batched:.1f} tok/s "
        f"vs one at a time {tokens / t_single:.1f} tok/s: {t_single / t_batched:.2f}x; "
        f"identical outputs {same}/{len(requests)}"
    )


def prefill(cached, plain, spec: str, n: int, batch: int) -> None:  # type: ignore[no-untyped-def]
    from tailorlm.types import GenerationOptions

    requests = _requests(spec, n)
    options = GenerationOptions(max_new_tokens=1, batch_size=batch)
    cached.prefixes.__init__(cached.model)  # start cold: the one prefill is part of the time
    with_cache, t_cached = _timed(cached, requests, options)
    without, t_plain = _timed(plain, requests, options)
    shared = max((len(k) for k in cached.prefixes._entries), default=0)
    prompt = sum(c.prompt_tokens for c in without) / len(without)
    same = sum(a.text == b.text for a, b in zip(with_cache, without))
    print(
        f"[{spec}] prefill {n} prompts (mean {prompt:.0f} tokens, {shared} shared): "
        f"prefix cache {t_cached:.2f}s vs plain {t_plain:.2f}s = {t_plain / t_cached:.2f}x; "
        f"identical first tokens {same}/{n}"
    )


def load_times() -> None:
    from tailorlm.backends.local import LocalBackend

    os.environ["TAILOR_MODEL_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")
    cold = LocalBackend().load_seconds
    cached = LocalBackend().load_seconds
    print(f"model load: cold {cold:.1f}s, cached {cached:.1f}s ({cold / cached:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--spec", default="role+context+format+few-shot")
    parser.add_argument("--load", action="store_true", help="also time cold vs cached loads")
    args = parser.parse_args()
    if args.load:
        load_times()

    from tailorlm.backends.local import LocalBackend

    cached, plain = LocalBackend(), LocalBackend(prefix_cache=False)
    print(f"device {cached.device}, dtype {cached.dtype}, torch threads", _threads())
    for spec in ("few-shot:method=random", "role+context+format+few-shot"):
        prefill(cached, plain, spec, args.n, args.batch)
    batched_vs_single(cached, plain, args)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
