"""Loss surfaces against numpy references: pairs, grids, batches, iso-FLOP lines, chunking."""

from __future__ import annotations

import textwrap

import jax
import numpy as np
import pytest
from conftest import last_json_line, run_python, subprocess_env

import jscaling as js
from jscaling import surface, testing
from jscaling.laws import ChinchillaParams, KaplanJointParams
from jscaling.presets import get_preset

P_H = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _random_params(rng: np.random.Generator, P: int | None = None) -> ChinchillaParams:
    size = () if P is None else (P,)
    return ChinchillaParams(
        E=rng.uniform(1.0, 2.5, size), A=rng.uniform(50, 3000, size), B=rng.uniform(50, 3000, size),
        alpha=rng.uniform(0.1, 0.8, size), beta=rng.uniform(0.1, 0.8, size),
    )


def _ref(p: ChinchillaParams, N, D):
    return testing.chinchilla_np(*(np.asarray(v, np.float64) for v in p), N, D)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_pairs_match_numpy(rng, dtype, rtol):
    p = _random_params(rng)
    N, D = 10 ** rng.uniform(3, 14, 5000), 10 ** rng.uniform(5, 15, 5000)
    got = js.evaluate(js.laws.CHINCHILLA, p, N, D, dtype=dtype)
    assert got.dtype == np.dtype(dtype) and got.shape == (5000,)
    np.testing.assert_allclose(got, _ref(p, N.astype(dtype), D.astype(dtype)), rtol=rtol)


def test_pairs_broadcast_and_keep_shape(rng):
    N = 10 ** rng.uniform(6, 12, (4, 1, 3))
    D = 10 ** rng.uniform(8, 13, (5, 1))
    got = js.evaluate("chinchilla", P_H, N, D, dtype="float64")
    assert got.shape == (4, 5, 3)
    np.testing.assert_allclose(got, _ref(P_H, N, D), rtol=1e-12)
    assert js.evaluate("chinchilla", P_H, 1e9, 2e10, dtype="float64").shape == ()


def test_grid_matches_numpy(rng):
    p = _random_params(rng)
    N, D = np.logspace(6, 12, 37), np.logspace(8, 13, 23)
    got = js.evaluate("chinchilla", p, N, D, grid=True, dtype="float64")
    assert got.shape == (37, 23)
    np.testing.assert_allclose(got, _ref(p, N[:, None], D[None, :]), rtol=1e-12)


def test_batched_params_equal_a_loop(rng):
    P = 7
    batch = _random_params(rng, P)
    N, D = 10 ** rng.uniform(6, 12, 300), 10 ** rng.uniform(8, 13, 300)
    got = js.evaluate("chinchilla", batch, N, D, dtype="float64")
    assert got.shape == (P, 300)
    for i in range(P):
        one = ChinchillaParams(*(leaf[i] for leaf in batch))
        np.testing.assert_allclose(got[i], js.evaluate("chinchilla", one, N, D, dtype="float64"), rtol=1e-14)
        np.testing.assert_allclose(got[i], _ref(one, N, D), rtol=1e-12)
    grid = js.evaluate("chinchilla", batch, N[:11], D[:13], grid=True, dtype="float64")
    assert grid.shape == (P, 11, 13)
    np.testing.assert_allclose(grid[3], _ref(ChinchillaParams(*(leaf[3] for leaf in batch)), N[:11, None], D[None, :13]), rtol=1e-12)


