"""jscaling.identify: designs that cannot identify the law, and flat directions at an optimum."""

from __future__ import annotations

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jscaling import fit as fitting
from jscaling import identify
from jscaling.data import Runs, simulate_isoflop_sweep
from jscaling.laws import ChinchillaParams
from jscaling.presets import get_preset

TRUTH = ChinchillaParams(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)


def _runs(N, D, *, noise: float = 0.0, seed: int = 0) -> Runs:
    N, D = np.asarray(N, float), np.asarray(D, float)
    loss = TRUTH.E + TRUTH.A / N**TRUTH.alpha + TRUTH.B / D**TRUTH.beta
    loss = loss * np.exp(noise * np.random.default_rng(seed).standard_normal(N.shape))
    return Runs.from_arrays(N, D, loss)


@pytest.fixture(scope="module")
def sweep() -> Runs:
    """A good design: 9 IsoFLOP budgets x 15 sizes, 1% noise (the study's default data)."""
    preset = get_preset("besiroglu2024")
    return simulate_isoflop_sweep(preset.law, preset.params, key=jax.random.key(0), noise=0.01)


N16 = np.logspace(7, 10, 16)
ONE_D_PER_N = _runs(N16, 20 * N16)  # a fixed 20 tokens per parameter
ONE_BUDGET = _runs(N16, 1e20 / (6 * N16))
GRID = _runs(np.repeat(np.logspace(7.5, 9.5, 6), 5), np.tile(np.logspace(9, 11, 5), 6))


# --------------------------------------------------------------------------- the design


def test_a_good_design_raises_nothing(sweep):
    assert identify.identifiability_warnings(sweep) == ()
    assert identify.identifiability_warnings(GRID) == ()
    identify.require_variation(sweep)


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (ONE_D_PER_N, r"log D rises with log N along one line \(D ~ N\^1, correlation 1\.0000.*the N and D terms can trade places"),
        (ONE_BUDGET, r"every run has the same compute C = 1e\+20 FLOPs \(one IsoFLOP budget\)"),
        (_runs(N16, 1e20 / (6 * N16) * np.exp(0.001 * np.sin(np.arange(16)))), r"log D falls as log N rises along one line"),
        (_runs(np.repeat([1e8, 1e9], 8), np.tile(np.logspace(9, 11, 8), 2)), r"only 2 distinct N values \(1e\+08, 1e\+09\): E, A and alpha are not identified"),
        (_runs(np.tile(np.logspace(8, 10, 8), 2), np.repeat([1e10, 1e11], 8)), r"only 2 distinct D values \(1e\+10, 1e\+11\): E, B and beta"),
        (_runs(np.repeat(np.logspace(8, 8.3, 4), 4), np.tile(np.logspace(9, 11, 4), 4)), r"N spans only 0\.3 decades \(1e\+08 to 1\.995e\+08\): alpha is poorly identified"),
        (_runs(GRID.N[:8:3], GRID.D[:8:3]), r"only 3 runs for 5 free parameters"),
    ],
)
def test_designs_that_cannot_identify_the_law_warn(runs, expected):
    found = identify.identifiability_warnings(runs)
    assert any(re.search(expected, w) for w in found), found
    assert all("\n" not in w for w in found)


def test_constant_loss_and_fixed_terms():
    flat = Runs.from_arrays(GRID.N, GRID.D, np.full(len(GRID), 2.5))
    assert "every run has the same loss (2.5): only E is identified" in identify.identifiability_warnings(flat)
    two_sizes = _runs(np.repeat([1e8, 1e9], 8), np.tile(np.logspace(9, 11, 8), 2))
    # Holding the N term (both of its parameters) silences the checks on N.
    held = identify.identifiability_warnings(two_sizes, fixed={"alpha": 0.35, "A": 480.0})
    assert not any("distinct N" in w for w in held)
    assert any("distinct N" in w for w in identify.identifiability_warnings(two_sizes, fixed={"alpha": 0.35}))
    # Kaplan's law of N alone does not look at D.
    assert identify.identifiability_warnings(_runs(np.logspace(7, 10, 16), np.full(16, 1e10)), law="kaplan-n") == ()
    with pytest.raises(ValueError, match="law must be one of"):
        identify.identifiability_warnings(GRID, law="kaplan-joint")


def test_require_variation_refuses_a_constant_column():
    with pytest.raises(ValueError, match=r"arrays: every run has N = 1e\+08: the N term \(A, alpha\) cannot be fitted"):
        identify.require_variation(_runs(np.full(6, 1e8), np.logspace(9, 11, 6)))
    with pytest.raises(ValueError, match=r"every run has D = 1e\+10: the D term \(B, beta\)"):
        identify.require_variation(_runs(np.logspace(8, 10, 6), np.full(6, 1e10)))
    with pytest.raises(ValueError, match=r"every run has the same loss \(2\.5\): there is nothing to fit"):
        identify.require_variation(Runs.from_arrays(GRID.N, GRID.D, np.full(len(GRID), 2.5)))
    identify.require_variation(_runs(np.full(6, 1e8), np.logspace(9, 11, 6)), fixed={"alpha": 0.3, "a": 6.0})
    identify.require_variation(_runs(np.logspace(8, 10, 6), np.full(6, 1e10)), law="kaplan-n")
    with pytest.raises(TypeError, match="runs must be a jscaling.data.Runs"):
        identify.require_variation({"N": [1.0]})


