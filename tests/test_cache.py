"""The opt-in persistent compilation cache (jscaling/_cache.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import last_json_line, run_python, subprocess_env

from jscaling import _cache

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import jscaling as js
    folder = js.enable_compilation_cache()
    rng = np.random.default_rng(0)
    N = np.repeat(np.logspace(7, 10, 8), 4)
    D = np.tile(np.logspace(9, 12, 4), 8) * rng.uniform(0.8, 1.25, N.size)
    p = js.get_preset("besiroglu2024").params
    loss = np.asarray(js.evaluate("chinchilla", p, N, D, dtype="float64"))
    t = time.perf_counter()
    result = js.fit.fit(js.Runs.from_arrays(N=N, D=D, loss=loss), starts="random:64")
    print(json.dumps({"folder": str(folder), "x": [float(v) for v in result.params], "s": time.perf_counter() - t}))
    """
)


def _child(env: dict[str, str]) -> dict:
    return last_json_line(run_python(["-c", CHILD], env=env))


def test_second_process_reuses_compiled_programs(tmp_path):
    folder = tmp_path / "xla-cache"
    env = subprocess_env(JSCALING_CACHE_DIR=str(folder))
    first = _child(env)
    assert first["folder"] == str(folder)
    entries = sorted(p.name for p in folder.iterdir())
    assert entries, "the fit's programs were not written to the cache"
    second = _child(env)
    assert second["x"] == first["x"]  # bit for bit: same program, same inputs
    assert sorted(p.name for p in folder.iterdir()) == entries  # nothing recompiled, nothing added


def test_off_by_default_in_library_and_switchable(tmp_path, monkeypatch):
    monkeypatch.setenv("JSCALING_CACHE_DIR", "0")
    assert _cache.default_cache_dir() is None
    assert _cache.enable_compilation_cache() is None
    monkeypatch.setenv("JSCALING_CACHE_DIR", "")
    assert _cache.default_cache_dir() is None
    monkeypatch.delenv("JSCALING_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.default_cache_dir() == tmp_path / "jscaling" / "xla"
    monkeypatch.setenv("JSCALING_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.default_cache_dir() == tmp_path / "mine"
    # A folder the user already gave JAX is left alone (nothing created, nothing set).
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "theirs"))
    assert _cache.enable_compilation_cache(tmp_path / "ours") is None
    assert not (tmp_path / "ours").exists()


def test_importing_jscaling_sets_no_cache():
    env = subprocess_env()
    env.pop("JSCALING_CACHE_DIR", None)
    code = "import jax, jscaling; print(jax.config.jax_compilation_cache_dir)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "None"


def test_unwritable_folder_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    assert _cache.enable_compilation_cache(Path(blocker) / "xla") is None
