"""Approach 3 fits: recovery, the scipy reference, options, transformations, results, real data."""

from __future__ import annotations

import json
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jscaling
from jscaling import _io, _runtime
from jscaling import fit as fitting
from jscaling.data import Runs, simulate_isoflop_sweep
from jscaling.fit import FitError, FitResult, fit, grid_starts, holdout, random_starts, screen_starts
from jscaling.laws import KAPLAN_JOINT, ChinchillaLogParams, ChinchillaParams, KaplanJointParams, Law, PowerLawParams
from jscaling.objective import objective

TRUTH = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
TRUTH_RAW = np.array([math.log(406.4), math.log(410.7), math.log(1.69), 0.34, 0.28])
SIGMA = 0.01


@pytest.fixture(scope="module")
def clean() -> Runs:
    return simulate_isoflop_sweep("chinchilla", TRUTH, key=jax.random.key(0), noise=0.0)


@pytest.fixture(scope="module")
def noisy() -> Runs:
    return simulate_isoflop_sweep("chinchilla", TRUTH, key=jax.random.key(1), noise=SIGMA)


@pytest.fixture(scope="module")
def starts32() -> ChinchillaLogParams:
    return random_starts(jax.random.key(2), 32)


def _raw(params) -> np.ndarray:
    return np.array([float(v) for v in params])


# --------------------------------------------------------------------------- the scipy reference


def _scaled_objective_np(x: np.ndarray, runs: Runs, delta: float = 1e-3) -> tuple[float, np.ndarray]:
    """Sum of Huber_delta(log residuals) / delta and its analytic gradient, plain numpy."""
    a, b, e, alpha, beta = x
    lN, lD = np.log(runs.N), np.log(runs.D)
    u, v = a - alpha * lN, b - beta * lD
    m = np.maximum(np.maximum(u, v), e)
    pu, pv, pe = np.exp(u - m), np.exp(v - m), np.exp(e - m)
    s = pu + pv + pe
    r = m + np.log(s) - np.log(runs.loss)
    ar = np.abs(r)
    h = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)) / delta
    psi = np.clip(r / delta, -1, 1) * runs.weight / s
    grad = np.array([psi @ pu, psi @ pv, psi @ pe, -(psi * pu) @ lN, -(psi * pv) @ lD])
    return float(runs.weight @ h), grad


def _scipy_best(runs: Runs, starts: np.ndarray) -> float:
    from scipy.optimize import minimize

    return min(minimize(_scaled_objective_np, x0, args=(runs,), jac=True, method="L-BFGS-B").fun for x0 in starts) * 1e-3


def test_best_objective_matches_scipy_lbfgsb_from_the_same_starts(noisy, starts32):
    result = fit(noisy, starts=starts32)
    want = _scipy_best(noisy, np.stack(list(starts32), axis=1))
    assert result.best_converged
    assert result.objective == pytest.approx(want, rel=1e-6)
    with _runtime.x64_scope():
        assert float(objective(result.raw, noisy)) == pytest.approx(result.objective, rel=1e-12)


# --------------------------------------------------------------------------- recovery


def test_recovers_parameters_without_noise(clean, starts32):
    result = fit(clean, starts=starts32)
    assert result.best_converged and result.objective < 1e-12
    np.testing.assert_allclose(_raw(result.params), _raw(TRUTH), rtol=1e-6)
    assert result.a == pytest.approx(0.28 / 0.62, rel=1e-6) and result.b == pytest.approx(0.34 / 0.62, rel=1e-6)


def test_recovers_parameters_within_the_noise(noisy, starts32):
    """Tolerances from the noise level.

    The observed log losses are the true ones plus sigma z, z standard normal. With
    delta = 1e-3 << sigma = 0.01 almost every residual sits on the linear part of the Huber loss,
    so the fit is a least-absolute-deviations estimate. Asymptotically its covariance is
    (J^T J)^-1 / (4 f(0)^2), J the Jacobian of log L with respect to the raw parameters at the
    truth and f(0) = 1 / (sigma sqrt(2 pi)) the noise density at zero: (pi / 2) sigma^2 (J^T J)^-1,
    the least-squares covariance inflated by pi/2. Each raw parameter must lie within 5 of its
    standard deviations of the truth (a chance of about 6e-7 per parameter to fail by noise).
    """
    result = fit(noisy, starts=starts32)
    a, b, e, alpha, beta = TRUTH_RAW
    lN, lD = np.log(noisy.N), np.log(noisy.D)
    u, v = np.exp(a - alpha * lN), np.exp(b - beta * lD)
    s = u + v + np.exp(e)
    J = np.stack([u / s, v / s, np.exp(e) / s, -lN * u / s, -lD * v / s], axis=1)
    sd = np.sqrt(np.diag(np.pi / 2 * SIGMA**2 * np.linalg.inv(J.T @ J)))
    error = np.abs(_raw(result.raw) - TRUTH_RAW)
    assert np.all(error < 5 * sd), (error, sd)
    assert np.all(sd < [1.0, 1.0, 0.05, 0.1, 0.1])  # the check has teeth


