"""The Approach 3 objective and the fitting kernels, against plain numpy on fresh random inputs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jscaling import _runtime
from jscaling.data import Runs
from jscaling.laws import KAPLAN_JOINT, ChinchillaLogParams, ChinchillaParams, KaplanJointParams, PowerLawParams
from jscaling.objective import (
    CHINCHILLA_FORM,
    KAPLAN_D_FORM,
    KAPLAN_N_FORM,
    PowerLawLogParams,
    Spec,
    autodiff_value_and_grad,
    fit_data,
    get_form,
    lse_value_and_grad,
    objective,
    parameterisation,
)


def _runs(rng: np.random.Generator, n: int = 60) -> Runs:
    N = 10.0 ** rng.uniform(7, 10.5, n)
    D = 10.0 ** rng.uniform(9, 12, n)
    loss = 1.8 + 480 * N**-0.34 + 2100 * D**-0.37
    return Runs.from_arrays(N, D, loss * np.exp(0.02 * rng.standard_normal(n)), weight=rng.uniform(0.5, 2.0, n))


def _huber_np(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _objective_np(raw: np.ndarray, runs: Runs, *, delta: float = 1e-3, residuals: str = "log", asymmetry: float = 1.0, weight: np.ndarray | None = None, mean: bool = False) -> float:
    """Plain numpy: log L by np.logaddexp (a different route from the library's shift)."""
    a, b, e, alpha, beta = raw
    log_pred = np.logaddexp(np.logaddexp(a - alpha * np.log(runs.N), b - beta * np.log(runs.D)), e)
    r = log_pred - np.log(runs.loss) if residuals == "log" else np.exp(log_pred) - runs.loss
    h = _huber_np(r, delta) * np.where(r > 0, asymmetry, 1.0)
    w = runs.weight if weight is None else weight
    return float(np.sum(w * h) / (np.sum(w) if mean else 1.0))


def _raw_batch(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.uniform(4, 8, n), rng.uniform(5, 9, n), rng.uniform(0.3, 0.8, n), rng.uniform(0.2, 0.5, n), rng.uniform(0.2, 0.5, n)], axis=1)


# --------------------------------------------------------------------------- objective


@pytest.mark.parametrize("residuals", ["log", "raw"])
@pytest.mark.parametrize("asymmetry", [1.0, 4.0])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_objective_matches_numpy(rng, residuals, asymmetry, reduction):
    runs = _runs(rng)
    X = _raw_batch(rng, 5)
    delta = float(rng.choice([1e-3, 1e-2]))
    with _runtime.x64_scope():
        got = np.asarray(objective(ChinchillaLogParams(*X.T), runs, delta=delta, residuals=residuals, asymmetry=asymmetry, reduction=reduction))
    want = [_objective_np(x, runs, delta=delta, residuals=residuals, asymmetry=asymmetry, mean=reduction == "mean") for x in X]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_objective_natural_equals_raw_and_jit_equals_eager(rng):
    runs = _runs(rng)
    x = _raw_batch(rng, 1)[0]
    raw = ChinchillaLogParams(*x)
    natural = ChinchillaParams(E=math.exp(x[2]), A=math.exp(x[0]), B=math.exp(x[1]), alpha=x[3], beta=x[4])
    with _runtime.x64_scope():
        eager = float(objective(raw, runs))
        jitted = float(jax.jit(lambda p: objective(p, runs))(raw))
        via_natural = float(objective(natural, runs))
    assert jitted == pytest.approx(eager, rel=1e-14)
    assert via_natural == pytest.approx(eager, rel=1e-12)
    assert eager == pytest.approx(_objective_np(x, runs), rel=1e-12)


def test_objective_batch_equals_loop_and_weights_override(rng):
    runs = _runs(rng)
    X = _raw_batch(rng, 4)
    w = rng.uniform(0, 3, len(runs))
    with _runtime.x64_scope():
        batch = np.asarray(objective(ChinchillaLogParams(*X.T), runs, weights=w))
        loop = [float(objective(ChinchillaLogParams(*x), runs, weights=w)) for x in X]
    np.testing.assert_allclose(batch, loop, rtol=1e-14)
    np.testing.assert_allclose(batch, [_objective_np(x, runs, weight=w) for x in X], rtol=1e-12)


def test_objective_integer_weights_equal_duplicated_runs(rng):
    runs = _runs(rng, 20)
    counts = rng.integers(0, 4, len(runs))
    counts[0] = 1
    dup = Runs.from_arrays(np.repeat(runs.N, counts), np.repeat(runs.D, counts), np.repeat(runs.loss, counts))
    x = ChinchillaLogParams(*_raw_batch(rng, 1)[0])
    with _runtime.x64_scope():
        weighted = float(objective(x, runs, weights=counts.astype(float)))
        repeated = float(objective(x, dup))
    assert weighted == pytest.approx(repeated, rel=1e-12)