def test_batch_broadcasts_scalar_leaves():
    p = js.PowerLawParams(x_c=np.array([8.8e13, 9e13]), alpha=np.array([0.076, 0.08]))  # E stays scalar 0.0
    got = js.evaluate(js.laws.KAPLAN_N, p, np.array([1e9]), np.array([1.0]), dtype="float64")
    np.testing.assert_allclose(got[:, 0], [(8.8e13 / 1e9) ** 0.076, (9e13 / 1e9) ** 0.08], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunked_equals_single_call(rng, dtype):
    batch = _random_params(rng, 3)
    N, D = 10 ** rng.uniform(6, 12, 10_001), 10 ** rng.uniform(8, 13, 10_001)
    whole = js.evaluate("chinchilla", batch, N, D, dtype=dtype)
    seen = []
    chunked = js.evaluate("chinchilla", batch, N, D, dtype=dtype, scratch_bytes=40_000, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(chunked, whole)
    assert len(seen) > 5 and seen[-1] == (10_001, 10_001)
    Ng, Dg = N[:301], D[:299]
    np.testing.assert_array_equal(
        js.evaluate("chinchilla", batch, Ng, Dg, grid=True, dtype=dtype, scratch_bytes=30_000),
        js.evaluate("chinchilla", batch, Ng, Dg, grid=True, dtype=dtype),
    )


def test_isoflop_matches_numpy(rng):
    p = _random_params(rng)
    C, N = np.logspace(18, 24, 9), np.logspace(7, 12, 301)
    got = js.isoflop("chinchilla", p, C, N, dtype="float64")
    D = C[:, None] / (6 * N[None, :])
    np.testing.assert_allclose(got, _ref(p, N[None, :], D), rtol=1e-12)
    got8 = js.isoflop("chinchilla", p, C, N, dtype="float64", flops_per_param_token=8.0)
    np.testing.assert_allclose(got8, _ref(p, N[None, :], C[:, None] / (8 * N[None, :])), rtol=1e-12)


@pytest.mark.parametrize("law_name", ["chinchilla", "kaplan-joint", "data-constrained", "user"])
def test_isoflop_min_matches_brute_force(rng, law_name):
    C, N = 10 ** np.sort(rng.uniform(17, 25, 64)), np.logspace(6, 13, 2001)
    if law_name == "chinchilla":
        law, params = js.laws.CHINCHILLA, _random_params(rng)
        ref_fn = lambda n, d: _ref(params, n, d)  # noqa: E731
    elif law_name == "kaplan-joint":
        law, params = js.laws.KAPLAN_JOINT, KaplanJointParams(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
        ref_fn = lambda n, d: testing.kaplan_joint_np(*params, n, d)  # noqa: E731
    elif law_name == "data-constrained":
        law, params = js.laws.data_constrained_law(3e10), get_preset("muennighoff2023").params
        ref_fn = lambda n, d: testing.data_constrained_np(*params, n, d, 3e10)  # noqa: E731
    else:
        params = {"E": 1.8, "A": 400.0, "B": 2000.0}

        def law(p, n, d):
            return p["E"] + p["A"] * n**-0.34 + p["B"] * d**-0.37

        ref_fn = lambda n, d: 1.8 + 400.0 * n**-0.34 + 2000.0 * d**-0.37  # noqa: E731
    best = js.isoflop_min(law, params, C, N, dtype="float64", scratch_bytes=200_000)
    ref_loss, ref_index = testing.isoflop_min_np(ref_fn, C, N)
    np.testing.assert_allclose(best.loss, ref_loss, rtol=1e-12)
    np.testing.assert_array_equal(best.index, ref_index)
    np.testing.assert_allclose(best.D, C / (6 * best.N), rtol=1e-14)
    assert "IsoflopMin(budgets=64" in repr(best)


def test_isoflop_min_float32_and_batches(rng):
    batch = _random_params(rng, 5)
    C, N = np.logspace(18, 24, 50), np.logspace(6, 13, 3001)
    best = js.isoflop_min("chinchilla", batch, C, N, scratch_bytes=300_000)
    assert best.loss.shape == (5, 50) and best.N.shape == (5, 50)
    for i in range(5):
        one = ChinchillaParams(*(leaf[i] for leaf in batch))
        ref_loss, ref_index = testing.isoflop_min_np(lambda n, d: _ref(one, n, d), C, N)
        np.testing.assert_allclose(best.loss[i], ref_loss, rtol=1e-5)
        # float32 may pick a neighbour on a flat minimum: its true loss must be as low.
        chosen = _ref(one, best.N[i], C / (6 * best.N[i]))
        np.testing.assert_allclose(chosen, ref_loss, rtol=1e-5)


def test_isoflop_min_flags_edges_and_keeps_first_tie():
    best = js.isoflop_min("chinchilla", P_H, [1e16, 1e22, 1e30], np.logspace(7, 11, 101), dtype="float64")
    np.testing.assert_array_equal(best.at_edge, [True, False, True])
    flat = js.isoflop_min(lambda p, n, d: p + 0.0 * n * d, 1.0, [1e20], [1e8, 1e9, 1e10], dtype="float64")
    assert int(flat.index[0]) == 0


def test_published_optimum_at_the_gopher_budget():
    p = get_preset("hoffmann2022-unrounded")
    best = js.isoflop_min(p.law, p.params, [5.76e23], np.logspace(10, 11, 20001), dtype="float64")
    assert best.N[0] == pytest.approx(40.4e9, rel=0.01)


def test_second_call_of_same_shape_does_not_recompile(rng):
    N, D = 10 ** rng.uniform(6, 12, 1234), 10 ** rng.uniform(8, 13, 1234)
    sizes = lambda: (surface._pairs_kernel._cache_size(), surface._pairs_kernel_donating._cache_size())  # noqa: E731
    js.evaluate("chinchilla", P_H, N, D)
    js.evaluate("chinchilla", _random_params(rng, 3), N, D)
    before = sizes()
    assert sum(before) >= 2
    js.evaluate("chinchilla", _random_params(rng), N * 2, D * 3)
    js.evaluate("chinchilla", _random_params(rng, 3), N * 2, D * 3)
    assert sizes() == before
    js.isoflop_min("chinchilla", P_H, [1e20, 1e21], np.logspace(7, 11, 999))
    before = surface._isoflop_min_kernel._cache_size()
    js.isoflop_min("chinchilla", _random_params(rng), [3e20, 4e21], np.logspace(6, 12, 999))
    assert surface._isoflop_min_kernel._cache_size() == before


def test_results_are_read_only_unless_out_is_given(rng, tmp_path):
    N, D = 10 ** rng.uniform(6, 12, 100), 10 ** rng.uniform(8, 13, 100)
    got = js.evaluate("chinchilla", P_H, N, D)
    assert not got.flags.writeable
    out = np.lib.format.open_memmap(tmp_path / "loss.npy", mode="w+", dtype=np.float32, shape=(100,))
    returned = js.evaluate("chinchilla", P_H, N, D, out=out, scratch_bytes=1000)
    assert returned is out
    np.testing.assert_array_equal(np.load(tmp_path / "loss.npy"), got)
    with pytest.raises(ValueError, match="out has shape"):
        js.evaluate("chinchilla", P_H, N, D, out=np.empty(99, np.float32))
    with pytest.raises(ValueError, match="out has dtype"):
        js.evaluate("chinchilla", P_H, N, D, out=np.empty(100, np.float64))


def test_memory_bound_is_enforced():
    with pytest.raises(ValueError, match=r"needs .* GiB, over the memory bound"):
        js.evaluate("chinchilla", P_H, np.logspace(6, 12, 1000), np.logspace(8, 13, 1000), grid=True, max_memory=1_000_000)
    with pytest.raises(ValueError, match="scratch_bytes=10 is too small"):
        js.evaluate("chinchilla", P_H, [1e9], [1e10], scratch_bytes=10)


def test_float64_leaves_the_global_flag_alone():
    before = jax.config.read("jax_enable_x64")
    js.evaluate("chinchilla", P_H, [1e9], [1e10], dtype="float64")
    assert jax.config.read("jax_enable_x64") == before


@pytest.mark.parametrize("bad, index", [(0.0, 2), (-5.0, 2), (np.nan, 2), (np.inf, 2)])
def test_bad_points_name_the_first_offending_index(bad, index):
    N = np.array([1e9, 2e9, bad, 0.0])
    with pytest.raises(ValueError, match=rf"^N must be positive and finite.*found {bad!r} at flat index {index}"):
        js.evaluate("chinchilla", P_H, N, np.full(4, 1e10))
    with pytest.raises(ValueError, match=r"^D must be positive"):
        js.evaluate("chinchilla", P_H, np.full(4, 1e9), N)
    with pytest.raises(ValueError, match=rf"^N must be (finite|positive).*at index {index}"):
        js.evaluate("chinchilla", P_H, N, np.full(3, 1e10)[:1], grid=True)


def test_float32_overflow_is_reported_not_silent():
    with pytest.raises(ValueError, match="in float32; found inf"):
        js.evaluate("chinchilla", P_H, np.array([1e39]), np.array([1e10]))


def test_other_bad_input():
    with pytest.raises(ValueError, match="must broadcast together"):
        js.evaluate("chinchilla", P_H, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        js.evaluate("chinchilla", P_H, 1e9, 1e10, dtype="int32")
    with pytest.raises(ValueError, match="parameter A must be positive"):
        js.evaluate("chinchilla", P_H._replace(A=0.0), 1e9, 1e10)
    with pytest.raises(ValueError, match="share one leading length"):
        js.evaluate("chinchilla", P_H._replace(A=np.ones(3) * 400, B=np.ones(2) * 400), 1e9, 1e10)
    with pytest.raises(TypeError, match="N must hold numbers"):
        js.evaluate("chinchilla", P_H, np.array(["a", "b"]), 1e10)
    with pytest.raises(ValueError, match="C .* must be 1-D"):
        js.isoflop("chinchilla", P_H, np.ones((2, 2)) * 1e20, [1e9])
    with pytest.raises(ValueError, match="^C must be positive.*-1.0"):
        js.isoflop_min("chinchilla", P_H, [1e20, -1.0], [1e9])
    with pytest.raises(ValueError, match="the law returned nan"):
        js.evaluate(lambda p, n, d: p * (n - 2e9) ** 0.5 + 0.0 * d, 1.0, [1e9, 3e9], [1.0, 1.0])


SHARDED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    import jscaling as js
    assert jax.device_count() == 4, jax.devices()
    ref = np.load(sys.argv[1])
    p = js.ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    batch = js.ChinchillaParams(*(np.array([v, v * 1.01, v * 0.99]) for v in p))
    N, D = ref["N"], ref["D"]
    out = {}
    out["pairs"] = np.array_equal(js.evaluate("chinchilla", p, N, D, dtype="float64", scratch_bytes=20_000), ref["pairs"])
    out["pairs_batch"] = np.array_equal(js.evaluate("chinchilla", batch, N, D, dtype="float64"), ref["pairs_batch"])
    out["grid"] = np.array_equal(js.evaluate("chinchilla", p, N[:57], D[:33], grid=True, dtype="float64", scratch_bytes=10_000), ref["grid"])
    best = js.isoflop_min("chinchilla", batch, ref["C"], N, dtype="float64", scratch_bytes=50_000)
    out["argmin"] = np.array_equal(best.index, ref["index"]) and np.array_equal(best.loss, ref["loss"])
    print(json.dumps(out))
    """
)


def test_sharded_over_four_devices_equals_one(tmp_path, rng):
    p = P_H
    batch = ChinchillaParams(*(np.array([v, v * 1.01, v * 0.99]) for v in p))
    N, D = 10 ** rng.uniform(6, 12, 1001), 10 ** rng.uniform(8, 13, 1001)
    C = np.logspace(18, 24, 37)
    best = js.isoflop_min("chinchilla", batch, C, N, dtype="float64")
    np.savez(
        tmp_path / "ref.npz", N=N, D=D, C=C,
        pairs=js.evaluate("chinchilla", p, N, D, dtype="float64"),
        pairs_batch=js.evaluate("chinchilla", batch, N, D, dtype="float64"),
        grid=js.evaluate("chinchilla", p, N[:57], D[:33], grid=True, dtype="float64"),
        index=best.index, loss=best.loss,
    )
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED_SCRIPT)
    env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    result = last_json_line(run_python([str(script), str(tmp_path / "ref.npz")], env=env))
    assert result == {"pairs": True, "pairs_batch": True, "grid": True, "argmin": True}


def test_device_arrays_are_used_in_place(rng):
    import jax.numpy as jnp

    N, D = 10 ** rng.uniform(6, 12, 1000), 10 ** rng.uniform(8, 13, 1000)
    expected = js.evaluate("chinchilla", P_H, N, D)
    got = js.evaluate("chinchilla", P_H, jnp.asarray(N, jnp.float32), jnp.asarray(D, jnp.float32))
    np.testing.assert_array_equal(got, expected)
    batch = _random_params(rng, 3)
    np.testing.assert_array_equal(
        js.evaluate("chinchilla", batch, jnp.asarray(N, jnp.float32), jnp.asarray(D, jnp.float32), scratch_bytes=20_000),
        js.evaluate("chinchilla", batch, N, D),
    )
    with pytest.raises(ValueError, match="^N must be positive and finite.*at flat index 3"):
        js.evaluate("chinchilla", P_H, jnp.asarray([1e9, 2e9, 3e9, -1.0]), jnp.ones(4) * 1e10)