# --------------------------------------------------------------------------- the optimum


class XY(NamedTuple):
    x: object
    y: object


def _scaled_condition(M: np.ndarray) -> float:
    d = 1.0 / np.sqrt(np.diag(M))
    w = np.linalg.eigvalsh(M * d[:, None] * d[None, :])
    return float(w[-1] / w[0])


def test_hessian_warnings_match_a_numpy_reference(rng):
    # A quadratic form: the Hessian is M, exactly; its scaled condition number from numpy.
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    for spread in (1e3, 1e9):
        M = Q @ np.diag(np.geomspace(1.0, spread, 4)) @ Q.T
        x0 = rng.standard_normal(4)

        def f(v, M=M):
            return 0.5 * (v - x0) @ jnp.asarray(M) @ (v - x0)

        found = identify.hessian_warnings(f, x0, names=["p", "q", "r", "s"])
        reference = _scaled_condition(M)
        if reference > identify.MAX_CONDITION:
            assert len(found) == 1 and f"condition number {reference:.2g} > 1e+06" in found[0]
        else:
            assert found == ()


def test_hessian_warnings_name_the_flat_direction():
    sharp = XY(x=1.0, y=2.0)
    assert identify.hessian_warnings(lambda p: (p.x - 1) ** 2 + (p.y - 2) ** 2, sharp) == ()
    # Rescaling one parameter is not flatness (the Hessian is scaled to unit diagonal) ...
    assert identify.hessian_warnings(lambda p: (p.x - 1) ** 2 + 1e-9 * (p.y - 2) ** 2, sharp) == ()
    # ... but x and y moving together at no cost is.
    (flat,) = identify.hessian_warnings(lambda p: (p.x + p.y - 3) ** 2 + 1e-9 * (p.x - p.y + 1) ** 2, sharp)
    assert "nearly flat along a combination of x and y" in flat or "nearly flat along a combination of y and x" in flat
    (none,) = identify.hessian_warnings(lambda p: (p.x - 1) ** 2 + 0.0 * p.y, sharp)
    assert none.startswith("the objective does not curve along y")
    assert identify.hessian_warnings(lambda p: (p.x - 1) ** 2 + 0.0 * p.y, sharp, free=["x"]) == ()
    (bad,) = identify.hessian_warnings(lambda p: (p.x - 1) ** 2, XY(x=np.nan, y=0.0))
    assert "not all finite" in bad
    with pytest.raises(ValueError, match="free names"):
        identify.hessian_warnings(lambda p: p.x**2, sharp, free=["z"])
    with pytest.raises(TypeError, match="objective_fn must be callable"):
        identify.hessian_warnings(None, sharp)


def test_one_d_per_n_is_flagged_and_an_isoflop_sweep_is_not(sweep):
    """The brief's test: D = 20 N cannot identify the law; a 9-budget IsoFLOP sweep can."""
    good = fitting.fit(sweep, starts="random:64")
    assert not any("identified" in w or "trade places" in w for w in good.warnings)
    assert identify.fit_warnings(good, sweep) == ()
    bad = fitting.fit(ONE_D_PER_N, starts="random:64")
    found = bad.warnings  # fit() runs identify.fit_warnings itself
    assert identify.fit_warnings(bad, ONE_D_PER_N) == ()  # nothing new on a second look
    unchecked = fitting.fit(ONE_D_PER_N, starts="random:64", checks=False)
    assert not any("trade places" in w for w in unchecked.warnings)
    assert set(identify.fit_warnings(unchecked, ONE_D_PER_N)) <= set(found)
    assert any("the N and D terms can trade places" in w for w in found)
    assert any("flat along a combination of" in w and "not identified by the runs" in w for w in found)
    # The same check through the Hessian alone, on the objective the fit minimised.
    from jscaling import objective

    alone = identify.hessian_warnings(lambda p: objective.objective(p, ONE_D_PER_N), bad.raw)
    assert len(alone) == 1 and "flat" in alone[0]
    assert identify.hessian_warnings(lambda p: objective.objective(p, sweep), good.raw) == ()


def test_fit_warnings_respect_fixed_and_tied_parameters():
    result = fitting.fit(ONE_BUDGET, starts="random:64", fixed={"E": 1.8})
    found = result.warnings  # fit() adds identify.fit_warnings
    assert any("one IsoFLOP budget" in w for w in found)
    assert not any("log E" in w for w in found)  # E is held: never named as unidentified
    tied = fitting.fit(ONE_D_PER_N, starts="random:64", tie=("alpha", "beta"))
    assert any("alpha=beta" in w or "log A" in w or "log B" in w for w in tied.warnings)


def test_exponent_warnings():
    assert identify.exponent_warnings(TRUTH) == ()
    (neg,) = identify.exponent_warnings(TRUTH._replace(beta=-0.2))
    assert "beta = -0.2 is negative: the loss would grow with D" in neg
    (zero,) = identify.exponent_warnings(TRUTH._replace(alpha=1e-4))
    assert "alpha = 0.0001 is near zero" in zero
    (nan,) = identify.exponent_warnings(TRUTH._replace(alpha=float("nan")))
    assert "the fitted alpha is nan" in nan