# --------------------------------------------------------------------------- options


def test_integer_weights_fit_like_duplicated_runs(noisy, starts32, rng):
    counts = rng.integers(1, 4, len(noisy))
    dup = Runs.from_arrays(np.repeat(noisy.N, counts), np.repeat(noisy.D, counts), np.repeat(noisy.loss, counts))
    weighted = fit(noisy, starts=starts32, weights=counts.astype(float))
    repeated = fit(dup, starts=starts32)
    assert weighted.objective == pytest.approx(repeated.objective, rel=1e-6)
    np.testing.assert_allclose(_raw(weighted.raw), _raw(repeated.raw), rtol=1e-4, atol=1e-5)
    assert weighted.options["weighted"]


def test_asymmetric_loss_fits_a_lower_envelope(noisy, starts32):
    plain = fit(noisy, starts=starts32)
    low = fit(noisy, starts=starts32, asymmetry=10.0)
    above = lambda r: np.mean(r.predict(noisy.N, noisy.D) > noisy.loss)  # noqa: E731
    assert above(low) < 0.2 < above(plain)
    with _runtime.x64_scope():
        assert float(objective(low.raw, noisy, asymmetry=10.0)) == pytest.approx(low.objective, rel=1e-10)


def test_frozen_E_is_held_and_costs_objective(noisy, starts32):
    free = fit(noisy, starts=starts32)
    frozen = fit(noisy, starts=starts32, fixed={"E": 1.5})
    assert frozen.params.E == pytest.approx(1.5, rel=1e-15)
    assert frozen.free == ("a", "b", "alpha", "beta")
    assert frozen.objective > free.objective
    assert frozen.options["fixed"] == {"E": 1.5}


def test_tied_exponents_are_equal(noisy, starts32):
    result = fit(noisy, starts=starts32, tie=("alpha", "beta"))
    assert result.params.alpha == result.params.beta
    assert result.free == ("a", "b", "e", "alpha=beta")
    assert result.a == pytest.approx(0.5) and result.best_converged


def test_raw_loss_residuals_recover_clean_runs(clean, starts32):
    result = fit(clean, starts=starts32, residuals="raw")
    np.testing.assert_allclose(_raw(result.params), _raw(TRUTH), rtol=1e-5)
    assert result.options["residuals"] == "raw"


def test_mean_reduction_reaches_the_same_optimum(noisy, starts32):
    total = fit(noisy, starts=starts32)
    mean = fit(noisy, starts=starts32, reduction="mean", ftol=0.0)
    assert mean.objective * len(noisy) == pytest.approx(total.objective, rel=1e-6)


# --------------------------------------------------------------------------- transformations


def test_batched_lanes_equal_one_start_at_a_time(noisy, starts32):
    """Lanes are independent: run to full convergence (ftol off), each start's optimum is the
    same in a batch of six as alone (matrix products of another width round differently, so
    trajectories differ in the last bits, not in where they end)."""
    options = dict(ftol=0.0, gtol=1e-7, max_steps=3000)
    starts = ChinchillaLogParams(*[np.asarray(v)[:6] for v in starts32])
    batch = fit(noisy, starts=starts, **options)
    for i in range(6):
        one = fit(noisy, starts=ChinchillaLogParams(*[np.asarray(v)[i : i + 1] for v in starts32]), **options)
        assert one.objectives[0] == pytest.approx(batch.objectives[i], rel=1e-10)


def test_second_fit_of_the_same_shapes_does_not_recompile(noisy, starts32):
    fit(noisy, starts=starts32, max_steps=50)
    before = fitting._program._cache_size()
    other = Runs.from_arrays(noisy.N, noisy.D, noisy.loss * 1.01)
    moved = ChinchillaLogParams(*[np.asarray(v) + 0.1 for v in starts32])
    fit(other, starts=moved, max_steps=60, gtol=1e-6, ftol=1e-10, delta=2e-3)
    assert fitting._program._cache_size() == before


