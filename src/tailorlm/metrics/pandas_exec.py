"""Execution accuracy for generated pandas code: run it on the task's data in a sandboxed child
process and compare its `result` with the gold result.

Generated code never runs in this process. Each answer gets a fresh `python -I` child (see
_pandas_child.py) in a new scratch folder holding only a copy of the data file, with a minimal
environment, resource limits (address space, CPU seconds, file size, open files, no new
processes), no network where the kernel allows a new network namespace, root dropped to
`nobody`, writes outside the scratch folder refused by the kernel where it has Landlock, the
calls that raise no audit event (`os.mknod`, `os.mkfifo`...) replaced, an audit hook that
refuses sockets, processes, ctypes, sqlite3 and files outside the scratch folder, and a
wall-clock limit after which the whole process group is killed. README.md says what this does
not stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tailorlm.metrics.frames import results_match
from tailorlm.types import Score

CHILD = Path(__file__).with_name("_pandas_child.py")
NOBODY = 65534
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 20.0  # includes the ~0.5 s pandas import
    cpu_s: int = 10
    memory_mb: int = 2048


@dataclass(frozen=True)
class Execution:
    ok: bool
    result: Any = None
    error: str = ""
    blocked: tuple[str, ...] = ()
    layers: tuple[str, ...] = field(default_factory=tuple)


def run_code(
    code: str,
    data: Path,
    *,
    parse_dates: tuple[str, ...] = (),
    limits: SandboxLimits | None = None,
) -> Execution:
    """Run `code` with `df` = the data file in a sandboxed child; its canonical `result`."""
    limits = limits or SandboxLimits()
    with tempfile.TemporaryDirectory(prefix="tailor-pandas-") as tmp:
        scratch, private = Path(tmp, "scratch"), Path(tmp, "out")
        scratch.mkdir()
        private.mkdir(mode=0o700)
        shutil.copyfile(data, scratch / data.name)
        _open_to_nobody(Path(tmp), scratch, scratch / data.name)
        nonce = secrets.token_hex(16)
        spec = {"code": code, "data": data.name, "parse_dates": list(parse_dates),
                "nonce": nonce, "memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s}  # fmt: skip
        stdout, returncode = _spawn(json.dumps(spec), scratch, private, limits)
    if returncode is None:
        return Execution(False, error=f"timeout: no result within {limits.wall_s:g} s")
    if returncode == -signal.SIGXCPU:
        return Execution(False, error=f"timeout: CPU limit of {limits.cpu_s} s")
    if returncode == -signal.SIGKILL:  # the hard CPU limit, or the kernel out of memory
        return Execution(False, error="killed: CPU or memory limit")
    return _parse_report(stdout, nonce, returncode)


def _open_to_nobody(tmp: Path, scratch: Path, data: Path) -> None:
    # The child drops root to `nobody`: it must reach its scratch folder and data, not `out/`.
    if os.geteuid() != 0:
        return
    os.chmod(tmp, 0o711)
    for path in (scratch, data):
        os.chown(path, NOBODY, NOBODY)


def _spawn(
    spec: str, scratch: Path, private: Path, limits: SandboxLimits
) -> tuple[str, int | None]:
    """The child's output and exit status (None when it ran past the wall-clock limit)."""
    out_path = private / "stdout"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-I", str(CHILD)],
            cwd=scratch,
            env={**_ENV, "HOME": str(scratch), "TMPDIR": str(scratch)},
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills everything in it
        )
        try:
            proc.communicate(spec.encode(), timeout=limits.wall_s)
            returncode: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            _kill_group(proc)
    return _tail(out_path), returncode


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, limit: int = 4 << 20) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode("utf-8", errors="replace")


def _parse_report(stdout: str, nonce: str, returncode: int) -> Execution:
    lines = [line for line in stdout.splitlines() if line.startswith(nonce)]
    if not lines:
        last = stdout.strip().splitlines()[-1:] or ["no output"]
        return Execution(False, error=f"crashed: exit status {returncode}, {last[0][:200]}")
    report = json.loads(lines[-1][len(nonce) :])
    blocked, layers = tuple(report.get("blocked", ())), tuple(report.get("layers", ()))
    if "error" in report:
        return Execution(False, error=report["error"], blocked=blocked, layers=layers)
    return Execution(True, result=report["result"], blocked=blocked, layers=layers)


# ---------------------------------------------------------------------------- the metric


@lru_cache(maxsize=1024)
def _gold_run(code: str, data: str, mtime: float, parse_dates: tuple[str, ...]) -> Execution:
    return run_code(code, Path(data), parse_dates=parse_dates)


def gold_result(code: str, data: Path, parse_dates: tuple[str, ...] = ()) -> Any:
    """The gold code's canonical result (run once per process, in the same sandbox)."""
    run = _gold_run(code, str(data), data.stat().st_mtime, parse_dates)
    if not run.ok:
        from tailorlm.errors import MetricError

        raise MetricError(f"gold code fails: {run.error}", hint="fix the row's output code")
    return run.result


def pandas_execution(
    prediction: str,
    gold_code: str,
    data: Path,
    *,
    gold: Any = None,
    parse_dates: tuple[str, ...] = (),
    ordered: bool = False,
    limits: SandboxLimits | None = None,
) -> Score:
    """1.0 when the prediction's `result` equals the gold result (see frames.results_match)."""
    if not prediction.strip():
        return Score(0.0, reason="empty answer")
    expected = gold if gold is not None else gold_result(gold_code, data, parse_dates)
    run = run_code(prediction, data, parse_dates=parse_dates, limits=limits)
    details = {"layers": list(run.layers)}
    if run.blocked:
        return Score(0.0, reason=f"blocked: {run.blocked[0]}", details=details)
    if not run.ok:
        kind = run.error.split(":", 1)[0]
        reason = run.error if kind in ("timeout", "crashed") else f"error: {run.error}"
        return Score(0.0, reason=reason[:300], details=details)
    if results_match(run.result, expected, ordered=ordered):
        return Score(1.0, details=details)
    return Score(0.0, "mismatch", {**details, "result": str(run.result)[:200]}, well_formed=True)
