"""Fits, bootstrap, screening and allocation over 4 devices give the one-device answer.

XLA reads `--xla_force_host_platform_device_count` once, when JAX starts, so the 4-device
side runs in a subprocess (`CASES` below, the same code both sides) and this process, with one
device, computes the reference. Counts are chosen not to divide by 4: 405 starts, 50 resamples
of 2 starts, 301 budgets, 7 parameter sets, so every path pads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import subprocess_env

from jscaling import _runtime
from jscaling import fit as fitting

CASES = textwrap.dedent(
    """
    from typing import NamedTuple

    import jax
    import jax.numpy as jnp
    import numpy as np
    import jscaling as js
    from jscaling import _runtime, allocate, laws
    from jscaling.bootstrap import bootstrap
    from jscaling.data import Runs, simulate_isoflop_sweep
    from jscaling.fit import fit, grid_starts, random_starts, screen_starts

    TRUTH = js.ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


    class LogJoint(NamedTuple):
        log_N_c: float
        log_D_c: float
        alpha_N: float
        alpha_D: float


    def log_joint(p, N, D):  # a law without a hand-written kernel: autodiff
        return laws.KAPLAN_JOINT(laws.KaplanJointParams(jnp.exp(p.log_N_c), jnp.exp(p.log_D_c), p.alpha_N, p.alpha_D), N, D)


    def compute():
        out = {}
        runs = simulate_isoflop_sweep("chinchilla", TRUTH, key=jax.random.key(1), noise=0.01)
        # 3 * 3 * 3 * 5 * 3 = 405 starts of Hoffmann et al.'s grid, thinned.
        starts = grid_starts(alpha=[0.0, 0.5, 1.0], beta=[0.0, 0.5, 1.0], e=[-1.0, 0.0, 1.0], a=[0.0, 5.0, 10.0, 15.0, 20.0], b=[0.0, 10.0, 20.0])
        result = fit(runs, starts=starts)
        out.update(fit_objectives=result.objectives, fit_raw=np.array(list(result.raw)), fit_codes=result.codes,
                   fit_steps=result.steps, fit_best=np.array(result.best_index))
        tied = fit(runs, starts=random_starts(jax.random.key(3), 37), fixed={"E": 1.69}, tie=("alpha", "beta"))
        out.update(tied_objectives=tied.objectives, tied_raw=np.array(list(tied.raw)))
        rng = np.random.default_rng(7)
        N, D = 10.0 ** rng.uniform(7, 10, 60), 10.0 ** rng.uniform(9, 12, 60)
        joint_truth = LogJoint(31.79, 30.52, 0.076, 0.103)
        with _runtime.x64_scope():
            loss = np.asarray(log_joint(joint_truth, N, D)) * np.exp(0.01 * rng.standard_normal(60))
        starts = LogJoint(*(np.asarray(v) + rng.uniform(-1, 1, 23) * s for v, s in zip(joint_truth, (2.0, 2.0, 0.03, 0.03))))
        joint = fit(Runs.from_arrays(N, D, loss), log_joint, starts=starts)
        out.update(joint_objectives=joint.objectives, joint_raw=np.array(list(joint.raw)))
        boot = bootstrap(runs, key=jax.random.key(5), n_resamples=50, fit_result=result, starts=2)
        out.update(boot_alpha=np.asarray(boot.samples.alpha), boot_objectives=boot.objectives, boot_converged=boot.converged)
        screened = screen_starts(runs, random_starts(jax.random.key(4), 10_001), k=16, chunk=1024)
        out["screened"] = np.stack(list(screened), axis=1)

        rng = np.random.default_rng(0)
        C = 10 ** rng.uniform(18, 26, 301)
        one = allocate.optimal_allocation("chinchilla", TRUTH, C, N_bounds=(1e8, 1e11))
        out.update(alloc_N=one.N, alloc_loss=one.loss, alloc_edge=one.at_edge, alloc_converged=one.converged)
        batch = js.ChinchillaParams(*(np.asarray(v) * rng.uniform(0.97, 1.03, 7) for v in TRUTH))
        many = allocate.optimal_allocation("chinchilla", batch, C[:77], D_bounds=(1e9, 1e13))
        out.update(batch_N=many.N, batch_D=many.D, batch_loss=many.loss)
        samples = js.ChinchillaParams(*(np.asarray(v) * rng.uniform(0.97, 1.03, 10) for v in TRUTH))
        bands = allocate.allocation_bands("chinchilla", samples, [1e21, 1e23, 1e25], D_bounds=(1e9, 1e13))
        out.update(bands_N=bands.N, bands_D=bands.D, bands_loss=bands.loss)
        target = allocate.budget_for_loss("chinchilla", batch, np.linspace(2.1, 2.6, 13), N_bounds=(1e7, 1e12))
        out.update(target_N=target.N, target_C=target.C)
        capped = allocate.optimal_allocation("chinchilla", batch, C[:77], max_unique_tokens=1e12)
        out.update(capped_N=capped.N, capped_loss=capped.loss)
        return out
    """
)

CHILD = CASES + textwrap.dedent(
    """
    import json, sys
    from jscaling import fit as fitting, allocate as alloc_module
    assert jax.device_count() == 4, jax.devices()
    np.savez(sys.argv[1], **compute())
    print(json.dumps({
        "devices": jax.device_count(),
        "sharded_fit_programs": fitting._sharded_program._cache_size(),
        "one_device_fit_programs": fitting._program._cache_size(),
        "sharded_allocation_programs": alloc_module._sharded_kernel._cache_size(),
    }))
    """
)

# Quantities that must match one device's bit for bit, and those that match to the last bits:
# XLA's SPMD pipeline simplifies some allocation kernels differently from the one-device
# compile (the data-constrained law, the target-loss search: `x / y` for `x * (1 / y)` and
# the like), and the target search stops on a bracket of width rtol = 1e-10 in log N.
EXACT = (
    "fit_objectives", "fit_raw", "fit_codes", "fit_steps", "fit_best", "tied_objectives", "tied_raw",
    "joint_objectives", "joint_raw",
    "boot_alpha", "boot_objectives", "boot_converged", "screened",
    "alloc_N", "alloc_loss", "alloc_edge", "alloc_converged", "batch_N", "batch_D", "batch_loss",
    "bands_N", "bands_D", "bands_loss",
)
CLOSE = {"capped_N": 1e-13, "capped_loss": 1e-14, "target_N": 2e-10, "target_C": 2e-10}


@pytest.fixture(scope="module")
def four_and_one(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharding")
    script = tmp / "four.py"
    script.write_text(CHILD)
    env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp / "four.npz")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    namespace: dict = {}
    exec(CASES, namespace)  # noqa: S102 - the same code as the child's, on this process's one device
    one = namespace["compute"]()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    info = json.loads(out.strip().splitlines()[-1])
    four = dict(np.load(tmp / "four.npz"))
    return info, four, one


def test_the_child_ran_the_sharded_programs(four_and_one):
    info, _, _ = four_and_one
    assert info["devices"] == 4
    assert info["sharded_fit_programs"] >= 1 and info["one_device_fit_programs"] == 0
    assert info["sharded_allocation_programs"] >= 1


def test_four_devices_give_one_devices_numbers(four_and_one):
    _, four, one = four_and_one
    assert set(four) == set(EXACT) | set(CLOSE)
    for name in EXACT:
        np.testing.assert_array_equal(four[name], one[name], err_msg=name)
    for name, rtol in CLOSE.items():
        np.testing.assert_allclose(four[name], one[name], rtol=rtol, atol=0, err_msg=name)


def test_padding_is_dropped(four_and_one):
    _, four, one = four_and_one
    assert four["fit_objectives"].shape == (405,) and four["fit_steps"].shape == (405,)
    assert four["boot_alpha"].shape == (50,) and four["boot_converged"].all()
    assert four["alloc_N"].shape == (301,) and four["batch_N"].shape == (7, 77)
    assert four["bands_N"].shape == (3, 3) and four["target_N"].shape == (7, 13)


def test_slots_are_the_same_on_every_device_count():
    assert fitting._slots(4500, 240, 8) == 256
    assert fitting._slots(405, 240, 8) == 256
    assert fitting._slots(50, 240, 8) == 64
    assert fitting._slots(1, 240, 8) == 32


def test_pad_rows_repeats_the_last_row(rng):
    x = rng.normal(size=(5, 3))
    padded = _runtime.pad_rows(x, 8)
    np.testing.assert_array_equal(padded[:5], x)
    np.testing.assert_array_equal(padded[5:], np.repeat(x[-1:], 3, axis=0))
    assert _runtime.pad_rows(x, 5) is x or np.array_equal(_runtime.pad_rows(x, 5), x)


def test_one_device_has_no_mesh():
    assert jax.device_count() == 1 and _runtime.batch_mesh() is None
