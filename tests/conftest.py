"""Test configuration: fixed seeds, the shared real-data path, and a compile counter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

# The whole test process runs with XLA's default CPU settings: the `jscaling` command turns on
# YNNPACK elementwise kernels (jscaling/_xla.py) when it starts JAX, and CLI tests call it
# in-process. test_xla.py checks the fast path separately, in a subprocess.
os.environ["JSCALING_FAST_CPU"] = "0"
# Nor does it keep compiled programs on disk (jscaling/_cache.py): tests start cold and write
# nothing outside their temporary folders; test_cache.py checks the cache in a subprocess.
os.environ["JSCALING_CACHE_DIR"] = "0"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "svg_extracted_data.csv"


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded numpy generator per test (inputs differ between tests, not runs)."""
    return np.random.default_rng(zlib.crc32(os.environ.get("PYTEST_CURRENT_TEST", "").encode()))


@pytest.fixture
def chinchilla_csv() -> Path:
    """The digitised Chinchilla runs (Besiroglu et al. 2024); skips where the file is absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this one's, with XLA_FLAGS extended, not replaced."""
    env = dict(os.environ)
    flags = extra.pop("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    env.update(extra)
    return env


def run_python(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> str:
    """Runs a child Python (`python ARGS`); asserts it succeeded and returns its stdout."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def last_json_line(stdout: str) -> dict:
    """The JSON object a child printed last."""
    return json.loads(stdout.strip().splitlines()[-1])
