"""The child side of the pandas sandbox: run as `python -I _pandas_child.py` in a scratch folder.

Reads a JSON spec on stdin ({"code", "data", "parse_dates", "nonce", "memory_mb", "cpu_s"}),
then, in this order: sets resource limits, leaves the network (a new, empty network namespace,
where the kernel allows it), imports pandas and reads the data, drops root to `nobody`, blocks
new processes (RLIMIT_NPROC) and most file descriptors, lets the kernel allow writes only in the
scratch folder (Landlock, where the kernel has it), replaces the calls that raise no audit event
(`os.mknod`, `os.mkfifo`... see _UNAUDITED), installs an audit hook that refuses sockets,
processes, ctypes, sqlite3 and file access outside the scratch folder, and only then executes
the code. The last stdout line is `<nonce><json>`: the canonical `result`, or the error. The
layers that took effect are reported (`netns`, `nobody`, `landlock`).

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
import struct
import sys
from collections.abc import Callable
from typing import Any, NoReturn

MAX_ROWS = 10_000
NOBODY = 65534
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
_SYS_LANDLOCK = 444  # landlock_create_ruleset; add_rule and restrict_self follow
_LANDLOCK_MACHINES = ("x86_64", "aarch64", "riscv64")  # where these syscall numbers hold
_PR_SET_NO_NEW_PRIVS = 38
# Modules snippets commonly use, imported before privileges drop: afterwards the interpreter's
# own files may be unreadable (e.g. a Python installed under /root).
PRELOAD = ("math", "statistics", "datetime", "re", "collections", "itertools", "functools",
           "decimal", "fractions", "json", "string", "operator", "calendar", "random",
           "textwrap", "unicodedata", "encodings.idna", "csv", "heapq", "bisect")  # fmt: skip
_DENY_PREFIXES = ("socket.", "ctypes.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                  "os.kill", "os.killpg", "os.setuid", "subprocess.", "pty.", "urllib.",
                  "webbrowser.", "winreg.", "sys.remote_exec",
                  "sqlite3.")  # fmt: skip
_DENY = {"os.system", "os.forkpty", "os.startfile", "builtins.input", "os.chroot",
         "resource.setrlimit", "resource.prlimit", "sys.setprofile", "sys.settrace",
         "mmap.__new__"}  # fmt: skip
_PATH_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "glob.glob": (0,), "os.chdir": (0,),
                "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
                "os.replace": (0, 1), "os.link": (0, 1), "os.symlink": (0, 1),
                "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
                "shutil.rmtree": (0,), "shutil.copyfile": (0, 1), "shutil.move": (0, 1),
                "os.walk": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
                "os.getxattr": (0,), "os.listxattr": (0,)}  # fmt: skip
_READS = {"os.listdir", "os.scandir", "glob.glob", "os.getxattr", "os.listxattr"}
# Where events carry a dir_fd: a path relative to a directory fd would slip past the checks.
_DIR_FD_ARGS = {"os.mkdir": (2,), "os.remove": (1,), "os.rmdir": (1,), "os.rename": (2, 3),
                "os.replace": (2, 3), "os.link": (2, 3), "os.symlink": (2,), "os.chmod": (2,),
                "os.chown": (3,), "os.utime": (3,)}  # fmt: skip
_NO_DIR_FD = (None, -1, -100)  # -100: AT_FDCWD
_STARTUP_CPU_S = 60  # CPU for interpreter start, pandas and the data read, before the real limit
# Calls that raise no audit event (docs.python.org/3/library/audit_events.html, and traced on
# 3.11), replaced before the code runs. `os` takes its functions from `posix`, so a reloaded
# `os` gets the replacements too; `_imp.create_builtin` would build a fresh `posix`.
_UNAUDITED = {"posix": ("mknod", "mkfifo", "memfd_create", "pidfd_open", "chroot", "unshare",
                        "setns"),
              "signal": ("pidfd_send_signal",), "_posixsubprocess": ("fork_exec",),
              "_imp": ("create_builtin",)}  # fmt: skip
# readline writes its history file from C; sqlite3 opens, ATTACHes and VACUUMs INTO files.
_DENY_IMPORTS = {"readline", "sqlite3", "_sqlite3"}
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


def _limit_cpu_from_now(cpu_s: int) -> None:
    """The CPU limit counts the user's code only: interpreter start, pandas and the data read
    (a second or more on a loaded machine) are already spent. SIGXCPU at the soft limit, SIGKILL
    a second later."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_s
    _limit(resource.RLIMIT_CPU, soft, soft + 1)


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