def test_float32_runs_and_x64_flag_untouched(noisy, starts32):
    flag = jax.config.read("jax_enable_x64")
    result = fit(noisy, starts=starts32, dtype="float32")
    assert jax.config.read("jax_enable_x64") == flag
    np.testing.assert_allclose(_raw(result.params)[3:], [0.34, 0.28], atol=0.05)


# --------------------------------------------------------------------------- failures


def test_nonfinite_start_is_marked_failed_and_never_chosen(noisy):
    starts = ChinchillaLogParams(*np.array([[np.inf, 6.0, 0.5, 0.3, 0.3], [6.0, 6.0, 0.5, 0.3, 0.3]]).T)
    result = fit(noisy, starts=starts)
    assert result.codes[0] == fitting.NONFINITE and math.isnan(result.objectives[0]) and not result.converged[0]
    assert result.best_index == 1 and result.best_converged and math.isfinite(result.objective)


def test_law_that_turns_nan_fails_lanes_not_the_fit(noisy):
    def shifted(p, N, D):  # log of a negative loss is NaN where E + ... < 0
        return p.E - 3.0 + p.A * N ** -p.alpha + p.B * D ** -p.beta

    law = Law(name="shifted", loss=shifted, params_type=ChinchillaParams)
    starts = ChinchillaParams(*np.array([[4.69, 406.4, 410.7, 0.34, 0.28], [0.1, 1.0, 1.0, 0.3, 0.3]]).T)
    result = fit(noisy, law, starts=starts, max_steps=300)
    assert result.codes[1] == fitting.NONFINITE and result.best_index == 0
    assert result.params.E == pytest.approx(4.69, rel=0.05)


def test_not_converged_is_flagged_and_throw_raises(noisy, starts32):
    result = fit(noisy, starts=starts32, max_steps=3)
    assert not result.best_converged and np.all(result.codes == fitting.MAX_STEPS)
    assert any("did not converge" in w for w in result.warnings)
    assert "increase max_steps" in result.message
    with pytest.raises(FitError, match="did not converge"):
        fit(noisy, starts=starts32, max_steps=3, throw=True)


