from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tailorlm.hardware import KERNEL_CACHE_CAPACITY, KERNEL_CACHE_ENV


@pytest.mark.parametrize(("given", "expected"), [(None, str(KERNEL_CACHE_CAPACITY)), ("8", "8")])
def test_importing_tailorlm_caps_the_kernel_cache_unless_set(given, expected):
    env = {k: v for k, v in os.environ.items() if k != KERNEL_CACHE_ENV}
    if given is not None:
        env[KERNEL_CACHE_ENV] = given
    code = f"import os, tailorlm; print(os.environ['{KERNEL_CACHE_ENV}'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
