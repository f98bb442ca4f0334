"""The pandas sandbox: answers that are right, wrong, or try to get out."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tailorlm.metrics import get_metric
from tailorlm.metrics._pandas_child import _landlock_abi, canonical
from tailorlm.metrics.frames import results_match
from tailorlm.metrics.pandas_exec import SandboxLimits, pandas_execution, run_code
from tailorlm.types import Example

pd = pytest.importorskip("pandas")
GOLD = "result = df.groupby('region')['revenue'].sum()"
FAST = SandboxLimits(wall_s=6, cpu_s=1, memory_mb=1024)  # wall: room for a loaded machine


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sales.csv"
    path.write_text(
        "region,revenue,order_date\nWest,10.5,2024-01-02\nEast,20.0,2024-02-03\n"
        "West,30.25,2024-02-05\nNorth,5.0,2024-03-01\n"
    )
    return path


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("home") / "secret.txt"
    path.write_text("do not read")
    return path


@pytest.fixture
def outside():
    """A world-writable folder outside the scratch one, as /tmp is: only the sandbox stops it."""
    path = Path(tempfile.mkdtemp(prefix="tailor-outside-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def score(code: str, data: Path, gold: str = GOLD):
    return pandas_execution(code, gold, data, parse_dates=("order_date",), limits=FAST)


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (GOLD, 1.0),
        ("result = df.groupby('region', as_index=False)['revenue'].sum()", 1.0),
        ("result = df.groupby('region')['revenue'].mean()", 0.0),
        ("total = df['revenue'].sum()", 0.0),  # no `result`
    ],
)
def test_results_compare_like_a_person_would(data, code, value):
    assert score(code, data).value == value


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("while True:\n    pass", "timeout"),  # the CPU or the wall-clock limit, by load
        ("import time\ntime.sleep(60)", "timeout: no result"),
        ("result = open('/etc/passwd').read()", "blocked: open('/etc/passwd')"),
        ("result = open('{secret}').read()", "blocked: open("),
        ("try:\n    open('/etc/passwd')\nexcept Exception:\n    pass\nresult = 1", "blocked: open"),
        ("import socket\nresult = socket.create_connection(('8.8.8.8', 53))", "blocked: socket"),
        ("import socket\nresult = socket.getaddrinfo('example.org', 80)", "blocked: socket"),
        ("import socket\nsocket.socket().connect(('1.1.1.1', 80))\nresult = 1", "blocked: socket"),
        ("import subprocess\nresult = subprocess.run(['ls', '/'])", "blocked: subprocess.Popen"),
        ("import os\nresult = os.system('ls /')", "blocked: os.system"),
        ("import os\nresult = os.listdir('/')", "blocked: os.listdir"),
        ("import os\nos.remove('{secret}')\nresult = 1", "blocked: os.remove"),
        ("import ctypes\nresult = ctypes.CDLL(None)", "blocked: ctypes"),
        ("x = bytearray(4 * 1024**3)\nresult = 1", "error: MemoryError"),
        ("import os\nos._exit(3)", "crashed: exit status 3"),
        ("raise SystemExit(0)", "error: SystemExit"),
    ],
)
def test_escapes_and_runaways_score_zero_with_a_reason(data, secret, code, reason):
    started = time.monotonic()
    result = score(code.format(secret=secret), data)
    assert result.value == 0.0
    assert result.reason.startswith(reason), result.reason
    assert time.monotonic() - started < FAST.wall_s + 5
    assert secret.read_text() == "do not read"


# Ways to create or change files outside the scratch folder, most of them calls that raise no
# audit event (mknod, mkfifo...) and ways to get the real function back after it is replaced.
FILE_ESCAPES = {
    "mknod": "import os\nos.mknod('{out}/node')",
    "mkfifo": "import os\nos.mkfifo('{out}/fifo')",
    "posix.mknod": "import posix\nposix.mknod('{out}/node')",
    "reload(os)": "import importlib, os\nimportlib.reload(os).mkfifo('{out}/fifo')",
    "fresh posix": "import sys\ndel sys.modules['posix']\nimport posix\nposix.mkfifo('{out}/f')",
    "_imp.create_builtin": "import _imp, importlib.util as u\n"
    "_imp.create_builtin(u.find_spec('posix')).mkfifo('{out}/fifo')",
    "module_from_spec": "import importlib.util as u\n"
    "u.module_from_spec(u.find_spec('posix')).mkfifo('{out}/fifo')",
    "supports_dir_fd": "import os\n"
    "next(f for f in os.supports_dir_fd if f.__name__ == 'mkfifo')('{out}/fifo')",
    "memfd_create": "import os\nos.memfd_create('x')",
    "chroot": "import os\nos.chroot('.')",
    "os.open": "import os\nos.open('{out}/f', os.O_CREAT | os.O_WRONLY)",
    "os.open dir_fd": "import os\nfd = os.open('{out}', os.O_RDONLY)\n"
    "os.open('f', os.O_CREAT | os.O_WRONLY, dir_fd=fd)",
    "scratch dir_fd": "import os\nos.mkdir('sub')\nos.chdir('sub')\nfd = os.open('..', 0)\n"
    "os.open('../f', os.O_CREAT | os.O_WRONLY, dir_fd=fd)",
    "mkdir dir_fd": "import os\nos.mkdir('d', dir_fd=0)",
    "makedirs": "import os\nos.makedirs('{out}/a/b')",
    "link": "import os\nos.link('{secret}', 'here')",
    "symlink": "import os\nos.symlink('{out}', 'there')",
    "truncate": "import os\nos.truncate('{secret}', 0)",
    "chmod": "import os\nos.chmod('{out}', 0o700)",
    "chown": "import os\nos.chown('{out}', 0, 0)",
    "utime": "import os\nos.utime('{secret}', (0, 0))",
    "rename": "import os\nos.rename('{secret}', '{out}/moved')",
    "replace": "import os\nos.replace('sales.csv', '{out}/moved')",
    "rmdir": "import os\nos.rmdir('{out}')",
    "setxattr": "import os\nos.setxattr('{secret}', 'user.x', b'1')",
    "pidfd_open": "import os\nos.pidfd_open(os.getppid())",
    "pidfd_send_signal": "import signal\nsignal.pidfd_send_signal(0, 0)",
    "fork_exec": "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    "posix_spawn": "import os\nos.posix_spawn('/usr/bin/touch', ['touch', '{out}/s'], {{}})",
    "fork": "import os\nos.fork()",
    "kill": "import os\nos.kill(os.getppid(), 0)",
    "sqlite3": "import sqlite3\nsqlite3.connect('{out}/x.db').execute('create table t (x)')",
    "sqlite3 attach": "import sqlite3\n"
    "sqlite3.connect(':memory:').execute(\"ATTACH '{out}/x' AS x\")",
    "readline": "import readline\nreadline.write_history_file('{out}/history')",
    "shutil.copy": "import shutil\nshutil.copy('sales.csv', '{out}/copy')",
    "pathlib": "import pathlib\npathlib.Path('{out}/p').touch()",
    "io.open": "import io\nio.open('{out}/io', 'w')",
    "tempfile": "import tempfile\ntempfile.mkstemp(dir='{out}')",
    "to_csv": "df.to_csv('{out}/x.csv')",
    "np.save": "np.save('{out}/x.npy', np.arange(3))",
}


@pytest.mark.parametrize("code", FILE_ESCAPES.values(), ids=FILE_ESCAPES)
def test_file_escapes_are_blocked_and_leave_nothing(data, secret, outside, code):
    snippet = code.format(out=outside, secret=secret) + "\nresult = 1"
    result = score(snippet, data)
    assert result.value == 0.0
    assert result.reason.startswith("blocked: "), result.reason
    assert os.listdir(outside) == []
    assert secret.read_text() == "do not read" and oct(outside.stat().st_mode)[-3:] == "777"


def test_replaced_calls_leave_no_original_behind(data):
    code = (
        "import gc\nresult = [repr(o) for o in gc.get_objects()\n"
        "    if type(o) is type(len) and o.__name__ in ('mknod', 'mkfifo', 'create_builtin')]"
    )
    run = run_code(code, data)
    assert run.ok and run.result == {"type": "list", "values": []}


def test_native_writes_stop_at_landlock(data, outside):
    # pyarrow writes from C++: no audit event, only the kernel layer sees it.
    pytest.importorskip("pyarrow")
    if not _landlock_abi():
        pytest.skip("this kernel has no Landlock")
    run = run_code(f"import pyarrow as pa\npa.OSFile('{outside}/x', 'wb').write(b'1')", data)
    assert "landlock" in run.layers
    assert run.blocked and run.blocked[0].startswith("kernel("), run
    assert os.listdir(outside) == []


def test_landlock_leaves_the_scratch_folder_writable(data):
    pytest.importorskip("pyarrow")
    code = "import pyarrow as pa\npa.OSFile('x', 'wb').write(b'1')\nresult = open('x').read()"
    run = run_code(code, data)
    assert run.ok and run.result == {"type": "scalar", "value": "1"}, run


def test_code_runs_in_a_scratch_folder_with_only_the_data(data, tmp_path):
    run = run_code(
        "import os\nopen('note.txt', 'w').write('x')\nresult = sorted(os.listdir('.'))", data
    )
    assert run.ok and run.result == {"type": "list", "values": ["note.txt", "sales.csv"]}
    assert not (data.parent / "note.txt").exists()  # the scratch folder is a copy


def test_code_never_runs_in_this_process(data):
    run = run_code("import os\nresult = os.getpid()", data)
    assert run.ok and run.result["value"] != os.getpid()


def test_network_is_refused_and_layers_are_reported(data):
    run = run_code("import socket\nresult = socket.gethostbyname('localhost')", data)
    assert not run.ok and run.blocked[0].startswith("socket.")
    # Best-effort kernel layers (a network namespace, root dropped) are reported, not assumed.
    assert set(run.layers) <= {"netns", "nobody", "landlock"}


def test_registry_uses_stored_gold_result_and_data_resource(data):
    gold = {"type": "scalar", "value": 65.75}
    example = Example("p1", {"question": "total?"}, "result = 0", meta={"result": gold})
    metric = get_metric("pandas_execution")
    assert metric("result = df['revenue'].sum()", example, {"data": data}).value == 1.0
    assert metric("result = df['revenue'].max()", example, {"data": data}).value == 0.0


# ---------------------------------------------------------------------------- comparison


SUMS = pd.Series([20.0, 5.0, 40.75], index=pd.Index(["East", "North", "West"], name="region"))


def c(value):
    return canonical(value)


@pytest.mark.parametrize(
    ("pred", "gold", "same"),
    [
        (3, 3.0, True),
        (SUMS.reset_index(), SUMS, True),
        (SUMS.sort_values(ascending=False), SUMS, True),
        (SUMS.to_dict(), SUMS, True),
        (SUMS.tolist(), SUMS, False),  # the group keys are part of the answer
        (SUMS.sum(), SUMS, False),
        (0.1 + 0.2, 0.3, True),
        (0.31, 0.3, False),
        (pd.DataFrame({"x": [7]}), 7, True),  # a one-value frame is that value
        (["b", "a"], pd.Series(["a", "b"]), True),
        (pd.Series(["a", "b"], index=[5, 9]), ["a", "b"], True),  # drop_duplicates vs unique
        (pd.Series([1, 2], index=["x", "y"]), pd.Series([1, 2], index=["y", "x"]), False),
        (pd.Series([1, 2]), pd.Series([1, 2], index=["x", "y"]), False),  # keys are part of it
        (pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [2], "a": [1]}), False),
        (pd.Series([None, 1.0]), pd.Series([float("nan"), 1.0]), True),
        (pd.Timestamp("2024-03-01"), "2024-03-01", True),
    ],
)
def test_results_match(pred, gold, same):
    assert results_match(c(pred), c(gold)) is same


def test_ordered_comparison_when_the_row_asks_for_it():
    a, b = c(pd.Series([1, 2], index=["x", "y"])), c(pd.Series([2, 1], index=["y", "x"]))
    assert results_match(a, b) and not results_match(a, b, ordered=True)


def test_the_cpu_limit_counts_the_code_alone_not_the_start(data):
    """Interpreter start, the pandas import and the data read (a second or more of CPU on a
    loaded machine) come before the limit: the code gets its whole `cpu_s`."""
    code = (
        "import resource\n"
        "used = resource.getrusage(resource.RUSAGE_SELF)\n"
        "result = resource.getrlimit(resource.RLIMIT_CPU)[0] - (used.ru_utime + used.ru_stime)"
    )
    run = run_code(code, data, limits=FAST)
    assert run.ok, run.error
    assert FAST.cpu_s - 0.5 <= run.result["value"] <= FAST.cpu_s + 1