def test_optimum_outside_the_start_grid_warns(noisy):
    result = fit(noisy, starts=grid_starts(alpha=[0.5, 0.7], beta=[0.5, 0.7], a=[5.0, 6.0], b=[5.0, 6.0], e=[0.3, 0.6]))
    assert any("outside the starts' range" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"starts": "sobol"}, ValueError, "starts must be 'grid', 'random:N'"),
        ({"starts": "random:x"}, ValueError, "starts must be 'grid', 'random:N'"),
        ({"starts": ("screen", 0)}, ValueError, "K >= 1"),
        ({"starts": np.ones((4, 3))}, ValueError, r"shape \(S, 5\)"),
        ({"starts": ChinchillaLogParams(*np.full((5, 2), np.nan))}, ValueError, "start 0 has a = nan"),
        ({"starts": PowerLawParams(1.0, 1.0)}, TypeError, "takes ChinchillaLogParams or ChinchillaParams"),
        ({"max_steps": 0}, ValueError, "max_steps must be at least 1"),
        ({"gtol": -1.0}, ValueError, "gtol must be a finite number >= 0"),
        ({"delta": -1.0}, ValueError, "delta must be positive"),
    ],
)
def test_bad_arguments_fail_at_the_door(noisy, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(noisy, **kwargs)


def test_too_few_runs_and_wrong_type():
    runs = Runs.from_arrays([1e8, 2e8, 3e8, 4e8, 5e8], [1e10] * 5, [3.0, 2.9, 2.8, 2.7, 2.6])
    with pytest.raises(ValueError, match="too few to fit"):
        fit(runs)
    with pytest.raises(TypeError, match="runs must be a jscaling.data.Runs"):
        fit({"N": [1.0]})


# --------------------------------------------------------------------------- results


def test_result_json_round_trip_and_params_file(noisy, starts32, tmp_path):
    result = fit(noisy, starts=starts32, fixed={"E": 1.7})
    path = tmp_path / "fit.json"
    result.to_json(path)
    back = FitResult.from_json(path)
    assert back.params == result.params and back.raw == result.raw and back.objective == result.objective
    np.testing.assert_array_equal(back.objectives, result.objectives)
    np.testing.assert_array_equal(back.codes, result.codes)
    np.testing.assert_array_equal(np.asarray(back.starts.a), np.asarray(result.starts.a))
    assert back.warnings == result.warnings and back.options == json.loads(result.to_json())["options"]
    assert FitResult.from_json(result.to_json()).G == pytest.approx(result.G, rel=1e-15)
    name, params, samples = _io.load_params_file(path)
    assert name == "chinchilla" and float(params.E) == 1.7 and samples is None
    with pytest.raises(ValueError, match="not a fit result"):
        FitResult.from_dict({"law": "chinchilla"})


def test_result_repr_predict_and_compute_optimal(noisy, starts32):
    result = fit(noisy, starts=starts32)
    text = repr(result)
    assert text.startswith("FitResult(chinchilla, 135 runs, 32 starts") and "alpha = 0.3" in text and "G = " in text
    assert len(text.splitlines()) <= 6 + len(result.warnings)
    with _runtime.x64_scope():
        direct = np.asarray(jscaling.laws.chinchilla(result.params, noisy.N, noisy.D))
    np.testing.assert_allclose(result.predict(noisy.N, noisy.D), direct, rtol=1e-14)
    N, D = result.compute_optimal([1e21, 1e23])
    np.testing.assert_allclose(6 * N * D, [1e21, 1e23], rtol=1e-12)
    p = result.params
    c = 1e23 / 6
    G = (p.alpha * p.A / (p.beta * p.B)) ** (1 / (p.alpha + p.beta))
    assert N[1] == pytest.approx(G * c ** (p.beta / (p.alpha + p.beta)), rel=1e-12)
    assert float(result.tokens_per_parameter(1e23)) == pytest.approx(D[1] / N[1], rel=1e-14)


# --------------------------------------------------------------------------- starts


def test_grid_random_and_screened_starts(noisy, rng):
    grid = grid_starts()
    assert isinstance(grid, ChinchillaLogParams) and np.asarray(grid.a).shape == (4500,)
    assert sorted(set(np.asarray(grid.alpha).tolist())) == [0.0, 0.5, 1.0, 1.5, 2.0]
    key = jax.random.key(int(rng.integers(1 << 30)))
    a, b = random_starts(key, 1000), random_starts(key, 1000)
    np.testing.assert_array_equal(np.asarray(a.beta), np.asarray(b.beta))
    assert 0 <= np.min(a.beta) and np.max(a.beta) <= 2 and np.max(a.a) <= 25
    best = screen_starts(noisy, a, k=5, chunk=128)
    with _runtime.x64_scope():
        values = np.asarray(objective(a, noisy))
        screened = np.asarray(objective(best, noisy))
    np.testing.assert_allclose(np.sort(screened), np.sort(values)[:5], rtol=1e-12)
    with pytest.raises(ValueError, match="unknown field"):
        grid_starts(gamma=[1.0])
    with pytest.raises(ValueError, match="exceeds the 1000 candidates"):
        screen_starts(noisy, a, k=2000)


def test_screen_then_refine(noisy):
    candidates = random_starts(jax.random.key(7), 20_000)
    result = fit(noisy, starts=screen_starts(noisy, candidates, k=8))
    assert result.best_converged and result.n_starts == 8
    np.testing.assert_allclose(_raw(result.params)[3:], [0.34, 0.28], atol=0.05)
    spec = fit(noisy, starts="screen:8")
    assert spec.n_starts == 8 and spec.objective == pytest.approx(result.objective, rel=1e-6)
    assert fit(noisy, starts=("random", 8)).n_starts == 8


def test_fixed_parameters_drop_duplicate_starts(noisy):
    result = fit(noisy, starts=grid_starts(a=[5.0, 6.0], b=[5.0, 6.0], e=[0.0, 0.5, 1.0], alpha=[0.3], beta=[0.3]), fixed={"E": 1.69})
    assert result.n_starts == 4 and "repeat another" in result.notes[-1]


# --------------------------------------------------------------------------- other laws, held-out check


@pytest.mark.parametrize(("law", "with_E"), [("kaplan-n", True), ("kaplan-n", False), ("kaplan-d", True)])
def test_single_variable_power_law_fits_end_to_end(rng, law, with_E):
    x = 10.0 ** rng.uniform(7, 11, 40)
    truth = PowerLawParams(x_c=8.8e13, alpha=0.076, E=1.2 if with_E else 0.0)
    loss = truth.E + (truth.x_c / x) ** truth.alpha
    runs = Runs.from_arrays(x, x * 20, loss) if law == "kaplan-n" else Runs.from_arrays(x / 20, x, loss)
    result = fit(runs, law, fixed=None if with_E else {"E": 0.0})
    assert result.law == law and isinstance(result.params, PowerLawParams) and result.best_converged
    np.testing.assert_allclose(_raw(result.params), _raw(truth), rtol=1e-4, atol=1e-12)
    assert result.a is None and "alpha" in repr(result)
    back = FitResult.from_json(result.to_json())
    assert back.params == result.params and back.raw.e == result.raw.e and back.law == law


class _LogJoint(NamedTuple):
    """Kaplan's joint law with log-scale constants, so the fit is well scaled."""

    log_N_c: float
    log_D_c: float
    alpha_N: float
    alpha_D: float


def _log_joint(p, N, D):
    return KAPLAN_JOINT(KaplanJointParams(jnp.exp(p.log_N_c), jnp.exp(p.log_D_c), p.alpha_N, p.alpha_D), N, D)


def test_generic_law_fits_with_given_starts(rng):
    truth = _LogJoint(math.log(6.4e13), math.log(1.8e13), 0.076, 0.103)
    N, D = 10.0 ** rng.uniform(7, 10, 60), 10.0 ** rng.uniform(9, 12, 60)
    with _runtime.x64_scope():
        loss = np.asarray(_log_joint(truth, N, D))
    runs = Runs.from_arrays(N, D, loss)
    starts = _LogJoint(*np.array([[31.0, 30.0, 0.08, 0.1], [32.0, 31.0, 0.05, 0.2]]).T)
    result = fit(runs, _log_joint, starts=starts, ftol=0.0)
    assert result.law == "_log_joint" and isinstance(result.params, _LogJoint)
    np.testing.assert_allclose(_raw(result.params), _raw(truth), rtol=1e-5)
    np.testing.assert_allclose(result.predict(N, D), loss, rtol=1e-8)
    with pytest.raises(TypeError, match="no parameter NamedTuple"):
        fit(runs, _log_joint)
    with pytest.raises(ValueError, match="no default start grid"):
        fit(runs, KAPLAN_JOINT)


def test_empty_tie_means_no_tie(noisy, starts32):
    plain = fit(noisy, starts=starts32)
    for tie in ((), []):
        result = fit(noisy, starts=starts32, tie=tie)
        assert result.free == plain.free and result.objective == plain.objective
        assert result.options["tie"] == []


def test_holdout_predicts_the_runs_above_the_cut(clean, noisy, starts32):
    exact = holdout(clean, 1e20, starts=starts32)
    assert exact.n_train + exact.n_test == len(clean) and exact.max_abs_relative_error < 1e-6
    result = holdout(noisy, 3e20, starts=starts32)
    assert np.all(result.N == noisy.N[noisy.C > 3e20])
    assert 0 < result.mean_abs_relative_error < 0.05 and "tested on" in repr(result)
    assert set(result.to_dict()) >= {"mean_abs_relative_error", "rmse_log", "bias", "n_test"}
    with pytest.raises(ValueError, match="must leave runs on both sides"):
        holdout(noisy, 1e30)


# --------------------------------------------------------------------------- real data


def test_chinchilla_data_4500_starts_and_bootstrap(chinchilla_csv):
    """Besiroglu et al.'s replication: D = C / (6 N), the 5 highest losses dropped (240 runs)."""
    from jscaling.bootstrap import bootstrap
    from jscaling.data import load_runs

    runs = load_runs(chinchilla_csv, n_col="Model Size", c_col="Training FLOP", loss_col="loss", drop_highest=5)
    assert len(runs) == 240
    result = fit(runs)
    assert result.n_starts == 4500 and result.best_converged
    p = result.params
    assert p.A == pytest.approx(477.8, rel=2e-3) and p.B == pytest.approx(2143, rel=2e-3)
    assert p.E == pytest.approx(1.8172, abs=2e-4)
    assert p.alpha == pytest.approx(0.3473, abs=2e-4) and p.beta == pytest.approx(0.3672, abs=2e-4)
    assert result.objective == pytest.approx(1.0182740178006e-3, rel=1e-9)  # scipy L-BFGS-B, same grid
    boot = bootstrap(runs, key=jax.random.key(0), n_resamples=1000, fit_result=result)
    assert boot.converged.all()
    assert boot.stderr["alpha"] == pytest.approx(0.015, rel=0.25)
    assert boot.stderr["beta"] == pytest.approx(0.021, rel=0.25)


def test_public_names_have_docstrings():
    import jscaling.bootstrap as b
    import jscaling.objective as o

    for module in (fitting, b, o):
        for name in module.__all__:
            obj = getattr(module, name)
            assert getattr(obj, "__doc__", None), f"{module.__name__}.{name} has no docstring"
