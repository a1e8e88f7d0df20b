"""Property tests (hypothesis) of the laws and surfaces: shape of the law, transformations."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jscaling as js
from jscaling import laws, testing
from jscaling.laws import ChinchillaParams

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

params_st = st.builds(
    ChinchillaParams,
    E=st.floats(0.5, 3.0), A=st.floats(10.0, 5000.0), B=st.floats(10.0, 5000.0),
    alpha=st.floats(0.05, 1.0), beta=st.floats(0.05, 1.0),
)
log10_st = st.floats(0.0, 30.0)


@SETTINGS
@given(params_st, log10_st, log10_st, st.floats(0.01, 3.0))
def test_loss_decreases_in_N_and_in_D(p, n, d, step):
    N, D = 10.0**n, 10.0**d
    with jax.enable_x64(True):
        base = float(laws.chinchilla(p, N, D))
        more_N = float(laws.chinchilla(p, N * 10**step, D))
        more_D = float(laws.chinchilla(p, N, D * 10**step))
    # Never increases; strictly decreases wherever the term that shrinks is resolvable next
    # to the loss in float64.
    term_N, term_D = p.A / N**p.alpha, p.B / D**p.beta
    assert more_N <= base and more_D <= base
    if term_N > 1e-13 * base:
        assert more_N < base
    if term_D > 1e-13 * base:
        assert more_D < base
    assert base >= p.E


@SETTINGS
@given(params_st)
def test_loss_approaches_E(p):
    with jax.enable_x64(True):
        big = float(laws.chinchilla(p, 1e300, 1e300))
    assert abs(big - p.E) <= 1e-12 * p.E + p.A * 1e-300 ** p.alpha + p.B * 1e-300 ** p.beta + 1e-15


@SETTINGS
@given(params_st, st.lists(st.tuples(log10_st, log10_st), min_size=1, max_size=20))
def test_jit_equals_eager_and_matches_numpy(p, points):
    N = np.array([10.0**a for a, _ in points])
    D = np.array([10.0**b for _, b in points])
    with jax.enable_x64(True):
        eager = np.asarray(laws.chinchilla(p, N, D))
        jitted = np.asarray(jax.jit(laws.chinchilla)(p, N, D))
    np.testing.assert_allclose(jitted, eager, rtol=1e-14)
    np.testing.assert_allclose(eager, testing.chinchilla_np(*p, N, D), rtol=1e-12)


@SETTINGS
@given(st.lists(params_st, min_size=1, max_size=5), st.lists(st.tuples(log10_st, log10_st), min_size=1, max_size=10))
def test_batched_surface_equals_loop(plist, points):
    batch = ChinchillaParams(*(np.array(v) for v in zip(*plist)))
    N = np.array([10.0**a for a, _ in points])
    D = np.array([10.0**b for _, b in points])
    got = js.evaluate("chinchilla", batch, N, D, dtype="float64")
    for i, p in enumerate(plist):
        np.testing.assert_allclose(got[i], js.evaluate("chinchilla", p, N, D, dtype="float64"), rtol=1e-14)


@SETTINGS
@given(params_st, st.floats(15.0, 28.0))
def test_isoflop_minimum_is_a_minimum(p, log_c):
    C = 10.0**log_c
    N = np.logspace(0, np.log10(C / 6), 3001)  # every candidate trains on >= 1 token
    best = js.isoflop_min("chinchilla", p, [C], N, dtype="float64")
    i = int(best.index[0])
    line = js.isoflop("chinchilla", p, [C], N, dtype="float64")[0]
    assert line[i] == line.min()
    np.testing.assert_allclose(best.N[0] * best.D[0] * 6, C, rtol=1e-12)
