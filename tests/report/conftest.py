from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURE = Path(__file__).with_name("comparison.json")


@pytest.fixture
def comparison() -> dict:
    """A realistic comparison.json: five systems (one not possible), items, both curves."""
    return copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8")))


def system(comparison: dict, system_id: str) -> dict:
    return next(s for s in comparison["systems"] if s["id"] == system_id)


def not_possible(comparison: dict, system_id: str, reason: str) -> None:
    """Turn a system into a `not_possible` row the way compare writes one."""
    s = system(comparison, system_id)
    s.update(status="not_possible", reason=reason, reused=False)
    for key in ("quality", "setup", "per_request", "artifacts", "change"):
        s[key] = {k: None for k in s[key]}
    for item in comparison["items"]:
        item["outputs"].pop(system_id, None)


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=900)


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        _install_chromium()
        found = shutil.which("chromium")
    if not found:
        pytest.skip(
            "chromium is not installed and cannot be installed here (needs root and apt-get): "
            "run `apt-get install -y chromium` to render the HTML report in a browser"
        )
    return found


def browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",  # required as root (containers, CI)
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def body_of(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))
