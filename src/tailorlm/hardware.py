"""What the machine offers (L0, no heavy imports): native bf16 on the CPU, and the override.

PyTorch runs bf16 matmuls natively on CPUs with AVX512-BF16 or AMX (about 2.5x the float32
throughput of the 135M model on a 2-core such CPU, measured in benchmarks/) and emulates them,
slower than float32, elsewhere. `TAILOR_CPU_BF16=0` forces float32 on the CPU (e.g. to compare
outputs bit for bit with a float32 run); `=1` forces bf16."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

CPU_BF16_ENV = "TAILOR_CPU_BF16"


def cpu_bf16() -> bool:
    """Use bf16 on this CPU: the override if set, else whether bf16 is native here."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return cpu_has_native_bf16()


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="utf-8").split())
    except OSError:  # not Linux: be conservative
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})