def _landlock_rights(abi: int) -> tuple[int, int, int]:
    """(filesystem, network, scope) rights this kernel's Landlock ABI knows, from landlock.h."""
    fs = 1 | 2 | sum(1 << bit for bit in range(4, 13))  # execute, write, remove, make any kind
    fs |= (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)  # refer, truncate
    net = 1 | 2 if abi >= 4 else 0  # bind and connect TCP: none allowed
    scope = 1 | 2 if abi >= 6 else 0  # no signals, no abstract sockets outside this process
    return fs, net, scope


def _landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (or no known syscall number)."""
    if sys.platform != "linux" or os.uname().machine not in _LANDLOCK_MACHINES:
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return max(0, libc.syscall(_SYS_LANDLOCK, None, 0, 1))  # 1: LANDLOCK_CREATE_RULESET_VERSION


def _landlock(scratch: str) -> str:
    """Let the kernel allow writes only under `scratch` (Landlock, Linux >= 5.13), where it can.

    Unlike the audit hook it also covers native code (pyarrow's files, a loaded library). Any
    failure leaves the process unrestricted and the layer unreported.
    """
    try:
        abi = _landlock_abi()
        if abi < 1:
            return ""
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fs, net, scope = _landlock_rights(abi)
        attr = struct.pack("QQQ", fs, net, scope)
        ruleset = libc.syscall(_SYS_LANDLOCK, attr, len(attr), 0)
        if ruleset < 0:
            return ""
        try:
            return "landlock" if _restrict(libc, ruleset, scratch, fs & ~1) else ""
        finally:
            os.close(ruleset)
    except (ImportError, OSError, AttributeError):
        return ""


def _restrict(libc: Any, ruleset: int, scratch: str, allowed: int) -> bool:
    fd = os.open(scratch, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = struct.pack("=Qi", allowed, fd)  # landlock_path_beneath_attr is packed
        if libc.syscall(_SYS_LANDLOCK + 1, ruleset, 1, rule, 0) != 0:  # 1: PATH_BENEATH
            return False
    finally:
        os.close(fd)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.syscall(_SYS_LANDLOCK + 2, ruleset, 0) == 0


def _refuser(blocked: list[str]) -> Callable[[str, Any], NoReturn]:
    def refuse(event: str, detail: Any) -> NoReturn:
        blocked.append(f"{event}({detail!r})"[:200])
        raise PermissionError(f"blocked by the sandbox: {event}")

    return refuse


def _audit_hook(scratch: str, refuse: Callable[[str, Any], NoReturn]) -> Any:
    read_roots = (scratch, *{os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                                             sys.exec_prefix)})  # fmt: skip
    no_import = frozenset(sys.builtin_module_names) | _DENY_IMPORTS  # builtins: all loaded

    def inside(path: Any, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an fd the process already holds
        real = os.path.realpath(os.fsdecode(path))
        return any(real == r or real.startswith(r + os.sep) for r in roots)

    def check_open(path: Any, mode: str | None, flags: int | None) -> None:
        if path is None or isinstance(path, int):
            return  # no path, or an fd the process already holds
        writes = bool(set(mode or "") & set("wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        # The event has no dir_fd, so no directory fds at all: os.open(p, dir_fd=fd) is relative
        # to a folder the check cannot see (the same holds for the _DIR_FD_ARGS events).
        if os.path.isdir(path):
            refuse("open", path)
        if not inside(path, (scratch,) if writes else read_roots):
            refuse("open", path)

    def check_paths(event: str, args: tuple) -> None:
        # Listing the interpreter's folders is how the import system finds modules.
        roots = read_roots if event in _READS else (scratch,)
        for i in _PATH_EVENTS[event]:
            if i < len(args) and args[i] is not None and not inside(args[i], roots):
                refuse(event, args[i])
        for i in _DIR_FD_ARGS.get(event, ()):
            if i < len(args) and args[i] not in _NO_DIR_FD:
                refuse(event, f"dir_fd={args[i]}")

    def hook(event: str, args: tuple) -> None:
        if event in _DENY or event.startswith(_DENY_PREFIXES):
            refuse(event, args[0] if args else "")
        elif event == "import" and args[0] in no_import:
            refuse(event, args[0])  # re-creating a patched builtin module, or a denied one
        elif event == "open":
            check_open(*args)
        elif event in _PATH_EVENTS:
            check_paths(event, args)

    return hook


def _refusal(event: str, refuse: Callable[[str, Any], NoReturn]) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        refuse(event, args[0] if args else "")

    return refused


def _disable_unaudited(refuse: Callable[[str, Any], NoReturn]) -> None:
    """Replace the calls no audit event covers, in `os` and `posix`; nothing keeps the originals."""
    import importlib

    for name in sys.builtin_module_names:  # none needs `_imp.create_builtin` after this
        importlib.import_module(name)
    for module_name, names in _UNAUDITED.items():
        module = importlib.import_module(module_name)
        owners = (module, os) if module_name == "posix" else (module,)
        prefix = "os" if module_name == "posix" else module_name
        for name in names:
            if hasattr(module, name):
                _replace(owners, name, _refusal(f"{prefix}.{name}", refuse))


def _replace(owners: tuple[Any, ...], name: str, stub: Callable[..., Any]) -> None:
    original = getattr(owners[0], name)
    stub.__name__ = stub.__qualname__ = name
    for owner in owners:
        setattr(owner, name, stub)
    # os.supports_dir_fd and friends hold the function objects themselves.
    for group in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks,
                  os.supports_effective_ids):  # fmt: skip
        if original in group:
            group.discard(original)
            group.add(stub)


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
        if isinstance(exc, PermissionError) and not blocked:
            blocked.append(f"kernel({exc})"[:200])  # Landlock or file modes: native code did it
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


def _confine(scratch: str, layers: list[str]) -> list[str]:
    """The layers set up after the data is read; returns the list `refuse` records into."""
    layers.append(_drop_root(scratch))
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_NOFILE, 32)
    layers.append(_landlock(scratch))
    sys.dont_write_bytecode = True  # else a module imported without a .pyc tries to write one
    blocked: list[str] = []
    refuse = _refuser(blocked)
    _disable_unaudited(refuse)
    sys.addaudithook(_audit_hook(scratch, refuse))
    return blocked


def main() -> None:
    spec = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    scratch = os.path.realpath(os.getcwd())
    megabytes = int(spec.get("memory_mb", 2048))
    _limit(resource.RLIMIT_AS, megabytes * 2**20)
    cpu_s = int(spec.get("cpu_s", 10))
    _limit(resource.RLIMIT_CPU, cpu_s + _STARTUP_CPU_S, cpu_s + _STARTUP_CPU_S + 1)
    _limit(resource.RLIMIT_FSIZE, 16 * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    layers = [_leave_network()]
    for name in PRELOAD:
        __import__(name)
    df = _read_data(spec)
    _limit_cpu_from_now(cpu_s)
    blocked = _confine(scratch, layers)
    report = _run(spec["code"], df, blocked)
    report["layers"] = [x for x in layers if x]
    out.write("\n" + spec["nonce"] + json.dumps(report, default=str) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
