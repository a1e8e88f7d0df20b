"""Bootstrap of Approach 3 fits, and the `jscaling fit` command."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from jscaling import _io
from jscaling.bootstrap import BootstrapResult, _resample_counts, bootstrap
from jscaling.cli import main
from jscaling.data import Runs, simulate_isoflop_sweep
from jscaling.fit import fit, random_starts
from jscaling.laws import ChinchillaLogParams, ChinchillaParams

TRUTH = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
SIGMA = 0.01


@pytest.fixture(scope="module")
def noisy() -> Runs:
    return simulate_isoflop_sweep("chinchilla", TRUTH, key=jax.random.key(1), noise=SIGMA)


@pytest.fixture(scope="module")
def full_fit(noisy):
    return fit(noisy, starts=random_starts(jax.random.key(2), 32))


def test_same_key_same_numbers_other_key_other_numbers(noisy, full_fit):
    a = bootstrap(noisy, key=jax.random.key(5), n_resamples=40, fit_result=full_fit)
    b = bootstrap(noisy, key=jax.random.key(5), n_resamples=40, fit_result=full_fit)
    c = bootstrap(noisy, key=jax.random.key(6), n_resamples=40, fit_result=full_fit)
    for name in ChinchillaParams._fields:
        np.testing.assert_array_equal(getattr(a.samples, name), getattr(b.samples, name))
    assert not np.array_equal(a.samples.alpha, c.samples.alpha)
    assert a.stderr == b.stderr and a.intervals == b.intervals


def test_samples_summaries_and_derived(noisy, full_fit):
    boot = bootstrap(noisy, key=jax.random.key(0), n_resamples=300, fit_result=full_fit, budgets=[1e22])
    assert isinstance(boot, BootstrapResult) and boot.n_resamples == 300 and boot.n_starts == 1
    assert isinstance(boot.samples, ChinchillaParams) and np.asarray(boot.samples.alpha).shape == (300,)
    assert isinstance(boot.raw_samples, ChinchillaLogParams) and boot.converged.all()
    np.testing.assert_allclose(np.exp(boot.raw_samples.e), boot.samples.E, rtol=1e-15)
    np.testing.assert_allclose(boot.derived["a"], boot.samples.beta / (boot.samples.alpha + boot.samples.beta), rtol=1e-15)
    assert set(boot.derived) == {"a", "b", "G", "tokens_per_param@1e+22"}
    for name in ("E", "alpha", "beta", "a", "tokens_per_param@1e+22"):
        lo, hi = boot.intervals[name]
        assert lo < hi and boot.stderr[name] > 0
        v = np.asarray(boot.samples._asdict().get(name, boot.derived.get(name)))
        assert lo == pytest.approx(np.percentile(v, 2.5), rel=1e-12)
        assert boot.stderr[name] == pytest.approx(np.std(v, ddof=1), rel=1e-12)
    lo, hi = boot.intervals["alpha"]
    assert lo < full_fit.params.alpha < hi
    assert boot.estimate_derived["a"] == pytest.approx(full_fit.a, rel=1e-12)
    text = repr(boot)
    assert "300 resamples x 1 start" in text and "alpha" in text and "+-" in text


def test_bootstrap_spread_matches_the_noise_theory(noisy, full_fit):
    """The bootstrap standard error of alpha against the least-absolute-deviations theory of
    test_fit.test_recovers_parameters_within_the_noise: sd = sqrt(pi/2) sigma sqrt(diag (J^T J)^-1)."""
    boot = bootstrap(noisy, key=jax.random.key(3), n_resamples=300, fit_result=full_fit)
    a, b, e = math.log(TRUTH.A), math.log(TRUTH.B), math.log(TRUTH.E)
    lN, lD = np.log(noisy.N), np.log(noisy.D)
    u, v = np.exp(a - TRUTH.alpha * lN), np.exp(b - TRUTH.beta * lD)
    s = u + v + np.exp(e)
    J = np.stack([u / s, v / s, np.exp(e) / s, -lN * u / s, -lD * v / s], axis=1)
    sd = np.sqrt(np.diag(np.pi / 2 * SIGMA**2 * np.linalg.inv(J.T @ J)))
    assert 0.5 * sd[3] < boot.stderr["alpha"] < 2.0 * sd[3]
    assert 0.5 * sd[4] < boot.stderr["beta"] < 2.0 * sd[4]


def test_a_resample_is_a_weighted_fit(noisy, full_fit):
    key = jax.random.key(11)
    boot = bootstrap(noisy, key=key, n_resamples=4, fit_result=full_fit)
    counts = _resample_counts(jax.random.split(key)[0], 4, len(noisy))
    start = ChinchillaLogParams(*[np.array([v]) for v in full_fit.raw])
    for i in range(4):
        one = fit(noisy, starts=start, weights=counts[i])
        assert one.objective == pytest.approx(boot.objectives[i], rel=1e-7)
        assert one.params.alpha == pytest.approx(boot.samples.alpha[i], rel=1e-4)


def test_more_starts_per_resample(noisy, full_fit):
    boot = bootstrap(noisy, key=jax.random.key(4), n_resamples=20, fit_result=full_fit, starts=4)
    single = bootstrap(noisy, key=jax.random.key(4), n_resamples=20, fit_result=full_fit)
    assert boot.n_starts == 4
    assert np.all(boot.objectives <= single.objectives * (1 + 1e-9))
    given = bootstrap(noisy, key=jax.random.key(4), n_resamples=20, fit_result=full_fit, starts=random_starts(jax.random.key(9), 3))
    assert given.n_starts == 4


def test_json_carries_samples_for_params_readers(noisy, full_fit, tmp_path):
    boot = bootstrap(noisy, key=jax.random.key(0), n_resamples=20, fit_result=full_fit)
    data = {**full_fit.to_dict(per_start=False), **boot.to_dict()}
    path = tmp_path / "fit.json"
    _io.write_json_atomic(path, data)
    name, params, samples = _io.load_params_file(path)
    assert name == "chinchilla" and float(params.alpha) == full_fit.params.alpha
    np.testing.assert_array_equal(np.asarray(samples.alpha), boot.samples.alpha)
    assert set(data["interval_95"]) >= {"E", "A", "B", "alpha", "beta", "a", "b"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": 0}, TypeError, "jax.random key"),
        ({"n_resamples": 1}, ValueError, "n_resamples must be at least 2"),
        ({"confidence": 1.5}, ValueError, "confidence must lie strictly between 0 and 1"),
        ({"law": "kaplan-n"}, ValueError, "is a 'chinchilla' fit"),
        ({"starts": 0}, ValueError, "starts must be at least 1"),
        ({"fit_result": "fit.json"}, TypeError, "fit_result must be a FitResult"),
    ],
)
def test_bad_arguments(noisy, full_fit, kwargs, error, match):
    args = {"key": jax.random.key(0), "n_resamples": 10, "fit_result": full_fit, **kwargs}
    with pytest.raises(error, match=match):
        bootstrap(noisy, **args)


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory, noisy):
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    rows = ["params,tokens,flops,final"] + [",".join(repr(float(v)) for v in row) for row in zip(noisy.N, noisy.D, noisy.C, noisy.loss)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _args(csv, *extra):
    return ["fit", str(csv), "--n-col", "params", "--d-col", "tokens", "--loss-col", "final", *extra]


def test_cli_writes_json_with_bootstrap(runs_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    code = main(_args(runs_csv, "--bootstrap", "30", "--seed", "3", "--output", str(out)))
    stdout = capsys.readouterr().out
    assert code == 0 and "4500 starts" in stdout and "alpha" in stdout and f"wrote {out}" in stdout
    data = json.loads(out.read_text())
    assert set(data) >= {"params", "objective", "converged", "n_points", "n_starts", "a", "b", "G", "stderr", "interval_95", "bootstrap"}
    assert data["converged"] is True and data["n_points"] == 135 and data["n_starts"] == 4500
    assert set(data["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(data["stderr"]) >= {"E", "A", "B", "alpha", "beta"} and len(data["interval_95"]["alpha"]) == 2
    assert data["bootstrap"]["seed"] == 3 and len(data["bootstrap"]["samples"]["alpha"]) == 30
    assert abs(data["params"]["alpha"] - 0.34) < 0.05


def test_cli_not_converged_exit_1_still_writes(runs_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main(_args(runs_csv, "--max-steps", "2", "-o", str(out))) == 1
    assert json.loads(out.read_text())["converged"] is False
    assert "increase max_steps" in capsys.readouterr().err


def test_cli_fix_tie_starts_and_holdout(runs_csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    args = _args(runs_csv, "--fix", "E=1.7", "--tie", "alpha,beta", "--starts", "random:64", "--holdout", "3e20", "-o", str(out))
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["params"]["E"] == 1.7 and data["params"]["alpha"] == data["params"]["beta"] and data["n_starts"] == 64
    assert data["holdout"]["n_test"] > 0 and "held out" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--loss-col", "nope"], "no column 'nope'"),
        (["--fix", "E"], "--fix takes NAME=VALUE"),
        (["--fix", "Q=1"], "unknown parameter 'Q'"),
        (["--tie", "alpha"], "--tie takes two or more"),
        (["--bootstrap", "1"], "at least 2 resamples"),
        (["--bootstrap-starts", "4"], "applies with --bootstrap"),
        (["--holdout", "1e30"], "both sides"),
        (["--starts", "sobol:3"], "starts must be 'grid'"),
    ],
)
def test_cli_bad_input_exit_2_writes_nothing(runs_csv, tmp_path, capsys, extra, message):
    out = tmp_path / "fit.json"
    assert main(_args(runs_csv, *extra, "-o", str(out))) == 2
    assert message in capsys.readouterr().err and not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_usage_errors_and_existing_output(runs_csv, tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(_args(runs_csv, "--law", "kaplan-joint"))
    assert exc.value.code == 2
    out = tmp_path / "fit.json"
    out.write_text("{}")
    assert main(_args(runs_csv, "-o", str(out))) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_text() == "{}"
    assert main(_args(runs_csv, "-o", str(runs_csv))) == 2
    assert "over the input" in capsys.readouterr().err
