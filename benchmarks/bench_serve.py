"""Load test of `tailor serve`'s chat endpoint on loopback: requests/s and p50/p95 latency with
1, 8 and 32 concurrent clients, with the batching scheduler on vs off, and the ratio.

By default the model is a FakeBackend with a simulated cost per `generate` call
(`--batch-ms` per call + `--item-ms` per request in it, like a batched forward pass), so the
numbers measure the server and its scheduler, not a model, and the run takes seconds. `--model
SPEC` serves a real local model instead (slow on a CPU: keep --requests small). Bounded: each
level stops after `--requests` requests or `--max-seconds`, whichever comes first.

    .venv/bin/python benchmarks/bench_serve.py [--requests 128] [--levels 1,8,32]
    .venv/bin/python benchmarks/bench_serve.py --model /path/to/tiny-model --requests 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, row  # noqa: E402


def fake_backend(batch_ms: float, item_ms: float) -> Any:
    from tailorlm.backends import FakeBackend

    class CostlyFake(FakeBackend):
        def generate(self, batch, options=None):  # type: ignore[no-untyped-def]
            time.sleep((batch_ms + item_ms * len(batch)) / 1000)
            return super().generate(batch, options)

    return CostlyFake(default="SELECT COUNT(*) FROM orders")


def load(url: str, clients: int, requests: int, max_s: float, max_tokens: int) -> dict[str, Any]:
    """`clients` threads each send requests back to back until `requests` are done."""
    import httpx

    latencies: list[float] = []
    lock, counter = threading.Lock(), iter(range(requests))
    deadline = time.monotonic() + max_s
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": "How many orders shipped in 2024?"}],
        "max_tokens": max_tokens,
    }

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    http = httpx.Client(base_url=url, timeout=300, limits=limits)  # thread-safe, shared

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                if next(counter, None) is None:
                    return
            started = time.perf_counter()
            http.post("/chat/completions", json=body).raise_for_status()
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    http.close()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "rps": len(ordered) / wall,
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


def run(args: argparse.Namespace, batching: bool) -> dict[int, dict[str, Any]]:
    from tailorlm.server import ServerSettings, create_app, serve_in_thread

    if args.model:
        from tailorlm.backends import load_backend

        backend = load_backend(args.model)
    else:
        backend = fake_backend(args.batch_ms, args.item_ms)
    settings = ServerSettings(
        model="bench", batching=batching, max_batch=args.max_batch, batch_wait_ms=args.wait_ms
    )
    app = create_app(settings, backend_factory=lambda spec, adapter: backend)
    results = {}
    with serve_in_thread(app) as url:
        load(url, 1, 2, args.max_seconds, args.max_tokens)  # warm-up: loads the model
        for clients in args.levels:
            results[clients] = load(url, clients, args.requests, args.max_seconds, args.max_tokens)
            r = results[clients]
            print(
                f"batching={'on ' if batching else 'off'} clients={clients:>2}: "
                f"{r['n']:>4} requests, {r['rps']:7.1f} req/s, p50 {1000 * r['p50']:7.1f} ms, "
                f"p95 {1000 * r['p95']:7.1f} ms",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=128, help="requests per level")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients per level")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time bound per level")
    parser.add_argument("--model", default=None, help="serve a real local model (slow)")
    parser.add_argument("--batch-ms", type=float, default=40.0, help="fake cost per call")
    parser.add_argument("--item-ms", type=float, default=5.0, help="fake cost per request")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--wait-ms", type=float, default=5.0)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--json", help="also write the result rows to this file")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    what = (
        f"model {args.model}"
        if args.model
        else f"FakeBackend, simulated cost {args.batch_ms:g} ms per batch + {args.item_ms:g} ms "
        "per request"
    )
    print(f"bench_serve: loopback, {what}, max_batch {args.max_batch}, wait {args.wait_ms:g} ms")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as home:
        os.environ.setdefault("TAILOR_HOME", home)  # the server's job database goes here
        on, off = run(args, True), run(args, False)
    rows = [
        row(
            f"serve, {clients} concurrent clients",
            "batching off",
            off[clients]["rps"],
            on[clients]["rps"],
            "req/s",
            note=f"p95 {1000 * on[clients]['p95']:.0f} vs {1000 * off[clients]['p95']:.0f} ms; "
            + ("model " + args.model if args.model else "FakeBackend"),
        )
        for clients in args.levels
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