def test_objective_validates_options(rng):
    runs = _runs(rng, 10)
    p = ChinchillaLogParams(6.0, 7.0, 0.5, 0.3, 0.3)
    with pytest.raises(ValueError, match="delta must be positive"):
        objective(p, runs, delta=0.0)
    with pytest.raises(ValueError, match="residuals must be 'log' or 'raw'"):
        objective(p, runs, residuals="relative")
    with pytest.raises(ValueError, match="reduction"):
        objective(p, runs, reduction="median")
    with pytest.raises(ValueError, match=r"weights must have one value per run, shape \(10,\)"):
        objective(p, runs, weights=np.ones(3))
    with pytest.raises(ValueError, match="weights must be >= 0; found -1.0 at index 2"):
        objective(p, runs, weights=[1, 1, -1, 1, 1, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="every run has weight 0"):
        objective(p, runs, weights=np.zeros(10))
    with pytest.raises(TypeError, match="runs must be a jscaling.data.Runs"):
        objective(p, {"N": [1.0]})


# --------------------------------------------------------------------------- kernels


def _check_kernel(form, spec, X, runs, weight, delta=1e-3, asym=1.0):
    with _runtime.x64_scope():
        data = fit_data(runs, runs.weight, spec.residuals, jnp.float64)
        w = jnp.asarray(weight)
        f1, g1 = jax.jit(lambda X: lse_value_and_grad(form, spec, X, data, w, jnp.asarray(delta), jnp.asarray(asym)))(jnp.asarray(X))
        f2, g2 = autodiff_value_and_grad(form, spec, jnp.asarray(X), data, w, jnp.asarray(delta), jnp.asarray(asym))
        f1, g1, f2, g2 = map(np.asarray, (f1, g1, f2, g2))
    np.testing.assert_allclose(f1, f2, rtol=1e-12)
    scale = np.abs(g2).max(axis=1, keepdims=True) + 1.0
    np.testing.assert_allclose(g1 / scale, g2 / scale, atol=1e-11)
    return f1, g1


@pytest.mark.parametrize("spec", [Spec(), Spec("raw"), Spec("log", True), Spec("log", False, True), Spec("raw", True, True)])
def test_chinchilla_kernel_matches_autodiff_and_numpy(rng, spec):
    runs = _runs(rng)
    X = _raw_batch(rng, 7)
    asym = 3.0 if spec.asymmetric else 1.0
    f, g = _check_kernel(CHINCHILLA_FORM, spec, X, runs, runs.weight, asym=asym)
    want = [_objective_np(x, runs, residuals=spec.residuals, asymmetry=asym, mean=spec.mean) / 1e-3 for x in X]
    np.testing.assert_allclose(f, want, rtol=1e-11)
    # Central differences of the numpy objective, coordinate by coordinate.
    i = int(rng.integers(0, len(X)))
    for j in range(5):
        h = 1e-6
        up, down = X[i].copy(), X[i].copy()
        up[j] += h
        down[j] -= h
        fd = (_objective_np(up, runs, residuals=spec.residuals, asymmetry=asym, mean=spec.mean) - _objective_np(down, runs, residuals=spec.residuals, asymmetry=asym, mean=spec.mean)) / (2 * h) / 1e-3
        assert g[i, j] == pytest.approx(fd, rel=1e-4, abs=1e-4 * (1 + np.abs(g[i]).max()))


def test_kernel_jit_equals_eager(rng):
    runs = _runs(rng)
    X = _raw_batch(rng, 3)
    with _runtime.x64_scope():
        data = fit_data(runs, runs.weight, "log", jnp.float64)
        run = lambda X: lse_value_and_grad(CHINCHILLA_FORM, Spec(), X, data, data.weight, jnp.asarray(1e-3), jnp.asarray(1.0))  # noqa: E731
        jitted = [np.asarray(v) for v in jax.jit(run)(jnp.asarray(X))]
        with jax.disable_jit():
            eager = [np.asarray(v) for v in run(jnp.asarray(X))]
    for a, b in zip(jitted, eager):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)


def test_kernel_per_lane_weights_equal_one_lane_at_a_time(rng):
    runs = _runs(rng)
    X = _raw_batch(rng, 3)
    W = rng.integers(0, 3, (3, len(runs))).astype(float)
    f, g = _check_kernel(CHINCHILLA_FORM, Spec(), X, runs, W)
    for i in range(3):
        fi, gi = _check_kernel(CHINCHILLA_FORM, Spec(), X[i : i + 1], runs, W[i])
        np.testing.assert_allclose(f[i], fi[0], rtol=1e-13)
        np.testing.assert_allclose(g[i], gi[0], rtol=1e-11, atol=1e-9)
        assert f[i] == pytest.approx(_objective_np(X[i], runs, weight=W[i]) / 1e-3, rel=1e-11)


