"""GPU check of the CUDA-graph decoder (backends/graphs.py) that needs no model weights:
random-weight Llamas with the packaged tokenizer, decoded with the graph replay and with
transformers' `generate`, same requests. Prints tokens/s of each and how many outputs match.

    python benchmarks/bench_graphs.py [--json rows.json]

Float32 should match row for row; bf16 can differ where two logits nearly tie. On a machine
without CUDA it says so and exits 0 (the loop itself is tested on the CPU, without capture, in
tests/backends/test_graphs.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, row  # noqa: E402

QUESTIONS = [
    "How many orders are there?",
    "Total revenue by region, highest first, for 2023?",
    "Cities?",
    "Which customer segment bought the most in Q4 of last year, and how much did it spend?",
    "Top product.",
    "Average order value per month?",
]
SHAPES = {  # layers, hidden, intermediate, heads, key/value heads
    "2-layer": (2, 32, 64, 2, 1),
    "SmolLM2-135M shape": (30, 576, 1536, 9, 3),
}


def random_llama(tokenizer: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    layers, hidden, inner, heads, kv = shape
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=inner,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to("cuda", dtype).eval()


def compare(backend: Any, batch: int, stop: tuple[str, ...], label: str) -> dict[str, Any]:
    import torch

    from tailorlm.types import GenerationOptions

    system = {"role": "system", "content": "You write SQLite. Schema: orders(id, total)."}
    requests = [(system, {"role": "user", "content": q}) for q in QUESTIONS]
    options = GenerationOptions(max_new_tokens=40, batch_size=batch, stop=stop)
    timed: dict[str, tuple[float, list[Any]]] = {}
    for decoder in ("generate", "graphs") * 2:  # the second round is the one kept: warm
        backend.decoder = decoder
        torch.cuda.synchronize()
        started = time.perf_counter()
        out = backend.generate(requests, options)
        torch.cuda.synchronize()
        timed[decoder] = (time.perf_counter() - started, out)
    (t_plain, plain), (t_graphs, graphs) = timed["generate"], timed["graphs"]
    same = sum(
        a.text == b.text and a.completion_tokens == b.completion_tokens
        for a, b in zip(graphs, plain)
    )
    tokens = sum(c.completion_tokens for c in graphs)
    return row(
        f"CUDA graphs vs generate, {label}, batch {batch}, stop {list(stop)}",
        "transformers generate",
        sum(c.completion_tokens for c in plain) / t_plain,
        tokens / t_graphs,
        "tokens/s",
        note=f"identical outputs {same}/{len(plain)}; decoder after: {backend.decoder}",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="also write the result rows to this file")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: the graph decoder is GPU-only; nothing to measure here")
        emit([], args.json)
        return
    from transformers import AutoTokenizer

    from tailorlm.backends.local import LocalBackend
    from tailorlm.backends.models import packaged_gguf

    gguf = packaged_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.padding_side = "left"
    rows = []
    for label, dtype in [("2-layer", torch.float32), ("SmolLM2-135M shape", torch.float32)]:
        model = random_llama(tokenizer, SHAPES[label], dtype)
        backend = LocalBackend.from_loaded(model, tokenizer, name=label)
        for batch, stop in [(3, ()), (6, (";", "ing")), (1, ())]:
            rows.append(compare(backend, batch, stop, f"{label} float32"))
    model = random_llama(tokenizer, SHAPES["SmolLM2-135M shape"], torch.bfloat16)
    backend = LocalBackend.from_loaded(model, tokenizer, name="bf16")
    for batch, stop in [(6, (";", "ing")), (1, ())]:
        rows.append(compare(backend, batch, stop, "SmolLM2-135M shape bf16"))
    emit(rows, args.json)


if __name__ == "__main__":
    main()
