"""What the machine offers and how tailorlm uses it (L0, no heavy imports at module level): the
device and precision a local model runs in, native bf16 on the CPU and its override, how many
CPU threads a step uses, and the description a comparison records.

PyTorch runs bf16 matmuls natively on CPUs with AVX512-BF16 or AMX (about 2.5x the float32
throughput of the 135M model on a 2-core such CPU, measured in benchmarks/) and emulates them,
slower than float32, elsewhere. `TAILOR_CPU_BF16=0` forces float32 on the CPU (e.g. to compare
outputs bit for bit with a float32 run); `=1` forces bf16."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

CPU_BF16_ENV = "TAILOR_CPU_BF16"
# oneDNN (PyTorch's CPU matmul library) keeps a compiled kernel for every matmul shape it has
# met, 1024 by default. Training rows come in many widths, and each new width added kernels
# and memory (measured: 60 LoRA steps of sql-sales with widths in steps of 8 peaked at 2.75 GB
# resident with the default, 2.41 GB with 64, at the same tokens/s; 16 was 20% slower).
KERNEL_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
KERNEL_CACHE_CAPACITY = 64


def bound_kernel_cache() -> None:
    """Cap oneDNN's kernel cache (unless the variable is set already). oneDNN reads it once,
    when PyTorch first runs a CPU matmul, so this runs when tailorlm is imported."""
    os.environ.setdefault(KERNEL_CACHE_ENV, str(KERNEL_CACHE_CAPACITY))


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


def release_memory() -> None:
    """Hand memory freed by a finished step back to the system: collect garbage (models hold
    reference cycles), empty PyTorch's GPU cache, and on glibc trim the heap. glibc keeps freed
    blocks for reuse, so without the trim a process that trained a model keeps its peak
    activation memory (measured here: 2.9 GB resident after training, 0.9 GB after a trim)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None


def free_cores() -> int:
    """Cores not already busy with other work (at least one)."""
    return max(1, (os.cpu_count() or 1) - int(busy_cores() + 0.5))


def busy_cores(window_s: float = 0.3) -> float:
    """Cores other work keeps busy now, from two /proc/stat samples. The load average would
    still count a job that ended a minute ago (it decays over minutes), so a training started
    right after another one would needlessly run on fewer threads."""
    first = _cpu_times()
    if first is None:  # not Linux
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    time.sleep(window_s)
    second = _cpu_times()
    if second is None:
        return 0.0
    idle, total = second[0] - first[0], second[1] - first[1]
    return (os.cpu_count() or 1) * (1 - idle / total) if total > 0 else 0.0


def _cpu_times() -> tuple[int, int] | None:
    """(idle + iowait, total) jiffies over all CPUs."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields[:8])


def pick_device(device: str | None = None) -> tuple[str, str]:
    """Return (device, dtype name): the GPU in bf16 when it supports it; the CPU in bf16 when
    it has native bf16 instructions (see `cpu_bf16`), else float32."""
    if device is None or device.startswith("cuda"):
        import torch  # only here: a named CPU device is answered without importing it

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda"):
            return device, "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return device, "bfloat16" if cpu_bf16() else "float32"


def cpu_threads() -> int:
    """Intra-op threads for CPU training: one per core that is not already busy. PyTorch's
    OpenMP threads synchronise at every op, and on cores shared with other work each of those
    waits costs a time slice (measured here: 2 threads on 2 loaded cores ran 7x slower than 1).
    OMP_NUM_THREADS, when set (torchrun and accelerate launch set it), wins."""
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    return free_cores()


@contextmanager
def cpu_threads_fixed() -> Iterator[None]:
    """On a CPU, choose the intra-op thread count once, before this process adds load of its
    own, and keep it for every step. PyTorch's OpenMP threads wait on each other at every op, so
    2 threads on 2 cores that other work also uses run many times slower than 1 (measured here:
    one request took 38 s instead of 3). Fine-tuning picks its threads from the load average,
    which by then counts this process's own generation; OMP_NUM_THREADS makes it keep ours."""
    import torch

    if torch.cuda.is_available() or os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    before = torch.get_num_threads()
    threads = cpu_threads()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)
        torch.set_num_threads(before)


def machine() -> dict[str, Any]:
    """The machine the local steps ran on (what a comparison records)."""
    import torch

    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return {"device": "cuda", "name": name, "threads": threads, "gpu": name}
    cpu = f"{os.cpu_count()}-core {platform.machine()} CPU"
    model_name = _cpu_model()
    return {
        "device": "cpu",
        "name": f"{cpu} ({model_name})" if model_name else cpu,
        "threads": threads,
        "gpu": None,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
