"""Compute accounting: training FLOPs, parameter counts, and conversions among N, D and C.

The default is `C = 6 N D`: per parameter and token, 2 FLOPs forward and 4 backward. When the
model's shape is known, `kaplan_flops_per_token` and `chinchilla_flops_per_token` give the
finer counts of the two papers; `count_params` gives N with and without embeddings, since the
convention moves fitted exponents (Kaplan et al. exclude embeddings, Hoffmann et al. do not).

Functions are plain arithmetic on numbers, numpy arrays or JAX arrays (usable under `jit`);
concrete inputs are checked (positive and finite) and the error names the argument.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from jscaling import _validate

__all__ = [
    "FLOPS_PER_PARAM_TOKEN",
    "ModelShape",
    "training_flops",
    "tokens_for_budget",
    "params_for_budget",
    "tokens_per_param",
    "count_params",
    "kaplan_flops_per_token",
    "chinchilla_flops_per_token",
]

ArrayLike = Any

FLOPS_PER_PARAM_TOKEN = 6.0
"""2 forward + 4 backward FLOPs per parameter per training token."""


def _check(name: str, value: ArrayLike) -> None:
    if isinstance(value, jax.core.Tracer):
        return
    _validate.positive_array(name, value)


def training_flops(N: ArrayLike, D: ArrayLike, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> ArrayLike:
    """Training compute `C = 6 N D` in FLOPs for N parameters trained on D tokens."""
    _check("N", N)
    _check("D", D)
    return flops_per_param_token * N * D


def tokens_for_budget(C: ArrayLike, N: ArrayLike, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> ArrayLike:
    """Tokens `D = C / (6 N)` that a budget of C FLOPs buys for an N-parameter model."""
    _check("C", C)
    _check("N", N)
    return C / (flops_per_param_token * N)


def params_for_budget(C: ArrayLike, D: ArrayLike, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> ArrayLike:
    """Parameters `N = C / (6 D)` that a budget of C FLOPs allows when training on D tokens."""
    _check("C", C)
    _check("D", D)
    return C / (flops_per_param_token * D)


def tokens_per_param(N: ArrayLike, D: ArrayLike) -> ArrayLike:
    """Training tokens per parameter, `D / N` (about 20 on Hoffmann et al.'s frontier)."""
    _check("N", N)
    _check("D", D)
    return D / N


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer's shape, for FLOP and parameter counts.

    Attributes:
        n_layer: number of transformer blocks.
        d_model: residual stream width.
        n_heads: attention heads.
        d_head: width of one head (key size); `n_heads * d_head` is Kaplan's `d_attn`.
        d_ff: width of the feed-forward layer (4 d_model is usual).
        vocab_size: tokens in the vocabulary.
        n_ctx: context length in tokens.
        tied_embeddings: input and output embeddings share one matrix.
        learned_positions: a learned position embedding of `n_ctx x d_model`.
    """

    n_layer: int
    d_model: int
    n_heads: int
    d_head: int | None = None
    d_ff: int | None = None
    vocab_size: int = 32_000
    n_ctx: int = 2048
    tied_embeddings: bool = True
    learned_positions: bool = False

    def __post_init__(self) -> None:
        for field in ("n_layer", "d_model", "n_heads", "vocab_size", "n_ctx"):
            _validate.check_int(field, getattr(self, field), minimum=1)
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(f"d_model ({self.d_model}) is not a multiple of n_heads ({self.n_heads}); give d_head")
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        _validate.check_int("d_head", self.d_head, minimum=1)
        _validate.check_int("d_ff", self.d_ff, minimum=1)

    @property
    def d_attn(self) -> int:
        """Total attention width `n_heads * d_head`."""
        return self.n_heads * self.d_head


def count_params(shape: ModelShape, *, embeddings: bool = True) -> int:
    """Parameters of `shape`, weight matrices only (biases and norms are negligible).

    Per block: `4 d_model d_attn` (Q, K, V, output) and `2 d_model d_ff` (MLP). With
    `embeddings=True` add the vocabulary embedding (twice when untied) and learned positions.
    Kaplan et al. count without embeddings; Hoffmann et al. with.
    """
    per_layer = 4 * shape.d_model * shape.d_attn + 2 * shape.d_model * shape.d_ff
    total = shape.n_layer * per_layer
    if embeddings:
        total += shape.vocab_size * shape.d_model * (1 if shape.tied_embeddings else 2)
        if shape.learned_positions:
            total += shape.n_ctx * shape.d_model
    return total


def kaplan_flops_per_token(shape: ModelShape, *, training: bool = True) -> int:
    """Kaplan et al. 2020, Table 1: forward `2 N + 2 n_layer n_ctx d_attn` per token.

    N is the non-embedding parameter count. Training is 3x the forward pass (backward = 2x).
    """
    forward = 2 * count_params(shape, embeddings=False) + 2 * shape.n_layer * shape.n_ctx * shape.d_attn
    return 3 * forward if training else forward


def chinchilla_flops_per_token(shape: ModelShape, *, training: bool = True) -> float:
    """Hoffmann et al. 2022, Appendix F: the full forward count per token, embeddings to logits.

    Per sequence of `n_ctx` tokens: embeddings `2 n_ctx vocab d_model`; per layer, attention
    (QKV `2*3 n_ctx d_model d_attn`, logits `2 n_ctx^2 d_attn`, softmax `3 n_heads n_ctx^2`,
    reduction `2 n_ctx^2 d_attn`, output `2 n_ctx d_attn d_model`) and dense block
    `2 n_ctx (2 d_model d_ff)`; final logits `2 n_ctx d_model vocab`. Backward = 2x forward.
    """
    s, d, v = shape.n_ctx, shape.d_model, shape.vocab_size
    embeddings = 2 * s * v * d
    attention = (
        2 * 3 * s * d * shape.d_attn
        + 2 * s * s * shape.d_attn
        + 3 * shape.n_heads * s * s
        + 2 * s * s * shape.d_attn
        + 2 * s * shape.d_attn * d
    )
    dense = 2 * s * (2 * d * shape.d_ff)
    logits = 2 * s * d * v
    forward = embeddings + shape.n_layer * (attention + dense) + logits
    per_token = forward / s
    return 3 * per_token if training else per_token
