"""Generation speed of the local backend, each figure a ratio to a baseline measured in this run:

1. batched (with the shared-prefix cache) vs one request at a time (plain), same prompts, on
   two workloads: the fine-tuned system's short prompt and the best hand-built prompt
   (role+context+format+few-shot, ~590 tokens);
2. prefill with vs without the shared-prefix KV cache (max_new_tokens=1) on few-shot prompts;
3. model load cold (GGUF de-quantization) vs cached (safetensors), with --load;
4. decoding with the in-place KV cache vs transformers' DynamicCache, and stop strings checked
   on row tails vs transformers' StopStringCriteria (both inside `generate`);
5. on a GPU, decoding replayed as CUDA graphs vs `generate`;
6. on a CPU, one request's decode attention on the key/value heads vs transformers' `sdpa`,
   a batch's prefill in passes of ~4096 tokens vs one pass, and decoding that drops ended
   rows from the batch vs `generate`.

Greedy outputs must be identical between the compared runs; the script counts them.

    .venv/bin/python benchmarks/bench_generation.py [--n 24] [--max-new-tokens 48] [--load]
                                                    [--json rows.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, row  # noqa: E402

SHORT = "finetune-short"  # the prompt a fine-tuned model is trained and served with


def _timed(backend, requests, options):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = backend.generate(requests, options)
    return out, time.perf_counter() - started


def _requests(spec: str, n: int):  # type: ignore[no-untyped-def]
    from tailorlm.evaluation import build_request
    from tailorlm.prompting import get_strategy
    from tailorlm.tasks import load_task

    task = load_task("sql-sales")
    if spec == SHORT:
        from tailorlm.finetune.data import default_program

        program = default_program(task.config)
    else:
        program = get_strategy(spec)(task)
    return [build_request(program, ex, task.resources()) for ex in task.split("test")[:n]]


def batched_vs_single(cached, plain, args, spec: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from tailorlm.types import GenerationOptions

    requests = _requests(spec, args.n)
    new = args.max_new_tokens
    batched, t_batched = _timed(cached, requests, GenerationOptions(new, batch_size=args.batch))
    single, t_single = _timed(plain, requests, GenerationOptions(new, batch_size=1))
    tokens = sum(c.completion_tokens for c in batched)
    same = sum(a.text == b.text for a, b in zip(batched, single))
    prompt = sum(c.prompt_tokens for c in single) / len(single)
    return row(
        f"generation, batch {args.batch} vs one at a time ({spec}, {prompt:.0f}-token prompts)",
        "one request at a time",
        tokens / t_single,
        tokens / t_batched,
        "tokens/s",
        target=8.0,
        note=f"{len(requests)} prompts, {new} new tokens; identical outputs {same}/{len(requests)}",
    )


def prefill(cached, plain, spec: str, n: int, batch: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from tailorlm.types import GenerationOptions

    requests = _requests(spec, n)
    options = GenerationOptions(max_new_tokens=1, batch_size=batch)
    cached.prefixes.__init__(cached.model)  # start cold: the one prefill is part of the time
    with_cache, t_cached = _timed(cached, requests, options)
    without, t_plain = _timed(plain, requests, options)
    shared = max((len(k) for k in cached.prefixes._entries), default=0)
    prompt = sum(c.prompt_tokens for c in without) / len(without)
    same = sum(a.text == b.text for a, b in zip(with_cache, without))
    return row(
        f"prefill with the shared-prefix cache ({spec}, {prompt:.0f} tokens, {shared} shared)",
        "no prefix cache",
        t_plain,
        t_cached,
        "s",
        higher_is_better=False,
        target=3.0 if spec.startswith("few-shot") else None,
        note=f"{n} prompts; identical first tokens {same}/{n}",
    )


def growing_vs_concatenated(backend, args) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """`generate` with backends/kvcache.py's in-place cache vs transformers' own, which
    concatenates the whole cache each step: best hand-built prompt (long contexts), batched."""
    from unittest import mock

    from tailorlm.types import GenerationOptions

    spec = "role+context+format+few-shot"
    requests = _requests(spec, args.n)
    return ab_under(
        mock.patch("tailorlm.backends.local.growing_cache", lambda *a, **k: None),
        backend,
        requests,
        GenerationOptions(args.max_new_tokens, batch_size=args.batch),
        f"decoding with the in-place KV cache vs transformers' DynamicCache ({spec})",
        "DynamicCache (torch.cat per step)",
        f"{len(requests)} prompts, batch {args.batch}",
    )


def tail_stops_vs_transformers(backend) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Stop strings checked on decoded row tails (backends/stops.py) vs transformers'
    StopStringCriteria, one request at a time (where the per-step overhead shows most)."""
    from unittest import mock

    from transformers import StopStringCriteria

    from tailorlm.types import GenerationOptions

    requests = _requests(SHORT, 8)
    hf = lambda tokenizer, stops: StopStringCriteria(tokenizer, list(stops))  # noqa: E731
    return ab_under(
        mock.patch("tailorlm.backends.local.stop_criteria", hf),
        backend,
        requests,
        GenerationOptions(64, batch_size=1, stop=(";",)),
        f"stop string ';' checked on row tails vs StopStringCriteria ({SHORT}, one at a time)",
        "transformers StopStringCriteria",
        f"{len(requests)} prompts, up to 64 new tokens",
    )


