"""FLOP and parameter counts against the papers' formulas spelled out in numpy."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jscaling import compute, testing
from jscaling.compute import ModelShape


def test_six_n_d_and_conversions(rng):
    N, D = 10 ** rng.uniform(6, 12, 100), 10 ** rng.uniform(8, 13, 100)
    C = compute.training_flops(N, D)
    np.testing.assert_allclose(C, 6 * N * D, rtol=1e-15)
    np.testing.assert_allclose(compute.tokens_for_budget(C, N), D, rtol=1e-14)
    np.testing.assert_allclose(compute.params_for_budget(C, D), N, rtol=1e-14)
    np.testing.assert_allclose(compute.tokens_per_param(N, D), D / N, rtol=1e-15)
    assert compute.training_flops(1e9, 2e10, flops_per_param_token=8.0) == pytest.approx(1.6e20)


def test_flops_work_under_jit():
    f = jax.jit(lambda n, d: compute.training_flops(n, d))
    assert float(f(2.0, 3.0)) == pytest.approx(36.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_inputs_name_the_argument(bad):
    with pytest.raises(ValueError, match="^N must be"):
        compute.training_flops(np.array([1.0, bad]), 1.0)
    with pytest.raises(ValueError, match="^C must be"):
        compute.tokens_for_budget(bad, 1.0)


def test_kaplan_and_chinchilla_counts_match_the_papers(rng):
    for _ in range(20):
        n_heads = int(rng.integers(1, 64))
        d_head = int(rng.integers(16, 256))
        shape = ModelShape(
            n_layer=int(rng.integers(1, 100)), d_model=int(rng.integers(64, 16384)), n_heads=n_heads, d_head=d_head,
            d_ff=int(rng.integers(64, 65536)), vocab_size=int(rng.integers(1000, 300000)), n_ctx=int(rng.integers(128, 8192)),
        )
        assert compute.kaplan_flops_per_token(shape) == pytest.approx(
            testing.kaplan_flops_per_token_np(shape.n_layer, shape.d_model, shape.d_attn, shape.d_ff, shape.n_ctx), rel=1e-12)
        assert compute.chinchilla_flops_per_token(shape) == pytest.approx(
            testing.chinchilla_flops_per_token_np(shape.n_layer, shape.d_model, shape.n_heads, shape.d_head, shape.d_ff, shape.vocab_size, shape.n_ctx), rel=1e-12)
        assert compute.chinchilla_flops_per_token(shape, training=False) * 3 == pytest.approx(compute.chinchilla_flops_per_token(shape))


def test_kaplan_count_is_close_to_six_n_for_large_models():
    # GPT-3 175B-like shape: the context term is a few percent of 6N.
    shape = ModelShape(n_layer=96, d_model=12288, n_heads=96, vocab_size=50257, n_ctx=2048)
    N = compute.count_params(shape, embeddings=False)
    assert N == pytest.approx(174e9, rel=0.01)
    assert compute.kaplan_flops_per_token(shape) / (6 * N) == pytest.approx(1.0, abs=0.03)


def test_chinchilla_70b_count():
    # Chinchilla: 80 layers, d_model 8192, 64 heads of 128, d_ff 32768, vocab 32000.
    shape = ModelShape(n_layer=80, d_model=8192, n_heads=64, d_head=128, d_ff=32768, vocab_size=32000, n_ctx=2048)
    N = compute.count_params(shape)
    assert N == pytest.approx(64.7e9, rel=0.01)  # weight matrices alone (the paper reports 70B with its own accounting)
    ratio = compute.chinchilla_flops_per_token(shape) / (6 * N)
    assert 1.0 < ratio < 1.1  # Hoffmann et al. Table A4: the full count is within a few % of 6ND


def test_param_counts_with_and_without_embeddings():
    shape = ModelShape(n_layer=2, d_model=8, n_heads=2, d_ff=32, vocab_size=100, n_ctx=16, tied_embeddings=False, learned_positions=True)
    non_emb = 2 * (4 * 8 * 8 + 2 * 8 * 32)
    assert compute.count_params(shape, embeddings=False) == non_emb
    assert compute.count_params(shape) == non_emb + 2 * 100 * 8 + 16 * 8


def test_shape_validation():
    with pytest.raises(ValueError, match="not a multiple of n_heads"):
        ModelShape(n_layer=2, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="n_layer must be at least 1"):
        ModelShape(n_layer=0, d_model=8, n_heads=2)
    with pytest.raises(TypeError, match="d_model must be an integer"):
        ModelShape(n_layer=1, d_model=8.5, n_heads=2)
