"""The opt-in YNNPACK elementwise path (jscaling/_xla.py): same answers, set only when safe."""

from __future__ import annotations

import textwrap

from conftest import last_json_line, run_python, subprocess_env

from jscaling import _xla

CHILD = textwrap.dedent(
    """
    import json
    import numpy as np
    import jscaling as js
    on = js.enable_fast_cpu_kernels()
    from jscaling import testing
    rng = np.random.default_rng(0)
    N, D = 10 ** rng.uniform(0, 30, 200_000), 10 ** rng.uniform(0, 30, 200_000)
    p = js.get_preset("besiroglu2024").params
    ref = testing.chinchilla_np(*p, N, D)
    err64 = float(np.max(np.abs(js.evaluate("chinchilla", p, N, D, dtype="float64") - ref) / ref))
    err32 = float(np.max(np.abs(js.evaluate("chinchilla", p, N, D) - ref) / ref))
    best = js.isoflop_min("chinchilla", p, np.logspace(18, 25, 50), np.logspace(6, 13, 5001), dtype="float64")
    ref_loss, ref_index = testing.isoflop_min_np(lambda n, d: testing.chinchilla_np(*p, n, d), np.logspace(18, 25, 50), np.logspace(6, 13, 5001))
    print(json.dumps({"on": on, "again": js.enable_fast_cpu_kernels(), "err64": err64, "err32": err32,
                      "argmin": bool(np.array_equal(best.index, ref_index))}))
    """
)


def test_fast_kernels_give_the_same_answers():
    env = subprocess_env(JSCALING_FAST_CPU="1")
    env["XLA_FLAGS"] = env["XLA_FLAGS"].replace(_xla.FLAG, "").strip()
    out = last_json_line(run_python(["-c", CHILD], env=env))
    assert out["on"] is True and out["again"] is True
    assert out["err64"] < 1e-12
    assert out["err32"] < 1e-5
    assert out["argmin"]


def test_not_set_after_jax_started_or_when_disabled(monkeypatch):
    import jax.numpy as jnp

    jnp.ones(1).block_until_ready()  # JAX has started in this process
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("JSCALING_FAST_CPU", "1")
    assert _xla.enable_fast_cpu_kernels() is False
    monkeypatch.setenv("JSCALING_FAST_CPU", "0")
    assert _xla.enable_fast_cpu_kernels() is False
    monkeypatch.setenv("XLA_FLAGS", _xla.FLAG)
    monkeypatch.delenv("JSCALING_FAST_CPU")
    assert _xla.enable_fast_cpu_kernels() is True  # the user's own flags already say so
