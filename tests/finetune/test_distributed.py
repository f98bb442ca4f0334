"""Two training processes under `accelerate launch` (CPU, gloo): both ranks end with the same
weights, and only rank 0 writes the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tailorlm.store import RunStore

ACCELERATE = Path(sys.executable).with_name("accelerate")


@pytest.mark.skipif(
    not ACCELERATE.exists() and not shutil.which("accelerate"),
    reason="accelerate CLI not installed",
)
def test_two_processes_agree_and_only_rank_zero_writes(tiny_model_dir, _tailor_home):
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    # --multi_gpu selects accelerate's torchrun launcher; without GPUs our Accelerator runs the
    # processes on CPUs over gloo.
    cmd = [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        "-m",
        "tailorlm.finetune",
        "sql-sales",
        "--model",
        str(tiny_model_dir),
        "--max-steps",
        "3",
        "--train-size",
        "32",
        "--batch-size",
        "4",
        "--dev-limit",
        "8",
        "--eval-every",
        "2",
        "--save-every",
        "2",
        "--metric-limit",
        "0",
        "--json",  # events as JSON lines, and every rank's weights digest
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    done = {e["rank"]: e["digest"] for e in events if e["event"] == "done"}
    assert set(done) == {0, 1} and done[0] == done[1] and done[0]
    # Progress comes from rank 0 only: one start, three steps.
    assert sum(e["event"] == "start" for e in events) == 1
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]
    (record,) = RunStore().list()
    assert record.is_complete and record.read_json("metrics.json")["compute"]["processes"] == 2
    assert [r["step"] for r in record.read_jsonl("train_log.jsonl")] == [1, 2, 3]
    leftovers = [p.name for p in (_tailor_home / "runs").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
