"""Plain numpy references of every law and FLOP formula: the oracles tests compare against.

Written as literally as the papers print them (powers, not logs), in float64, with no JAX, so
that a bug in the fast paths cannot hide in a shared helper.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "chinchilla_np",
    "chinchilla_log_np",
    "power_law_np",
    "kaplan_joint_np",
    "data_constrained_np",
    "kaplan_flops_per_token_np",
    "chinchilla_flops_per_token_np",
    "isoflop_min_np",
]


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def chinchilla_np(E: float, A: float, B: float, alpha: float, beta: float, N: Any, D: Any) -> np.ndarray:
    """`E + A / N**alpha + B / D**beta`."""
    return E + A / _f64(N) ** alpha + B / _f64(D) ** beta


def chinchilla_log_np(a: float, b: float, e: float, alpha: float, beta: float, N: Any, D: Any) -> np.ndarray:
    """`log L` via numpy's `logaddexp` (a different route from the library's)."""
    return np.logaddexp(np.logaddexp(a - alpha * np.log(_f64(N)), b - beta * np.log(_f64(D))), e)


def power_law_np(x_c: float, alpha: float, E: float, x: Any) -> np.ndarray:
    """`(x_c / x)**alpha + E`."""
    return (x_c / _f64(x)) ** alpha + E


def kaplan_joint_np(N_c: float, D_c: float, alpha_N: float, alpha_D: float, N: Any, D: Any) -> np.ndarray:
    """`[(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`."""
    return ((N_c / _f64(N)) ** (alpha_N / alpha_D) + D_c / _f64(D)) ** alpha_D


def data_constrained_np(E: float, A: float, B: float, alpha: float, beta: float, R_D_star: float, R_N_star: float, N: Any, D: Any, U_D: float) -> np.ndarray:
    """Muennighoff et al. 2023, eqs. 4-6, spelled out."""
    N, D = _f64(N), _f64(D)
    U = np.minimum(U_D, D)
    R_D = D / U - 1.0
    D_eff = U + U * R_D_star * (1.0 - np.exp(-R_D / R_D_star))
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    C_over_6 = (U_D * G) ** (1.0 / b)  # the budget whose D_opt is U_D
    U_N = np.minimum(N, G * C_over_6**a)
    R_N = N / U_N - 1.0
    N_eff = U_N + U_N * R_N_star * (1.0 - np.exp(-R_N / R_N_star))
    return E + A / N_eff**alpha + B / D_eff**beta


def kaplan_flops_per_token_np(n_layer: int, d_model: int, d_attn: int, d_ff: int, n_ctx: int) -> float:
    """Kaplan et al. 2020 Table 1, training: 3 x (2 N + 2 n_layer n_ctx d_attn)."""
    N = 2 * d_model * n_layer * (2 * d_attn + d_ff)
    return 3.0 * (2 * N + 2 * n_layer * n_ctx * d_attn)


def chinchilla_flops_per_token_np(n_layer: int, d_model: int, n_heads: int, key_size: int, d_ff: int, vocab: int, seq_len: int) -> float:
    """Hoffmann et al. 2022 Appendix F, line by line, per sequence then divided by its length."""
    embeddings = 2 * seq_len * vocab * d_model
    qkv = 2 * 3 * seq_len * d_model * (key_size * n_heads)
    kq_logits = 2 * seq_len * seq_len * (key_size * n_heads)
    softmax = 3 * n_heads * seq_len * seq_len
    reductions = 2 * seq_len * seq_len * (key_size * n_heads)
    final_linear = 2 * seq_len * (key_size * n_heads) * d_model
    attention = qkv + kq_logits + softmax + reductions + final_linear
    dense = 2 * seq_len * (d_model * d_ff + d_model * d_ff)
    logits = 2 * seq_len * d_model * vocab
    forward = embeddings + n_layer * (attention + dense) + logits
    return 3.0 * forward / seq_len


def isoflop_min_np(loss_fn: Any, C: Any, N: Any, *, flops_per_param_token: float = 6.0, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force min and argmin of `loss_fn(N, D)` over candidates for each budget (chunked)."""
    C, N = _f64(C), _f64(N)
    best = np.empty(C.shape[0])
    index = np.empty(C.shape[0], dtype=np.int64)
    for s in range(0, C.shape[0], chunk):
        c = C[s : s + chunk, None]
        loss = loss_fn(N[None, :], c / (flops_per_param_token * N[None, :]))
        index[s : s + chunk] = np.argmin(loss, axis=1)
        best[s : s + chunk] = np.min(loss, axis=1)
    return best, index