def packed_vs_sdpa(backend) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """On a CPU, one request at a time (no attention mask): decode attention on the key/value
    heads (backends/attention.py) vs transformers' `sdpa`, which uses SDPA's enable_gqa."""
    from tailorlm.types import GenerationOptions

    spec = "role+context+format+few-shot"
    requests = _requests(spec, 8)
    return ab_under(
        _attention(backend.model, "sdpa"),
        backend,
        requests,
        GenerationOptions(64, batch_size=1, stop=(";",)),
        f"decode attention on key/value heads vs transformers sdpa ({spec}, one at a time)",
        "sdpa (enable_gqa)",
        f"{len(requests)} prompts, up to 64 new tokens",
    )


@contextmanager
def _attention(model, name: str):  # type: ignore[no-untyped-def]
    """`model` with attention implementation `name` inside the block."""
    before = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def chunked_vs_whole_prefill(backend, args) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Prefill of a batch in passes of PREFILL_TOKENS prompt tokens vs the whole batch in one
    pass (max_new_tokens=1): the best hand-built prompt, batched."""
    from unittest import mock

    from tailorlm.types import GenerationOptions

    spec = "role+context+format+few-shot"
    requests = _requests(spec, args.n)
    options = GenerationOptions(1, batch_size=args.batch)
    backend.generate(requests, options)  # the shared prefix's cache, for both timed runs
    with mock.patch("tailorlm.backends.local.PREFILL_TOKENS", 10**9):
        _, t_whole = _timed(backend, requests, options)
    _, t_chunked = _timed(backend, requests, options)
    return row(
        f"prefill in passes of ~4096 tokens vs the whole batch ({spec})",
        "one pass",
        t_whole,
        t_chunked,
        "s",
        higher_is_better=False,
        note=f"{len(requests)} prompts, batch {args.batch}, with the shared-prefix cache",
    )


def dropping_vs_generate(backend, args) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """On a CPU: greedy decoding that drops rows from the batch as they end
    (backends/compact.py) vs `generate`, best hand-built prompt with its stop string, batched."""
    from unittest import mock

    from tailorlm.types import GenerationOptions

    spec = "role+context+format+few-shot"
    requests = _requests(spec, args.n)
    return ab_under(
        mock.patch.object(backend, "drop_ended_rows", False),
        backend,
        requests,
        GenerationOptions(128, batch_size=args.batch, stop=(";",)),
        f"decoding with ended rows dropped vs generate ({spec})",
        "transformers generate",
        f"{len(requests)} prompts, batch {args.batch}, up to 128 new tokens, stop ';'",
    )


def graphs_vs_generate(backend, args, batch: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """On a GPU: greedy decoding replayed as CUDA graphs (backends/graphs.py) vs transformers'
    `generate`, same requests (the best hand-built prompt, with its stop string)."""
    from tailorlm.types import GenerationOptions

    spec = "role+context+format+few-shot"
    requests = _requests(spec, args.n if batch > 1 else 8)
    options = GenerationOptions(args.max_new_tokens, batch_size=batch, stop=(";",))
    backend.decoder = "generate"
    plain = _timed(backend, requests, options)
    backend.decoder = "graphs"
    graphs = _timed(backend, requests, options)
    return ab_row(
        f"decoding with CUDA graphs vs generate, batch {batch} ({spec})",
        "transformers generate",
        plain,
        graphs,
        f"{len(requests)} prompts, up to {args.max_new_tokens} new tokens; decoder now "
        f"{backend.decoder}",
    )


def ab_under(  # type: ignore[no-untyped-def]
    baseline_context, backend, requests, options, metric: str, baseline: str, note: str
) -> dict[str, Any]:
    """`ab_row` for the same requests timed inside `baseline_context` (the baseline) and then
    as the backend is."""
    with baseline_context:
        theirs = _timed(backend, requests, options)
    return ab_row(metric, baseline, theirs, _timed(backend, requests, options), note)


def ab_row(metric: str, baseline: str, theirs: Any, ours: Any, note: str) -> dict[str, Any]:
    """Tokens/s of two timed runs `(completions, seconds)` over the same requests, and how
    many of the outputs are identical."""
    (plain, t_plain), (mine, t_mine) = theirs, ours
    same = sum(a.text == b.text for a, b in zip(mine, plain))
    return row(
        metric,
        baseline,
        sum(c.completion_tokens for c in plain) / t_plain,
        sum(c.completion_tokens for c in mine) / t_mine,
        "tokens/s",
        note=f"{note}; identical outputs {same}/{len(mine)}",
    )


def load_times() -> dict[str, Any]:
    from tailorlm.backends.local import LocalBackend

    os.environ["TAILOR_MODEL_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")
    cold = LocalBackend().load_seconds
    cached = LocalBackend().load_seconds
    return row(
        "model load, converted-weights cache",
        "cold (GGUF conversion)",
        cold,
        cached,
        "s",
        higher_is_better=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--load", action="store_true", help="also time cold vs cached loads")
    parser.add_argument("--json", help="also write the result rows to this file")
    args = parser.parse_args()
    rows = [load_times()] if args.load else []

    from tailorlm.backends.local import LocalBackend

    cached, plain = LocalBackend(), LocalBackend(prefix_cache=False)
    print(f"device {cached.device}, dtype {cached.dtype}, torch threads", _threads())
    warm_up(cached, plain)
    decoders = cached.decoder, plain.decoder
    cached.decoder = plain.decoder = "generate"  # the prefix cache works inside `generate`
    for spec in ("few-shot:method=random", "role+context+format+few-shot"):
        rows.append(prefill(cached, plain, spec, args.n, args.batch))
    rows.append(growing_vs_concatenated(plain, args))
    rows.append(tail_stops_vs_transformers(plain))
    if plain.device == "cpu":
        rows.append(packed_vs_sdpa(plain))
        rows.append(chunked_vs_whole_prefill(cached, args))
        rows.append(dropping_vs_generate(cached, args))
    cached.decoder, plain.decoder = decoders
    for spec in (SHORT, "role+context+format+few-shot"):
        rows.append(batched_vs_single(cached, plain, args, spec))
    if plain.decoder == "graphs":
        for batch in (args.batch, 1):
            rows.append(graphs_vs_generate(plain, args, batch))
    emit(rows, args.json)


def warm_up(*backends) -> None:  # type: ignore[no-untyped-def]
    """One small batch through each backend first, so that one-time costs (a GPU's kernel
    selection and library handles) land in no timed figure, whichever path is timed first."""
    from tailorlm.types import GenerationOptions

    requests = _requests(SHORT, 2)
    for backend in backends:
        backend.generate(requests, GenerationOptions(max_new_tokens=2, batch_size=2))


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
