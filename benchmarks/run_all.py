"""Run every benchmark and print one table: metric, baseline, ours, ratio (above 1 = ours
better), and the performance issue's target where it sets one.

    .venv/bin/python benchmarks/run_all.py            # generation, training, serving (~15 min)
    .venv/bin/python benchmarks/run_all.py --demo     # also `tailor demo` wall time and peak RSS
    .venv/bin/python benchmarks/run_all.py --only generation,train
    .venv/bin/python benchmarks/run_all.py --only demo

Each script runs in its own process (its own threads and memory) with `--json`, so a figure
is never measured beside another benchmark. On a CPU, pause other work first: these machines
are noisy, and every ratio is taken against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import row  # noqa: E402

HERE = Path(__file__).parent
SCRIPTS = {
    "generation": ["bench_generation.py", "--n", "24", "--max-new-tokens", "48"],
    "train": ["bench_train.py", "--steps", "6"],
    "serve": ["bench_serve.py", "--requests", "96", "--levels", "8,32"],
    "llamacpp": ["bench_llamacpp.py", "--n", "8"],
    "graphs": ["bench_graphs.py"],  # GPU only: prints nothing on a CPU
}
GIB = 1024**3


def run_script(name: str, argv: list[str]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, str(HERE / argv[0]), *argv[1:], "--json", str(out)]
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0 or not out.is_file():
            return [{"metric": f"{name}: failed (exit {done.returncode})", "ratio": None}]
        return json.loads(out.read_text(encoding="utf-8"))


def demo(log: Path | None = None) -> list[dict[str, Any]]:
    """`tailor demo` in a fresh run store, with this environment's (warm) model cache: the
    one-time GGUF conversion is reported separately by bench_generation.py --load."""
    from tailorlm import paths

    tailor = [sys.executable, "-m", "tailorlm"]  # also where the package is on PYTHONPATH
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as home:
        cache = str(paths.model_cache_dir())
        env = {**os.environ, "TAILOR_HOME": home, "TAILOR_MODEL_CACHE": cache}
        started = time.perf_counter()
        code, peak = _run_measured([*tailor, "demo"], env, log)
        wall = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([*tailor, "demo"], env=env, check=False, capture_output=True)
        again = time.perf_counter() - started
    if code != 0:
        return [{"metric": f"tailor demo: failed (exit {code})", "ratio": None}]
    return [
        row(
            "tailor demo, wall time",
            "5-minute target",
            300.0,
            wall,
            "s",
            higher_is_better=False,
            target=1.0,
        ),
        row(
            "tailor demo, peak RSS",
            "4 GiB target",
            4.0,
            peak / GIB,
            "GiB",
            higher_is_better=False,
            target=1.0,
        ),
        row(
            "second tailor demo (stored runs reused)",
            "first demo",
            wall,
            again,
            "s",
            higher_is_better=False,
        ),
    ]


def _run_measured(cmd: list[str], env: dict[str, str], log: Path | None) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of this one command: os.wait4 reports that child's own
    maximum, where RUSAGE_CHILDREN would report the largest of all earlier benchmarks too."""
    with open(log or os.devnull, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tailorlm benchmarks (ratio > 1: ours better)", show_lines=False)
    for col in ("metric", "baseline", "ours", "ratio", "target"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.get("ratio") is None:
            table.add_row(r["metric"], "", "", "", "")
            continue
        target = "" if r["target"] is None else f"{r['target']:g}x " + ("✓" if r["met"] else "✗")
        table.add_row(
            r["metric"],
            f"{r['baseline']}: {r['baseline_value']:.3g} {r['unit']}",
            f"{r['ours_value']:.3g} {r['unit']}",
            f"{r['ratio']:.2f}x",
            target,
        )
    Console(width=max(120, Console().width)).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {', '.join([*SCRIPTS, 'demo'])}"
    )
    parser.add_argument("--demo", action="store_true", help="also time `tailor demo`")
    parser.add_argument("--demo-log", type=Path, help="write the first demo's output here")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = set(chosen) - {*SCRIPTS, "demo"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    rows: list[dict[str, Any]] = []
    for name in (n for n in chosen if n != "demo"):
        if name == "llamacpp" and not _has_llama_cpp():
            rows.append(
                {
                    "metric": "llama.cpp engine: llama-cpp-python not installed "
                    "(pip install -e '.[llamacpp]')",
                    "ratio": None,
                }
            )
            continue
        rows += run_script(name, SCRIPTS[name])
    if args.demo or "demo" in chosen:
        rows += demo(args.demo_log)
    print_table(rows)


def _has_llama_cpp() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


if __name__ == "__main__":
    main()