def test_kernel_is_finite_far_from_the_data_where_exp_would_overflow(rng):
    runs = _runs(rng)
    X = np.array([[900.0, 7.0, 0.5, 0.3, 0.3], [5.0, 7.0, 0.5, -40.0, 0.3], [5.0, 5.0, -700.0, 0.3, 0.3]])
    with _runtime.x64_scope():
        data = fit_data(runs, runs.weight, "log", jnp.float64)
        f, g = lse_value_and_grad(CHINCHILLA_FORM, Spec(), jnp.asarray(X), data, data.weight, jnp.asarray(1e-3), jnp.asarray(1.0))
    assert np.all(np.isfinite(np.asarray(f))) and np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(np.asarray(f), [_objective_np(x, runs) / 1e-3 for x in X], rtol=1e-10)


@pytest.mark.parametrize("form", [KAPLAN_N_FORM, KAPLAN_D_FORM])
def test_power_law_kernel_matches_autodiff(rng, form):
    runs = _runs(rng)
    X = np.stack([rng.uniform(1, 4, 5), rng.uniform(0.05, 0.4, 5), rng.uniform(0.0, 0.7, 5)], axis=1)
    X[0, 2] = -np.inf  # E = 0: Kaplan's form
    with _runtime.x64_scope():
        data = fit_data(runs, runs.weight, "log", jnp.float64)
        f1, g1 = lse_value_and_grad(form, Spec(), jnp.asarray(X), data, data.weight, jnp.asarray(1e-3), jnp.asarray(1.0))
        f2, g2 = autodiff_value_and_grad(form, Spec(), jnp.asarray(X[1:]), data, data.weight, jnp.asarray(1e-3), jnp.asarray(1.0))
    np.testing.assert_allclose(np.asarray(f1)[1:], np.asarray(f2), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g1)[1:, :2], np.asarray(g2)[:, :2], rtol=1e-9, atol=1e-7)
    x = np.log(runs.N) if form is KAPLAN_N_FORM else np.log(runs.D)
    r = X[0, 0] - X[0, 1] * x - np.log(runs.loss)
    assert float(f1[0]) == pytest.approx(np.sum(runs.weight * _huber_np(r, 1e-3)) / 1e-3, rel=1e-12)


def test_power_law_log_params_round_trip():
    p = PowerLawParams(x_c=8.8e13, alpha=0.076, E=0.0)
    with _runtime.x64_scope():
        raw = get_form("kaplan-n").to_raw(p)
        back = raw.to_natural()
    assert float(raw.e) == -math.inf and float(back.E) == 0.0
    assert float(back.x_c) == pytest.approx(8.8e13, rel=1e-12)
    assert float(raw.a) == pytest.approx(0.076 * math.log(8.8e13), rel=1e-14)
    assert isinstance(raw, PowerLawLogParams)


# --------------------------------------------------------------------------- parameterisation


def test_parameterisation_fixed_and_tied(rng):
    param = parameterisation(CHINCHILLA_FORM, {"E": 1.69}, ("alpha", "beta"))
    assert param.n_free == 3 and param.free_names == ("a", "b", "alpha=beta")
    assert param.const[2] == pytest.approx(math.log(1.69))
    x = rng.normal(size=(4, 3))
    with _runtime.x64_scope():
        full = np.asarray(param.expand(jnp.asarray(x), jnp.asarray(param.const)))
        g = rng.normal(size=(4, 5))
        contracted = np.asarray(param.contract(jnp.asarray(g)))
    np.testing.assert_array_equal(full[:, [0, 1, 3]], x)
    np.testing.assert_array_equal(full[:, 4], x[:, 2])
    np.testing.assert_allclose(full[:, 2], math.log(1.69))
    np.testing.assert_allclose(contracted, np.stack([g[:, 0], g[:, 1], g[:, 3] + g[:, 4]], axis=1))
    np.testing.assert_allclose(param.full_values(x), full)
    zero = parameterisation(KAPLAN_N_FORM, {"E": 0.0})
    assert zero.const[2] == -math.inf and zero.free_names == ("a", "alpha")


@pytest.mark.parametrize(
    ("fixed", "tie", "error", "match"),
    [
        ({"Q": 1.0}, None, ValueError, "unknown parameter 'Q'"),
        ({"E": -1.0}, None, ValueError, "must be finite and >= 0"),
        ({"alpha": float("nan")}, None, ValueError, "must be finite"),
        ({"E": 1.0, "e": 0.0}, None, ValueError, "twice"),
        (None, ("alpha", "A"), ValueError, "not on the same scale"),
        (None, "alpha", TypeError, "tie must be a pair"),
        ({"alpha": 0.3}, ("alpha", "beta"), ValueError, "cannot both fix and tie"),
        ({"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3, "beta": 0.3}, None, ValueError, "nothing to fit"),
        ([("E", 1.0)], None, TypeError, "fixed must be a mapping"),
    ],
)
def test_parameterisation_errors(fixed, tie, error, match):
    with pytest.raises(error, match=match):
        parameterisation(CHINCHILLA_FORM, fixed, tie)


def test_generic_form_needs_a_params_type():
    form = get_form(KAPLAN_JOINT)
    assert form.raw_type is KaplanJointParams and form.terms is None and not form.grid
    with pytest.raises(TypeError, match="no parameter NamedTuple"):
        get_form(lambda p, N, D: N * 0 + 1.0)
