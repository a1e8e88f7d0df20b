"""Laws against their numpy references; presets against values computed by hand."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jscaling as js
from jscaling import laws, testing
from jscaling.laws import ChinchillaLogParams, ChinchillaParams, DataConstrainedParams, KaplanJointParams, PowerLawParams
from jscaling.presets import PRESETS, get_preset


def _random_chinchilla(rng: np.random.Generator) -> ChinchillaParams:
    return ChinchillaParams(
        E=rng.uniform(1.0, 2.5), A=rng.uniform(50, 3000), B=rng.uniform(50, 3000),
        alpha=rng.uniform(0.1, 0.8), beta=rng.uniform(0.1, 0.8),
    )


def _points(rng: np.random.Generator, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    return 10 ** rng.uniform(0, 30, n), 10 ** rng.uniform(0, 30, n)


def _f64(fn, *args):
    with jax.enable_x64(True):
        return np.asarray(jax.jit(fn)(*args))


def test_chinchilla_float64_matches_numpy(rng):
    for _ in range(5):
        p = _random_chinchilla(rng)
        N, D = _points(rng)
        got = _f64(laws.chinchilla, p, N, D)
        np.testing.assert_allclose(got, testing.chinchilla_np(*p, N, D), rtol=1e-12)


def test_chinchilla_log_params_and_log_loss(rng):
    p = _random_chinchilla(rng)
    lp = ChinchillaLogParams(a=math.log(p.A), b=math.log(p.B), e=math.log(p.E), alpha=p.alpha, beta=p.beta)
    N, D = _points(rng)
    ref = testing.chinchilla_np(*p, N, D)
    np.testing.assert_allclose(_f64(laws.chinchilla, lp, N, D), ref, rtol=1e-12)
    np.testing.assert_allclose(_f64(laws.chinchilla_log_loss, p, N, D), np.log(ref), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_f64(laws.chinchilla_log_loss, lp, N, D), testing.chinchilla_log_np(*lp, N, D), rtol=1e-12, atol=1e-14)


def test_chinchilla_float32_finite_and_accurate_from_1_to_1e30(rng):
    p = _random_chinchilla(rng)
    N = np.logspace(0, 30, 301)
    D = np.logspace(30, 0, 301)
    got = np.asarray(jax.jit(laws.chinchilla)(p, N.astype(np.float32), D.astype(np.float32)))
    assert got.dtype == np.float32
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, testing.chinchilla_np(*p, N, D), rtol=1e-5)
    log_got = np.asarray(jax.jit(laws.chinchilla_log_loss)(p, N.astype(np.float32), D.astype(np.float32)))
    assert np.isfinite(log_got).all()
    np.testing.assert_allclose(log_got, np.log(testing.chinchilla_np(*p, N, D)), rtol=1e-5, atol=1e-6)


def test_logsumexp3_matches_numpy_and_handles_extremes(rng):
    x, y, z = (rng.normal(0, 300, 1000) for _ in range(3))
    ref = np.logaddexp(np.logaddexp(x, y), z)
    np.testing.assert_allclose(_f64(laws.logsumexp3, x, y, z), ref, rtol=1e-13)
    assert np.isfinite(_f64(laws.logsumexp3, np.array([1e300]), np.array([-1e300]), np.array([0.0]))).all()


def test_power_law_and_kaplan_joint_match_numpy(rng):
    x = 10 ** rng.uniform(0, 25, 400)
    p = PowerLawParams(x_c=10 ** rng.uniform(10, 14), alpha=rng.uniform(0.05, 0.5), E=rng.uniform(0, 2))
    np.testing.assert_allclose(_f64(laws.power_law, p, x), testing.power_law_np(*p, x), rtol=1e-12)
    k = KaplanJointParams(N_c=10 ** rng.uniform(12, 14), D_c=10 ** rng.uniform(12, 14), alpha_N=rng.uniform(0.05, 0.1), alpha_D=rng.uniform(0.08, 0.12))
    N, D = 10 ** rng.uniform(3, 14, 400), 10 ** rng.uniform(5, 14, 400)
    np.testing.assert_allclose(_f64(laws.kaplan_joint, k, N, D), testing.kaplan_joint_np(*k, N, D), rtol=1e-12)


def test_kaplan_single_variable_laws_ignore_the_other_input(rng):
    p = PowerLawParams(x_c=8.8e13, alpha=0.076)
    N = 10 ** rng.uniform(6, 12, 50)
    D1, D2 = 10 ** rng.uniform(6, 12, 50), 10 ** rng.uniform(6, 12, 50)
    with jax.enable_x64(True):
        a = np.asarray(laws.KAPLAN_N(p, N, D1))
        b = np.asarray(laws.KAPLAN_N(p, N, D2))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, testing.power_law_np(*p, N), rtol=1e-12)


def test_data_constrained_matches_numpy_and_reduces_to_chinchilla(rng):
    p = DataConstrainedParams(E=1.869, A=520.8, B=1487.7, alpha=0.35266, beta=0.35266, R_D_star=15.388, R_N_star=5.310)
    N, D = 10 ** rng.uniform(6, 12, 300), 10 ** rng.uniform(8, 14, 300)
    for U in (1e9, 1e11, 1e13):
        got = _f64(lambda q, n, d: laws.data_constrained(q, n, d, U), p, N, D)
        np.testing.assert_allclose(got, testing.data_constrained_np(*p, N, D, U), rtol=1e-12)
    no_cap = _f64(laws.data_constrained, p, N, D)
    chin = testing.chinchilla_np(p.E, p.A, p.B, p.alpha, p.beta, N, D)
    np.testing.assert_allclose(no_cap, chin, rtol=1e-12)


def test_data_constrained_repetition_only_hurts():
    p = get_preset("muennighoff2023").params
    # N = 1e8 is below U_N (the compute-optimal size for 1e10 unique tokens, ~5e8 here), so
    # only the data side is constrained.
    N, D = np.full(5, 1e8), np.logspace(10, 13, 5)
    with jax.enable_x64(True):
        capped = np.asarray(laws.data_constrained(p, N, D, 1e10))
        free = np.asarray(laws.data_constrained(p, N, D))
    assert (capped >= free - 1e-12).all()
    assert capped[0] == pytest.approx(free[0], rel=1e-12)  # one epoch: nothing repeated
    assert capped[-1] > free[-1]


def test_effective_data_below_one_epoch_is_the_data():
    with jax.enable_x64(True):
        got = np.asarray(laws.effective_data(1e12, np.array([1e9, 1e11]), 15.0))
    np.testing.assert_allclose(got, [1e9, 1e11], rtol=1e-14)


def test_jit_equals_eager_and_vmap_equals_loop(rng):
    p = _random_chinchilla(rng)
    N, D = _points(rng, 64)
    with jax.enable_x64(True):
        eager = np.asarray(laws.chinchilla(p, N, D))
        jitted = np.asarray(jax.jit(laws.chinchilla)(p, N, D))
        np.testing.assert_allclose(jitted, eager, rtol=1e-14)
        batch = ChinchillaParams(*(np.array([v, v * 1.1, v * 0.9]) for v in p))
        vmapped = np.asarray(jax.vmap(laws.chinchilla, in_axes=(0, None, None))(batch, N, D))
        looped = np.stack([np.asarray(laws.chinchilla(ChinchillaParams(*(leaf[i] for leaf in batch)), N, D)) for i in range(3)])
    np.testing.assert_allclose(vmapped, looped, rtol=1e-14)


def test_gradients_match_finite_differences(rng):
    p = ChinchillaLogParams(a=6.0, b=6.5, e=0.5, alpha=0.34, beta=0.3)
    N, D = 10 ** rng.uniform(7, 11, 20), 10 ** rng.uniform(9, 12, 20)
    with jax.enable_x64(True):
        f = lambda q: jnp.sum(laws.chinchilla_log_loss(q, N, D))  # noqa: E731
        grad = jax.grad(f)(p)
        for name in p._fields:
            h = 1e-6
            up = p._replace(**{name: getattr(p, name) + h})
            dn = p._replace(**{name: getattr(p, name) - h})
            fd = (float(f(up)) - float(f(dn))) / (2 * h)
            assert float(getattr(grad, name)) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_presets_by_hand():
    # Values computed by hand from the printed parameters.
    h = get_preset("hoffmann2022")
    N, D = 70e9, 1.4e12
    expected = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28
    with jax.enable_x64(True):
        assert float(h.law(h.params, N, D)) == pytest.approx(expected, rel=1e-12)
        u = get_preset("hoffmann2022-unrounded")
        E, A, B = math.exp(0.5267228), math.exp(6.0073404), math.exp(6.0179186)
        assert float(u.law(u.params, N, D)) == pytest.approx(E + A / N**0.33917084 + B / D**0.2849083, rel=1e-12)
        b = get_preset("besiroglu2024")
        assert float(b.law(b.params, N, D)) == pytest.approx(1.8172 + 482.01 / N**0.3478 + 2085.43 / D**0.3658, rel=1e-12)
        k = get_preset("kaplan2020")
        assert float(k.law(k.params, 1e9, 1e11)) == pytest.approx(((6.4e13 / 1e9) ** (0.076 / 0.103) + 1.8e13 / 1e11) ** 0.103, rel=1e-12)
        law_n, p_n = k.extra["L(N)"]
        assert float(law_n(p_n, 1e9, 1.0)) == pytest.approx((8.8e13 / 1e9) ** 0.076, rel=1e-12)
        law_d, p_d = k.extra["L(D)"]
        assert float(law_d(p_d, 1.0, 1e10)) == pytest.approx((5.4e13 / 1e10) ** 0.095, rel=1e-12)
    assert set(PRESETS) == {"hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024", "kaplan2020", "muennighoff2023"}
    for preset in PRESETS.values():
        assert preset.source and "20" in preset.source
        preset.law.validate(preset.params)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown preset 'chinchila'"):
        get_preset("chinchila")
    with pytest.raises(ValueError, match="unknown law"):
        laws.get_law("nope")
    with pytest.raises(ValueError, match="unique_tokens applies"):
        get_preset("hoffmann2022", unique_tokens=1e9)


def test_parameter_validation_messages():
    with pytest.raises(ValueError, match="parameter A must be positive"):
        laws.CHINCHILLA.validate(ChinchillaParams(E=1.7, A=-1.0, B=400.0, alpha=0.3, beta=0.3))
    with pytest.raises(ValueError, match="parameter .*alpha.* must be finite"):
        laws.CHINCHILLA.validate(ChinchillaParams(E=1.7, A=400.0, B=400.0, alpha=float("nan"), beta=0.3))
    with pytest.raises(TypeError, match="takes ChinchillaParams or ChinchillaLogParams"):
        laws.CHINCHILLA.validate(KaplanJointParams(1.0, 1.0, 0.1, 0.1))


def test_user_function_is_a_law():
    def my_law(p, N, D):
        return p["E"] + p["A"] * jnp.exp(-p["alpha"] * jnp.log(N)) + 0.0 * D

    law = js.as_law(my_law)
    assert law is js.as_law(my_law)  # one Law per function, so compiled programs are reused
    assert law.name == "my_law"
    got = js.evaluate(my_law, {"E": 1.0, "A": 10.0, "alpha": 0.5}, np.array([1.0, 100.0]), 1.0, dtype="float64")
    np.testing.assert_allclose(got, [11.0, 2.0], rtol=1e-14)
    with pytest.raises(TypeError, match="a law must be"):
        js.as_law(3.0)
