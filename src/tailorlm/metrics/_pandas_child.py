"""The child side of the pandas sandbox: run as `python -I _pandas_child.py` in a scratch folder.

Reads a JSON spec on stdin ({"code", "data", "parse_dates", "nonce", "memory_mb", "cpu_s"}),
then, in this order: sets resource limits, leaves the network (a new, empty network namespace,
where the kernel allows it), imports pandas and reads the data, drops root to `nobody`, blocks
new processes (RLIMIT_NPROC) and most file descriptors, installs an audit hook that refuses
sockets, processes, ctypes and file access outside the scratch folder, and only then executes
the code. The last stdout line is `<nonce><json>`: the canonical `result`, or the error.

Stdlib and pandas only: `-I` keeps this folder off sys.path, so nothing of tailorlm is importable
here. The canonical form is shared with the builder scripts through `canonical()`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import sys
from typing import Any

MAX_ROWS = 10_000
NOBODY = 65534
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
# Modules snippets commonly use, imported before privileges drop: afterwards the interpreter's
# own files may be unreadable (e.g. a Python installed under /root).
PRELOAD = ("math", "statistics", "datetime", "re", "collections", "itertools", "functools",
           "decimal", "fractions", "json", "string", "operator", "calendar", "random",
           "textwrap", "unicodedata", "encodings.idna", "csv", "heapq", "bisect")  # fmt: skip
_DENY_PREFIXES = ("socket.", "ctypes.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                  "os.kill", "os.killpg", "os.setuid", "subprocess.", "pty.", "urllib.",
                  "webbrowser.", "winreg.", "sys.remote_exec")  # fmt: skip
_DENY = {"os.system", "os.forkpty", "os.startfile", "builtins.input", "os.chroot",
         "resource.setrlimit", "resource.prlimit", "sys.setprofile", "sys.settrace",
         "mmap.__new__"}  # fmt: skip
_PATH_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "glob.glob": (0,), "os.chdir": (0,),
                "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
                "os.replace": (0, 1), "os.link": (0, 1), "os.symlink": (0, 1),
                "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
                "shutil.rmtree": (0,), "shutil.copyfile": (0, 1), "shutil.move": (0, 1),
                "os.walk": (0,)}  # fmt: skip
_LISTINGS = {"os.listdir", "os.scandir", "glob.glob"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


# ---------------------------------------------------------------------------- canonical result


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numpy scalars unwrapped, NaN/NA -> None, timestamps as ISO text."""
    import pandas as pd

    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if value is None or (
        not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)
    ):
        return None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _trivial(index: Any) -> bool:
    import pandas as pd

    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _frame(frame: Any) -> dict[str, Any]:
    frame = frame.iloc[:MAX_ROWS]
    index = [list(k) if isinstance(k, tuple) else [k] for k in frame.index]
    return {
        "type": "frame",
        "columns": [str(c) for c in frame.columns],
        "index": [[_plain(v) for v in k] for k in index],
        "trivial_index": _trivial(frame.index),
        "rows": [[_plain(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def canonical(result: Any) -> dict[str, Any]:
    """`result` as plain JSON: a scalar, a list, or a frame (index, columns, rows)."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return _frame(result)
    if isinstance(result, pd.Series):
        return _frame(result.to_frame())
    if isinstance(result, dict):
        return _frame(pd.Series(result, dtype=object).to_frame())
    if isinstance(result, (set, frozenset)):
        result = sorted(result, key=repr)
    if isinstance(result, (list, tuple, np.ndarray, pd.Index, pd.api.extensions.ExtensionArray)):
        values = list(np.asarray(result, dtype=object).ravel())[:MAX_ROWS]
        return {"type": "list", "values": [_plain(v) for v in values]}
    return {"type": "scalar", "value": _plain(result)}


# ---------------------------------------------------------------------------- confinement


def _limit(kind: int, value: int, hard: int | None = None) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (value, value if hard is None else hard))


def _leave_network() -> str:
    """A new network namespace has only a loopback that is down: no route anywhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
        return "netns" if libc.unshare(flags) == 0 else ""
    except (OSError, AttributeError):
        return ""


def _drop_root(scratch: str) -> str:
    if os.geteuid() != 0:
        return ""
    try:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    except OSError:
        return ""
    os.chdir(scratch)
    return "nobody"


def _audit_hook(scratch: str, blocked: list[str]) -> Any:
    read_roots = tuple(
        {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    )

    def inside(path: Any, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an fd the process already holds
        real = os.path.realpath(os.fsdecode(path))
        return any(real == r or real.startswith(r + os.sep) for r in roots)

    def refuse(event: str, detail: Any) -> None:
        blocked.append(f"{event}({detail!r})"[:200])
        raise PermissionError(f"blocked by the sandbox: {event}")

    def hook(event: str, args: tuple) -> None:
        if event in _DENY or event.startswith(_DENY_PREFIXES):
            refuse(event, args[0] if args else "")
        elif event == "open":
            path, mode, flags = args
            writes = bool(set(mode or "") & set("wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            roots = (scratch,) if writes else (scratch, *read_roots)
            if path is not None and not inside(path, roots):
                refuse(event, path)
        elif event in _PATH_EVENTS:
            # Listing the interpreter's folders is how the import system finds modules.
            roots = (scratch, *read_roots) if event in _LISTINGS else (scratch,)
            for i in _PATH_EVENTS[event]:
                if i < len(args) and args[i] is not None and not inside(args[i], roots):
                    refuse(event, args[i])

    return hook


# ---------------------------------------------------------------------------- main


def _read_data(spec: dict[str, Any]) -> Any:
    import pandas as pd

    path = spec["data"]
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".json") or path.endswith(".jsonl"):
        return pd.read_json(path, lines=path.endswith(".jsonl"))
    return pd.read_csv(path, parse_dates=spec.get("parse_dates") or [])


def _run(code: str, df: Any, blocked: list[str]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {"__name__": "__snippet__", "pd": pd, "np": np, "df": df}
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(compile(code, "<answer>", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are answers too
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "blocked": blocked}
    if "result" not in namespace:
        return {"error": "no variable named `result`", "blocked": blocked}
    try:
        return {"result": canonical(namespace["result"]), "blocked": blocked}
    except Exception as exc:  # noqa: BLE001
        return {
            "error": f"result not comparable: {type(exc).__name__}: {exc}"[:300],
            "blocked": blocked,
        }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    scratch = os.path.realpath(os.getcwd())
    megabytes = int(spec.get("memory_mb", 2048))
    _limit(resource.RLIMIT_AS, megabytes * 2**20)
    cpu_s = int(spec.get("cpu_s", 10))
    _limit(resource.RLIMIT_CPU, cpu_s, cpu_s + 1)  # SIGXCPU at the soft limit, SIGKILL later
    _limit(resource.RLIMIT_FSIZE, 16 * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    layers = [_leave_network()]
    for name in PRELOAD:
        __import__(name)
    df = _read_data(spec)
    layers.append(_drop_root(scratch))
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_NOFILE, 32)
    blocked: list[str] = []
    sys.addaudithook(_audit_hook(scratch, blocked))
    report = _run(spec["code"], df, blocked)
    report["layers"] = [x for x in layers if x]
    out.write("\n" + spec["nonce"] + json.dumps(report, default=str) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
