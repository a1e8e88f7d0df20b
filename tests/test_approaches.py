"""Approaches 2 and 1 (jscaling.approaches) against numpy references and known truth."""

from __future__ import annotations

import dataclasses
import json
import math

import jax
import numpy as np
import pytest

from jscaling import surface
from jscaling._io import dumps_json
from jscaling.data import Runs, load_runs, simulate_isoflop_sweep
from jscaling.approaches import (
    Approach1Result,
    Approach2Result,
    Bootstrap,
    PowerLaw,
    _layout,
    _resample_indices,
    approach1,
    approach2,
)
from jscaling.presets import get_preset
from jscaling.testing import chinchilla_np

PRESET = get_preset("besiroglu2024")
P = PRESET.params
A_TRUE = P.beta / (P.alpha + P.beta)  # N_opt ~ C^a
# Closed-form Chinchilla optimum: N_opt = G (C/6)^a, G = (alpha A / (beta B))^(1/(alpha+beta)).
G_TRUE = (P.alpha * P.A / (P.beta * P.B)) ** (1.0 / (P.alpha + P.beta))


def n_opt_true(C: np.ndarray) -> np.ndarray:
    return G_TRUE * (np.asarray(C) / 6.0) ** A_TRUE


def law_loss(N: np.ndarray, D: np.ndarray) -> np.ndarray:
    return chinchilla_np(P.E, P.A, P.B, P.alpha, P.beta, N, D)


def random_parabola_runs(rng: np.random.Generator, n_budgets: int = 6) -> tuple[Runs, list[np.ndarray]]:
    """Budgets of 4-12 runs with positive-curvature parabolas in log N, noise and weights."""
    N, loss, C, group, weight, members = [], [], [], [], [], []
    start = 0
    for g in range(n_budgets):
        n = int(rng.integers(4, 13))
        Cg = 10.0 ** (18 + 0.4 * g + rng.uniform(-0.1, 0.1))
        x = np.linspace(np.log(1e8), np.log(1e10), n)
        x += rng.uniform(-0.3, 0.3, n) * (x[1] - x[0])  # irregular spacing, spread kept
        x0 = x[0] + (x[-1] - x[0]) * rng.uniform(0.3, 0.7)  # well inside: noise cannot move it out
        y = 2.0 + rng.uniform(0.05, 0.2) * (x - x0) ** 2 + rng.normal(0, 0.005, n)
        N.append(np.exp(x))
        loss.append(y)
        C.append(np.full(n, Cg) * np.exp(rng.normal(0, 0.01, n)))
        group.append(np.full(n, g))
        weight.append(rng.uniform(0.5, 2.0, n))
        members.append(np.arange(start, start + n))
        start += n
    runs = Runs.from_arrays(np.concatenate(N), loss=np.concatenate(loss), C=np.concatenate(C), group=np.concatenate(group), weight=np.concatenate(weight))
    return runs, members


def polyfit_vertex(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    c2, c1, c0 = np.polyfit(x, y, 2, w=np.sqrt(w))  # polyfit weights multiply residuals
    xv = -c1 / (2 * c2)
    return xv, c0 + c1 * xv + c2 * xv**2, c2


def sweep(noise: float = 0.0, sizes: int = 15, seed: int = 0) -> Runs:
    return simulate_isoflop_sweep(PRESET.law, P, key=jax.random.key(seed), noise=noise, sizes_per_budget=sizes)


# --------------------------------------------------------------------------- Approach 2: numerics


def test_parabola_vertices_match_polyfit(rng: np.random.Generator) -> None:
    runs, members = random_parabola_runs(rng)
    res = approach2(runs)
    assert res.usable.all()
    for g, idx in enumerate(members):
        xv, lv, c2 = polyfit_vertex(np.log(runs.N[idx]), runs.loss[idx], runs.weight[idx])
        np.testing.assert_allclose(np.log(res.N_opt[g]), xv, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(res.N_opt[g], np.exp(xv), rtol=1e-10)
        np.testing.assert_allclose(res.loss_opt[g], lv, rtol=1e-10)
        np.testing.assert_allclose(res.curvature[g], c2, rtol=1e-9)
        Cg = np.exp(np.mean(np.log(runs.C[idx])))
        np.testing.assert_allclose(res.C[g], Cg, rtol=1e-12)
        np.testing.assert_allclose(res.D_opt[g], Cg / (6 * np.exp(xv)), rtol=1e-10)
        assert res.n_runs[g] == idx.size and res.n_sizes[g] == idx.size


def test_power_laws_match_polyfit(rng: np.random.Generator) -> None:
    runs, _ = random_parabola_runs(rng, n_budgets=7)
    res = approach2(runs)
    x = np.log(res.C)
    for law, y in ((res.N_law, np.log(res.N_opt)), (res.D_law, np.log(res.D_opt))):
        slope, intercept = np.polyfit(x, y, 1)
        np.testing.assert_allclose(law.exponent, slope, rtol=1e-10)
        np.testing.assert_allclose(math.log(law.coefficient), intercept, rtol=1e-10, atol=1e-9)
        resid = y - (intercept + slope * x)
        se = math.sqrt(resid @ resid / (x.size - 2) / np.sum((x - x.mean()) ** 2))
        np.testing.assert_allclose(law.exponent_stderr, se, rtol=1e-8)
        assert law.n_points == 7
    np.testing.assert_allclose(res.a + res.b, 1.0, rtol=1e-12)  # D_opt = C / (6 N_opt)
    np.testing.assert_allclose(res.k_N * res.k_D * 6.0, 1.0, rtol=1e-9)
    C = np.array([1e20, 1e22])
    np.testing.assert_allclose(res.predict_N(C), res.k_N * C**res.a, rtol=1e-12)
    np.testing.assert_allclose(res.predict_D(C), res.k_D * C**res.b, rtol=1e-12)


def test_chinchilla_sweep_recovers_exponent() -> None:
    """Noise-free sweep of the Besiroglu et al. law: the vertices are the exact optima up to a
    constant offset, so a = beta / (alpha + beta) to a derived tolerance.

    On the iso-FLOP line of C, with t = ln N - ln N_opt(C), the loss is
    E + K(C) f(t), f(t) = exp(-alpha t) / alpha + exp(beta t) / beta (because at the optimum
    alpha A N^-alpha = beta B D^-beta = K). The sweep puts its sizes at fixed offsets around its
    centre, so an unweighted parabola's vertex is ln N_opt(C) + t*, with t* depending on the
    offsets only, not on C: the bias cancels out of the exponent. The centre is the best of
    4001 log-spaced candidates over 9 decades, |delta| <= half a step from the true optimum,
    which moves t* by at most beta_dev (computed below). Hence every budget's error
    e = ln N_vertex - ln N_opt - t* is within beta_dev, and the exponent's error is at most
    beta_dev * sum|x - mean x| / sum (x - mean x)^2 over x = ln C.
    """
    runs = sweep(noise=0.0)
    res = approach2(runs)
    assert res.usable.all() and not res.notes[:-1]
    # Exact optima, cross-checked against a fine iso-FLOP scan (1e-4 dex steps).
    N_true = n_opt_true(res.C)
    scan = surface.isoflop_min(PRESET.law, P, res.C, np.logspace(7.5, 10.5, 30001), dtype="float64")
    np.testing.assert_allclose(np.log10(scan.N), np.log10(N_true), atol=1e-4)
    # Predicted parabola bias t* and its sensitivity to the sweep's centring error.
    offsets = np.linspace(-0.75, 0.75, 15) * math.log(10)
    f = lambda t: np.exp(-P.alpha * t) / P.alpha + np.exp(P.beta * t) / P.beta  # noqa: E731

    def t_star(delta: float) -> float:
        c2, c1, _ = np.polyfit(offsets + delta, f(offsets + delta), 2)
        return -c1 / (2 * c2)  # in t: relative to the true optimum

    delta_max = 0.5 * (9.0 / 4000) * math.log(10)
    t0 = t_star(0.0)
    beta_dev = max(abs(t_star(d) - t0) for d in np.linspace(-delta_max, delta_max, 41)) * 1.05 + 1e-9
    assert abs(t0) < 0.01 and beta_dev < 1e-4  # a 0.6% bias in N_opt, the same at every budget
    err = np.log(res.N_opt) - np.log(N_true) - t0
    assert np.abs(err).max() <= beta_dev
    x = np.log(res.C)
    dx = x - x.mean()
    tol_a = beta_dev * np.abs(dx).sum() / (dx @ dx)
    assert abs(res.a - A_TRUE) <= tol_a
    assert abs(res.b - (1 - A_TRUE)) <= tol_a
    # The prefactor carries the bias t*: ln k_N = ln(G 6^-a) + t*, to within the same bound.
    tol_k = beta_dev + abs(x.mean()) * tol_a
    assert abs(math.log(res.k_N) - (math.log(G_TRUE * 6.0**-A_TRUE) + t0)) <= tol_k


# --------------------------------------------------------------------------- Approach 2: flags


def _budget(C: float, N: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return N, np.full(N.size, C), law_loss(N, C / (6 * N))


def test_flags_and_exclusion() -> None:
    parts = []
    good_C = [1e19, 1e20, 1e21]
    for C in good_C:  # usable: sizes around the optimum
        parts.append(_budget(C, n_opt_true(C) * np.logspace(-0.6, 0.6, 7)))
    Cs = 3e19
    parts.append(_budget(Cs, n_opt_true(Cs) * np.array([0.5, 2.0])))  # 2 runs
    Co = 3e20
    parts.append(_budget(Co, n_opt_true(Co) * np.logspace(-2, -1, 6)))  # all below the optimum
    Cd = 3e21
    parts.append(_budget(Cd, n_opt_true(Cd) * np.array([0.3, 0.3, 3.0, 3.0])))  # 2 distinct sizes
    N = np.concatenate([p[0] for p in parts])
    C = np.concatenate([p[1] for p in parts])
    loss = np.concatenate([p[2] for p in parts])
    group = np.concatenate([np.full(p[0].size, i) for i, p in enumerate(parts)])
    concave_N = np.logspace(8, 9, 5)
    concave = (concave_N, np.full(5, 6e21), 3.0 - 0.01 * (np.log(concave_N) - np.log(3e8)) ** 2)
    N = np.concatenate([N, concave[0]])
    C = np.concatenate([C, concave[1]])
    loss = np.concatenate([loss, concave[2]])
    group = np.concatenate([group, np.full(5, 6)])
    res = approach2(Runs.from_arrays(N, loss=loss, C=C, group=group))
    np.testing.assert_array_equal(res.usable, [True, True, True, False, False, False, False])
    np.testing.assert_array_equal(res.too_few_runs, [False, False, False, True, False, True, False])
    np.testing.assert_array_equal(res.no_interior_minimum, [False, False, False, False, True, False, True])
    assert "too few runs (2 < min_runs=3)" in res.reasons[3]
    assert "above the largest run" in res.reasons[4]
    assert "too few distinct sizes (2" in res.reasons[5]
    assert "curvature" in res.reasons[6] and "opens downward" in res.reasons[6]
    assert res.N_opt[4] > N[group == 4].max()  # the vertex lies beyond the runs
    # The power laws use the usable budgets only.
    slope, _ = np.polyfit(np.log(res.C[:3]), np.log(res.N_opt[:3]), 1)
    np.testing.assert_allclose(res.a, slope, rtol=1e-10)
    assert res.N_law.n_points == 3
    rows = res.table()
    assert [r["usable"] for r in rows] == res.usable.tolist()
    assert "no interior minimum" in repr(res) and "too few runs" in repr(res)
    # min_runs raises the bar: 7-run budgets pass with 7, not with 8 (then too few usable).
    assert approach2(Runs.from_arrays(N, loss=loss, C=C, group=group), min_runs=7).usable.sum() == 3
    with pytest.raises(ValueError, match=r"at least 2 usable budgets for the power laws, found 0 of 7.*budget 0 .*too few runs \(7 < min_runs=8\)"):
        approach2(Runs.from_arrays(N, loss=loss, C=C, group=group), min_runs=8)


def test_inferred_groups_and_zero_weights() -> None:
    runs = sweep()
    bare = dataclasses.replace(runs, group=None)
    res = approach2(bare)
    assert res.n_budgets == 9 and any("budgets inferred from C" in n for n in res.notes)
    np.testing.assert_allclose(res.a, approach2(runs).a, rtol=1e-12)
    w = np.ones(len(runs))
    w[::5] = 0.0
    weighted = Runs.from_arrays(runs.N, runs.D, runs.loss, group=runs.group, weight=w)
    res_w = approach2(weighted)
    keep = w > 0
    ref = approach2(Runs.from_arrays(runs.N[keep], runs.D[keep], runs.loss[keep], group=runs.group[keep]))
    np.testing.assert_allclose(res_w.N_opt, ref.N_opt, rtol=1e-10)
    assert any("weight 0 left out" in n for n in res_w.notes)


def test_wide_budget_note_on_real_data(chinchilla_csv) -> None:
    runs = load_runs(chinchilla_csv, drop_highest=5).with_budget_groups()
    # The digitised runs chain into one 217-run group over 2.5 decades: Approach 2 refuses.
    with pytest.raises(ValueError, match="at least 2 usable budgets for the power laws, found 1 of 6"):
        approach2(runs)


# --------------------------------------------------------------------------- Approach 2: bootstrap


def test_bootstrap_deterministic_and_contains_estimate() -> None:
    runs = sweep(noise=0.003, seed=4)
    r1 = approach2(runs, bootstrap=200, key=jax.random.key(7))
    r2 = approach2(runs, bootstrap=200, key=jax.random.key(7))
    r3 = approach2(runs, bootstrap=200, key=jax.random.key(8))
    r4 = approach2(runs, bootstrap=50, key=jax.random.key(7))
    bs = r1.bootstrap
    assert isinstance(bs, Bootstrap) and bs.n_resamples == 200
    for name in ("a", "b", "k_N", "k_D"):
        np.testing.assert_array_equal(bs.samples[name], r2.bootstrap.samples[name])
        assert not np.array_equal(bs.samples[name], r3.bootstrap.samples[name])
        # Resample b depends on (key, b) only: B = 50 is a prefix of B = 200.
        np.testing.assert_array_equal(bs.samples[name][:50], r4.bootstrap.samples[name])
        lo, hi = bs.intervals[name]
        point = getattr(r1, name)
        assert lo <= point <= hi
        valid = bs.samples[name][np.isfinite(bs.samples[name])]
        np.testing.assert_allclose((lo, hi), np.percentile(valid, [2.5, 97.5]), rtol=1e-12)
        np.testing.assert_allclose(bs.stderr[name], np.std(valid, ddof=1), rtol=1e-12)
    assert bs.n_failed == int((~np.isfinite(bs.samples["a"])).sum())
    assert 0 <= bs.n_degraded <= bs.unusable_by_budget.sum()
    assert bs.unusable_by_budget.shape == (9,)
    # The same key as a raw uint32 key works too.
    raw = approach2(runs, bootstrap=20, key=jax.random.PRNGKey(7))
    assert np.isfinite(raw.bootstrap.samples["a"]).all()


def test_bootstrap_equals_loop_of_point_estimates() -> None:
    """Each vectorised resample equals approach2 on that resample's runs (vmap equals a loop)."""
    runs = sweep(noise=0.005, seed=2, sizes=9)
    key = jax.random.key(11)
    res = approach2(runs, bootstrap=12, key=key)
    lay = _layout(runs)
    idx = _resample_indices(key, 0, 12, lay.count, lay.logN.shape[1])
    N_mat, C_mat, L_mat = np.exp(lay.logN), np.exp(lay.logC), lay.loss
    for b in range(12):
        rows = np.arange(lay.group.size)[:, None].repeat(lay.count.max(), 1)
        pick = idx[b]
        N = N_mat[rows, pick].ravel()
        C = C_mat[rows, pick].ravel()
        loss = L_mat[rows, pick].ravel()
        group = rows.ravel()
        try:
            ref = approach2(Runs.from_arrays(N, loss=loss, C=C, group=group))
        except ValueError:
            assert np.isnan(res.bootstrap.samples["a"][b])
            continue
        np.testing.assert_allclose(res.bootstrap.samples["a"][b], ref.a, rtol=1e-9)
        np.testing.assert_allclose(res.bootstrap.samples["k_D"][b], ref.k_D, rtol=1e-7)


def test_bootstrap_reports_unusable_budgets() -> None:
    # Budgets of 4 runs, two of them far from the optimum: resamples often lose the curvature.
    parts = []
    for C in (1e19, 1e20, 1e21, 1e22):
        N = n_opt_true(C) * np.array([0.05, 0.5, 2.0, 20.0])
        parts.append((N, np.full(4, C), law_loss(N, C / (6 * N))))
    runs = Runs.from_arrays(
        np.concatenate([p[0] for p in parts]), loss=np.concatenate([p[2] for p in parts]),
        C=np.concatenate([p[1] for p in parts]), group=np.repeat(np.arange(4), 4),
    )
    res = approach2(runs, bootstrap=300, key=jax.random.key(0))
    bs = res.bootstrap
    assert bs.n_degraded > 0 and bs.n_failed > 0
    assert any("became unusable" in n for n in res.notes)
    assert any("fewer than 2 usable budgets" in n for n in res.notes)
    assert "lost a budget" in repr(res)
    finite = np.isfinite(bs.samples["a"])
    assert finite.sum() == 300 - bs.n_failed
    assert all(math.isfinite(v) for v in bs.intervals["a"])


# --------------------------------------------------------------------------- Approach 1


def frontier_reference(C: np.ndarray, loss: np.ndarray) -> set[int]:
    out = set()
    for i in range(C.size):
        ok = True
        for j in range(C.size):
            if j == i:
                continue
            if C[j] < C[i] and not loss[i] < loss[j]:
                ok = False
            if C[j] == C[i] and (loss[j] < loss[i] or (loss[j] == loss[i] and j < i)):
                ok = False
        if ok:
            out.add(i)
    return out


def test_envelope_matches_brute_force(rng: np.random.Generator) -> None:
    for trial in range(4):
        n = int(rng.integers(30, 120))
        # Discrete C values (ties within a budget), continuous losses; exact duplicates too.
        C = 10.0 ** rng.choice(np.linspace(18, 21, 12), n)
        N = 10.0 ** rng.uniform(7, 10, n)
        loss = 2.0 + 10.0 / np.log(C) ** 0.5 + rng.normal(0, 0.05, n)
        if trial == 0:
            C[5], loss[5], N[5] = C[3], loss[3], N[3] * 2  # an exact (C, loss) tie
        runs = Runs.from_arrays(N, loss=loss, C=C)
        try:
            res = approach1(runs)
        except ValueError:
            assert len(frontier_reference(C, loss)) < 2
            continue
        assert set(res.run.tolist()) == frontier_reference(C, loss)
        assert np.all(np.diff(res.C) > 0) and np.all(np.diff(res.loss) < 0)
        x = np.log(res.C)
        for law, y in ((res.N_law, np.log(res.N)), (res.D_law, np.log(res.D))):
            if res.C.size >= 2:
                slope, intercept = np.polyfit(x, y, 1)
                np.testing.assert_allclose(law.exponent, slope, rtol=1e-9)
                np.testing.assert_allclose(math.log(law.coefficient), intercept, rtol=1e-9, atol=1e-8)
        assert res.too_few_points == (res.C.size < 3)


def test_envelope_needs_two_points() -> None:
    runs = Runs.from_arrays([1e8, 2e8, 4e8], loss=[2.0, 2.5, 3.0], C=[1e18, 2e18, 4e18])
    with pytest.raises(ValueError, match=r"at least 2 envelope points.*row 1"):
        approach1(runs)
    two = approach1(Runs.from_arrays([1e8, 2e8, 4e8], loss=[3.0, 2.5, 2.7], C=[1e18, 2e18, 4e18]))
    assert two.too_few_points and "fewer than 3" in repr(two)


def simulated_curves(sizes: np.ndarray, n_checkpoints: int = 300) -> tuple[Runs, np.ndarray]:
    D = np.logspace(8.5, 12.5, n_checkpoints)
    N = np.repeat(sizes, D.size)
    DD = np.tile(D, sizes.size)
    run_id = np.repeat(np.arange(sizes.size), D.size)
    return Runs.from_arrays(N, DD, law_loss(N, DD), group=run_id), run_id


def test_training_curve_envelope_recovers_exponents() -> None:
    """Idealised curves: a checkpoint's loss is the law's at (N, D).

    At each C the lowest curve is a size bracketing N_opt(C) (the iso-FLOP profile is unimodal
    in log N), so |ln N_env - ln N_opt| <= h, the size step in ln N; interpolation between
    checkpoints 0.013 dex apart can at worst tip a near-tie to the other neighbour, still
    within h. So |a_hat - a| <= h sum|x - mean x| / sum (x - mean x)^2 over the grid x = ln C.
    """
    sizes = np.logspace(7.5, 10.0, 161)
    h = (2.5 / 160) * math.log(10)
    runs, run_id = simulated_curves(sizes)
    C_range = (6 * 1e8 * 2.5e9, 6 * 2e9 * 4e10)  # optima well inside the sizes and the curves
    res = approach1(runs, curves=run_id, C_range=C_range, n_grid=60)
    assert res.mode == "curves" and res.used.all() and not res.at_edge.any() and res.C.size == 60
    # Brute force: the best size at each grid C straight from the law.
    best = sizes[np.argmin(law_loss(sizes[None, :], res.C[:, None] / (6 * sizes[None, :])), axis=1)]
    assert np.all(np.abs(np.log(res.N) - np.log(best)) <= h * 1.0001)
    assert np.all(np.abs(np.log(res.N) - np.log(n_opt_true(res.C))) <= h * 1.0001)
    np.testing.assert_allclose(res.D, res.C / (6 * res.N), rtol=1e-12)
    x = np.log(res.C)
    dx = x - x.mean()
    tol = h * np.abs(dx).sum() / (dx @ dx)
    assert abs(res.a - A_TRUE) <= tol
    assert abs(res.b - (1 - A_TRUE)) <= tol
    slope, _ = np.polyfit(x, np.log(res.N), 1)
    np.testing.assert_allclose(res.a, slope, rtol=1e-10)
    # curves=True reads the run ids from runs.group; string ids work the same.
    same = approach1(runs, curves=True, C_range=C_range, n_grid=60)
    np.testing.assert_array_equal(same.N, res.N)
    labels = np.array([f"run-{i:03d}" for i in run_id])
    named = approach1(runs, curves=labels, C_range=C_range, n_grid=60)
    np.testing.assert_array_equal(named.N, res.N)
    assert named.table()[0]["run"].startswith("run-")


def test_training_curve_interpolation_and_edges() -> None:
    # Three curves at 1e17, 1e18, 1e19 FLOPs; grid 10^17, 10^17.5, ..., 10^19.
    N = np.repeat([1e8, 2e8, 4e8], 3)
    C = np.tile([1e17, 1e18, 1e19], 3)
    loss = np.array([3.0, 2.6, 2.5, 3.1, 2.55, 2.29, 3.2, 2.6, 2.3])
    runs = Runs.from_arrays(N, loss=loss, C=C)
    res = approach1(runs, curves=np.repeat([0, 1, 2], 3), n_grid=5, C_range=(1e17, 1e19))
    np.testing.assert_allclose(res.C, 10.0 ** np.array([17, 17.5, 18, 18.5, 19]), rtol=1e-12)
    np.testing.assert_array_equal(res.N, [1e8, 1e8, 2e8, 2e8, 2e8])
    # The smallest curve wins at the low end: at the edge of the sizes tried, not used.
    np.testing.assert_array_equal(res.at_edge, [True, True, False, False, False])
    np.testing.assert_array_equal(res.used, ~res.at_edge)
    # Interpolation is linear in (log C, log loss): geometric means half-way.
    np.testing.assert_allclose(res.loss, [3.0, math.sqrt(3.0 * 2.6), 2.55, math.sqrt(2.55 * 2.29), 2.29], rtol=1e-12)
    assert res.N_law.n_points == 3 and abs(res.a) < 1e-12
    assert any("at the edge of the sizes tried" in n for n in res.notes)
    # With two curves every point is the smallest or largest size covering it: no fit.
    with pytest.raises(ValueError, match=r"found 0 \(5 covered grid points, 5 at the edge"):
        approach1(runs.select(N < 3e8), curves=np.repeat([0, 1], 3), n_grid=5, C_range=(1e17, 1e19))


def test_training_curve_errors() -> None:
    runs, run_id = simulated_curves(np.logspace(8, 9, 5), n_checkpoints=10)
    with pytest.raises(ValueError, match=r"at least 2 usable envelope points for the power laws, found 0 \(0 covered"):
        approach1(runs, curves=run_id, n_grid=10, C_range=(1e30, 1e31))
    bad_N = run_id.copy()
    bad_N[12] = 0
    with pytest.raises(ValueError, match=r"run 0 has checkpoints with different N \(row 1: .*row 13:"):
        approach1(runs, curves=bad_N)
    dup = Runs.from_arrays([1e8, 1e8, 2e8, 2e8], loss=[3.0, 2.9, 3.0, 2.8], C=[1e18, 1e18, 1e18, 2e18])
    with pytest.raises(ValueError, match=r"run 0 has two checkpoints at the same C=1e\+18 \(rows 1 and 2\)"):
        approach1(dup, curves=[0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"one run id per row.*expected shape \(50,\), got \(3,\)"):
        approach1(runs, curves=[0, 1, 2])
    with pytest.raises(ValueError, match="runs.group is None"):
        approach1(dataclasses.replace(runs, group=None), curves=True)
    with pytest.raises(TypeError, match="curves must be None, True or an array"):
        approach1(runs, curves="group")
    with pytest.raises(ValueError, match="C_range must be"):
        approach1(runs, curves=run_id, C_range=(1e20, 1e19))
    with pytest.raises(ValueError, match="C_range applies to training curves"):
        approach1(runs, C_range=(1e19, 1e20))
    with pytest.raises(ValueError, match="n_grid must be at least 2"):
        approach1(runs, curves=run_id, n_grid=1)


def test_approach1_bootstrap() -> None:
    runs = sweep(noise=0.01, seed=3)
    r1 = approach1(runs, bootstrap=100, key=jax.random.key(1))
    r2 = approach1(runs, bootstrap=100, key=jax.random.key(1))
    np.testing.assert_array_equal(r1.bootstrap.samples["a"], r2.bootstrap.samples["a"])
    lo, hi = r1.bootstrap.intervals["a"]
    assert lo <= r1.a <= hi
    # Resample 0 by hand: the frontier of the resampled runs, then the line.
    idx = _resample_indices(jax.random.key(1), 0, 1, np.array([len(runs)]), len(runs))[0, 0]
    sub = Runs.from_arrays(runs.N[idx], runs.D[idx], runs.loss[idx], C=runs.C[idx])
    np.testing.assert_allclose(r1.bootstrap.samples["a"][0], approach1(sub).a, rtol=1e-10)
    sizes = np.logspace(7.5, 10.0, 41)
    curves, run_id = simulated_curves(sizes, n_checkpoints=60)
    C_range = (6 * 1e8 * 2.5e9, 6 * 2e9 * 4e10)
    rc = approach1(curves, curves=run_id, C_range=C_range, n_grid=30, bootstrap=50, key=jax.random.key(2))
    a = rc.bootstrap.samples["a"]
    assert a.shape == (50,) and np.isfinite(a).sum() == 50 - rc.bootstrap.n_failed
    rc2 = approach1(curves, curves=run_id, C_range=C_range, n_grid=30, bootstrap=50, key=jax.random.key(2))
    np.testing.assert_array_equal(a, rc2.bootstrap.samples["a"])


# --------------------------------------------------------------------------- results and inputs


def test_results_print_and_serialise() -> None:
    runs = sweep(noise=0.005)
    res = approach2(runs, bootstrap=20, key=jax.random.key(0))
    text = repr(res)
    assert text.startswith("Approach2Result(9 of 9 budgets usable; N_opt = ")
    assert len(text.splitlines()) >= 11 and "loss_opt" in text
    data = json.loads(dumps_json(res.to_dict()))
    assert data["method"] == "approach2" and len(data["budgets"]) == 9
    assert set(data["bootstrap"]["intervals"]) == {"a", "b", "k_N", "k_D"}
    assert "samples" not in data["bootstrap"]
    assert len(json.loads(dumps_json(res.to_dict(include_samples=True)))["bootstrap"]["samples"]["a"]) == 20
    assert set(res.table()[0]) >= {"group", "C", "n_runs", "N_opt", "D_opt", "loss_opt", "usable", "reason"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.min_runs = 4  # type: ignore[misc]
    assert isinstance(res, Approach2Result) and isinstance(res.N_law, PowerLaw)
    assert "C^" in repr(res.N_law)
    r1 = approach1(runs)
    assert isinstance(r1, Approach1Result) and repr(r1).startswith("Approach1Result(runs: ")
    data1 = json.loads(dumps_json(r1.to_dict()))
    assert data1["method"] == "approach1" and data1["bootstrap"] is None
    assert len(data1["envelope"]) == r1.C.size


def test_bad_inputs() -> None:
    runs = sweep()
    with pytest.raises(TypeError, match="runs must be a jscaling.data.Runs"):
        approach2({"N": [1, 2, 3]})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="runs must be a jscaling.data.Runs"):
        approach1(np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_runs must be at least 3, got 2"):
        approach2(runs, min_runs=2)
    with pytest.raises(TypeError, match="min_runs must be an integer"):
        approach2(runs, min_runs=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bootstrap must be at least 0, got -1"):
        approach2(runs, bootstrap=-1)
    with pytest.raises(ValueError, match="bootstrap must be 0 .* got 1"):
        approach2(runs, bootstrap=1, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"bootstrap=10 needs a PRNG key: pass key=jax.random.key\(seed\)"):
        approach2(runs, bootstrap=10)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        approach2(runs, bootstrap=10, key=0)
    with pytest.raises(ValueError, match="key must be a single PRNG key"):
        approach1(runs, bootstrap=10, key=jax.random.split(jax.random.key(0), 3))
    with pytest.raises(ValueError, match=r"percentiles must satisfy 0 <= lower < upper <= 100, got \(97.5, 2.5\)"):
        approach2(runs, percentiles=(97.5, 2.5))
    with pytest.raises(TypeError, match="percentiles must be two numbers"):
        approach2(runs, percentiles=5)
    with pytest.raises(ValueError, match="flops_per_param_token must be positive"):
        approach2(runs, flops_per_param_token=0.0)
    same_C = Runs.from_arrays(runs.N, loss=runs.loss, C=np.full(len(runs), 1e20), group=runs.group)
    with pytest.raises(ValueError, match="usable budgets all have the same C"):
        approach2(same_C)
