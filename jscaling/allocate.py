"""Compute-optimal allocation: how big a model, how many tokens, for a budget of C FLOPs.

From the fastest to the most general:

- `compute_optimal(params, C)`: the closed form of the Chinchilla law with `C = 6 N D`
  (Hoffmann et al. 2022): `G = (alpha A / (beta B))**(1/(alpha+beta))`, `a = beta/(alpha+beta)`,
  `b = alpha/(alpha+beta)`, `N_opt = G (C/6)**a`, `D_opt = (C/6)**b / G`, and the frontier loss
  `L_opt(C) = E + K (C/6)**-gamma` with `gamma = alpha beta/(alpha+beta)`,
  `K = A G**-alpha + B G**beta`; `compute_for_loss(params, L)` inverts it.
- `optimal_allocation(law, params, C)`: a batched search for any law (Kaplan's joint law, the
  data-constrained law, any function `f(params, N, D)`), with bounds on N and D, a cap on
  unique tokens, and optionally a share of the budget for inference.
- `budget_for_loss(law, params, L)`: the smallest budget that reaches each target loss;
  `inference_optimal(law, params, L, inference_tokens=T)` the same counting inference too
  (Sardana et al. 2024): minimise `6 N D + 2 N T` subject to `L(N, D) = L_target`.
- `allocation_bands(law, samples, C)`: percentiles of the allocation over a batch of parameter
  sets (bootstrap samples of a fit); `Allocation.bands()` does the same for any batched result.

Every function returns an `Allocation` (or `AllocationBands`), a frozen dataclass of numpy
arrays whose `rows()` gives one dict per budget. Parameters may be one set (scalars) or a
batch (every leaf with a leading axis of length P): results then gain a leading axis P.

The search. For each budget, the loss along its iso-FLOP line is minimised over `x = log N`,
on the interval where `N` and `D = C / (6 N)` both lie inside their bounds: a coarse scan of
`scan_points` evenly spaced values picks the best, its two neighbours bracket the minimum,
and a safeguarded Newton iteration on `dL/dx` (first and second derivatives by forward-mode
autodiff of the law, bisection whenever a Newton step leaves the bracket or stalls) finds it
to `rtol` in N. Working on the derivative rather than on loss values matters: the loss is
flat at the optimum, so values alone resolve log N only to about `sqrt(eps)` (1e-7 to 1e-6 in
float64), while the derivative's root is found to 1e-12. A minimum found at an end of the
allowed interval is flagged in `at_edge` (the true optimum lies outside the bounds).
The target-loss problems solve, for each `x`, the constraint `L(N, D) = L_target` for
`log D` (in closed form for the Chinchilla law, by bracketed Newton otherwise), then
minimise the total compute over `x` the same way (scan, then a bracketed Illinois root of
its derivative, found by implicit differentiation).

Where jit and vmap go: the inputs are checked and the per-budget intervals computed in numpy;
then budgets are cut into fixed-size chunks (padded, so one compiled program serves them
all; `chunk_size` budgets per parameter set, divided by P for batches) and one jitted kernel
per (law, chunk shape, scan_points, max_steps) solves a chunk: scan, bracket and Newton
iteration for every budget at once, a `vmap` over the parameter sets, and a `while_loop`
that stops when every lane has converged (each lane carries its own converged flag). A second
call of the same shapes does not recompile; memory stays bounded by the chunk whatever the
number of budgets. The closed forms run in numpy. Chunks are pipelined: the next is launched
before the previous one's results are copied back.

Several devices (one host or many, `jscaling.distributed`): each call's lanes are split over
the one-axis mesh of all devices, along the budgets (the chunk a multiple of the device count,
padded with copies of the last budget) or, for a batch of parameter sets, along the sets when
that pads less (P padded with copies of the last set); `jax.shard_map` runs the same kernel on
every device with no collectives, so each device's loops stop on their own; results are
gathered to every process. Chunks hold 8,192 lanes per CPU device by default (1,024 for the
target-loss problems), more on an accelerator (as a sixteenth of its memory allows). Results
match one device's (tests/test_sharding.py, 4 CPU devices): bit for bit for the budget search
with the Chinchilla law; to the last bits where XLA's multi-device compile simplifies the
kernel differently (the data-constrained law: 4e-15 relative in N; the target-loss search,
which stops on a bracket of width `rtol`: 7e-11).

Precision: the search runs in float64 inside `jscaling._runtime.x64_scope()` (the user's
global x64 flag is untouched); it agrees with the closed form to about 1e-14 relative in N
(Newton stops one step after converging quadratically, so `rtol` is met with room to spare).
A float32 coarse scan was measured: it picks the same brackets (same results to the last
bit) but saved little (1e6 budgets: 0.28-0.30 s against 0.33-0.44 s, within this shared
machine's noise), not worth a second precision path, so everything is float64.

Safeguard: the refined point must beat the best scanned one. A law whose derivatives are wrong
(a `stop_gradient` in the wrong place) or that is not unimodal near the bracket fails this;
such lanes keep the scanned point and are flagged in `converged` (False).

The cap on unique tokens (`max_unique_tokens`) uses the data-constrained law of Muennighoff
et al. 2023 with `U_D` = the cap, so that tokens beyond the cap are repeated epochs worth less
than fresh ones. With `DataConstrainedParams` their own `R_D*`, `R_N*` are used; Chinchilla
parameters (natural or log) are extended with the published `R_D* = 15.388`,
`R_N* = 5.310` of the `muennighoff2023` preset. Other laws have no notion of repetition:
bound `D` with `D_bounds` instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jscaling import _runtime, _validate, laws
from jscaling._params import prepare_params
from jscaling._repr import span
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.laws import (
    ChinchillaLogParams,
    ChinchillaParams,
    DataConstrainedParams,
    Law,
    LossFn,
)

__all__ = [
    "Allocation",
    "AllocationBands",
    "FrontierConstants",
    "frontier_constants",
    "compute_optimal",
    "compute_for_loss",
    "optimal_allocation",
    "budget_for_loss",
    "inference_optimal",
    "allocation_bands",
    "solve",
]

ArrayLike = Any
Progress = Callable[[int, int], None]

INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
"""FLOPs per parameter per inference token (a forward pass)."""

DEFAULT_BOUNDS = (1.0, 1e30)
"""Default bounds on N and on D: unconstrained for any realistic budget."""

_CHUNK = 8192  # budgets per kernel call and CPU device (all parameter sets together)
_TARGET_CHUNK = 1024  # targets per kernel call and CPU device
_BYTES_PER_SCAN_POINT = 64  # working set of one lane per point of the coarse scan (float64)
_PERCENTILES = (2.5, 50.0, 97.5)


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, repr=False)
class Allocation:
    """Compute-optimal allocations, one per budget (or per target loss).

    Attributes:
        C: the budget in FLOPs: training `6 N D`, plus inference `2 N T` when
            `inference_tokens` is set. Shape `(K,)` (or `()` for one budget), with a leading
            P for batched parameters where budgets differ by parameter set.
        N: parameters of the optimal model, shape `(K,)` or `(P, K)`.
        D: its training tokens, same shape.
        loss: its loss `L(N, D)` in nats per token, same shape.
        at_edge: True where the optimum sits on a bound of N or D (the unconstrained optimum
            lies outside the allowed range); always False for closed forms.
        converged: False where the search ran out of `max_steps`, or where its refinement lost
            to the coarse scan (wrong derivatives: the scanned point is kept).
        law: the law's name.
        method: "closed form" or "search".
        target_loss: the target of `budget_for_loss`/`inference_optimal`, else None.
        inference_tokens: tokens served at inference, when counted, else None.
        batch_size: P for a batch of parameter sets, None for one.
    """

    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    at_edge: np.ndarray
    converged: np.ndarray
    law: str
    method: str
    target_loss: np.ndarray | None = None
    inference_tokens: np.ndarray | None = None
    batch_size: int | None = None

    @property
    def tokens_per_param(self) -> np.ndarray:
        """Training tokens per parameter, `D / N` (about 20 on Hoffmann et al.'s frontier)."""
        return self.D / self.N

    def bands(self, percentiles: Sequence[float] = _PERCENTILES) -> AllocationBands:
        """Percentiles over the parameter sets of a batched allocation (bootstrap bands)."""
        if self.batch_size is None:
            raise ValueError("bands need a batch of parameter sets (params with a leading axis P); this allocation has one")
        q = _check_percentiles(percentiles)
        stats = {name: np.percentile(getattr(self, name), q, axis=0) for name in ("N", "D", "tokens_per_param", "loss")}
        if np.ndim(self.C) == np.ndim(self.N):  # budgets found per parameter set (target losses)
            C = np.percentile(self.C, q, axis=0)
        else:
            C = np.broadcast_to(self.C, stats["N"].shape).copy()
        return AllocationBands(
            percentiles=tuple(float(v) for v in q), C=C, N=stats["N"], D=stats["D"],
            tokens_per_param=stats["tokens_per_param"], loss=stats["loss"],
            at_edge=np.any(self.at_edge, axis=0), law=self.law, method=self.method,
            batch_size=self.batch_size, target_loss=self.target_loss, inference_tokens=self.inference_tokens,
        )

    def _columns(self) -> dict[str, np.ndarray]:
        shape = np.shape(self.N)
        columns: dict[str, np.ndarray] = {}
        if self.batch_size is not None:
            columns["param_set"] = np.broadcast_to(np.arange(self.batch_size).reshape((-1,) + (1,) * (len(shape) - 1)), shape)
        if self.target_loss is not None:
            columns["target_loss"] = np.broadcast_to(self.target_loss, shape)
        if self.inference_tokens is not None:
            columns["inference_tokens"] = np.broadcast_to(self.inference_tokens, shape)
        columns["C"] = np.broadcast_to(self.C, shape)
        columns.update(N=self.N, D=self.D, tokens_per_param=self.tokens_per_param, loss=self.loss, at_edge=self.at_edge)
        return {k: np.ravel(v) for k, v in columns.items()}

    def rows(self) -> list[dict[str, Any]]:
        """One dict per budget (per parameter set and budget for a batch), plain Python values.

        Keys: `C, N, D, tokens_per_param, loss, at_edge`, preceded by `target_loss` and
        `inference_tokens` when set and by `param_set` for a batch.
        """
        return _rows(self._columns())

    def __repr__(self) -> str:
        batch = "" if self.batch_size is None else f", P={self.batch_size}"
        extra = "" if self.target_loss is None else f", target_loss={span(self.target_loss, '.5g')}"
        if self.inference_tokens is not None:
            extra += f", inference_tokens={span(self.inference_tokens, '.4g')}"
        flags = ""
        if np.any(self.at_edge):
            flags += f", at_edge={int(np.count_nonzero(self.at_edge))}"
        if not np.all(self.converged):
            flags += f", not_converged={int(np.count_nonzero(~self.converged))}"
        what = "budgets" if self.target_loss is None else "targets"
        count = "" if np.ndim(self.N) == 0 else f"{what}={np.shape(self.N)[-1]}, "
        return (
            f"Allocation({count}law={self.law!r}, method={self.method!r}{batch}{extra}, "
            f"C={span(self.C, '.4g')} FLOPs, N={span(self.N, '.4g')}, D={span(self.D, '.4g')}, "
            f"tokens/param={span(self.tokens_per_param, '.4g')}, loss={span(self.loss, '.5g')}{flags})"
        )


@dataclasses.dataclass(frozen=True, repr=False)
class AllocationBands:
    """Percentiles of allocations over a batch of parameter sets (bootstrap samples).

    Attributes:
        percentiles: the percentiles, in [0, 100].
        C, N, D, tokens_per_param, loss: arrays of shape `(len(percentiles), K)`; `C` is the
            same on every row when the budgets were given.
        at_edge: `(K,)`, True where any parameter set's optimum sits on a bound.
        law, method: as in `Allocation`.
        batch_size: the number of parameter sets P.
        target_loss, inference_tokens: as in `Allocation`.
    """

    percentiles: tuple[float, ...]
    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    tokens_per_param: np.ndarray
    loss: np.ndarray
    at_edge: np.ndarray
    law: str
    method: str
    batch_size: int
    target_loss: np.ndarray | None = None
    inference_tokens: np.ndarray | None = None

    def band(self, name: str, percentile: float) -> np.ndarray:
        """The row of `name` (`"N"`, `"D"`, `"C"`, `"tokens_per_param"`, `"loss"`) at `percentile`."""
        if name not in ("C", "N", "D", "tokens_per_param", "loss"):
            raise ValueError(f"name must be one of C, N, D, tokens_per_param, loss; got {name!r}")
        for i, q in enumerate(self.percentiles):
            if q == float(percentile):
                return getattr(self, name)[i]
        raise ValueError(f"percentile {percentile!r} was not computed; have {list(self.percentiles)}")

    def _columns(self) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        names = ["N", "D", "tokens_per_param", "loss"]
        if self.target_loss is not None:
            columns["target_loss"] = np.ravel(self.target_loss)
            names = ["C", "N", "D", "tokens_per_param"]
        else:
            columns["C"] = np.ravel(self.C[0])
        if self.inference_tokens is not None:
            columns["inference_tokens"] = np.ravel(np.broadcast_to(self.inference_tokens, np.shape(self.N[0])))
        for name in names:
            for i, q in enumerate(self.percentiles):
                columns[_percentile_column(name, q)] = np.ravel(getattr(self, name)[i])
        columns["at_edge"] = np.ravel(self.at_edge)
        return columns

    def rows(self) -> list[dict[str, Any]]:
        """One dict per budget (or target): the key column, then `N_p2.5`, `N_p50`, ... ."""
        return _rows(self._columns())

    def __repr__(self) -> str:
        lo, hi = self.percentiles[0], self.percentiles[-1]
        what = "targets" if self.target_loss is not None else "budgets"
        return (
            f"AllocationBands({what}={np.shape(self.N)[-1]}, law={self.law!r}, method={self.method!r}, "
            f"P={self.batch_size}, percentiles={list(self.percentiles)}, "
            f"N p{lo:g}={span(self.N[0], '.3g')}, N p{hi:g}={span(self.N[-1], '.3g')}, "
            f"tokens/param p{lo:g}={span(self.tokens_per_param[0], '.3g')}, "
            f"tokens/param p{hi:g}={span(self.tokens_per_param[-1], '.3g')})"
        )


def _percentile_column(name: str, q: float) -> str:
    return f"{name}_p{q:g}"


def _rows(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    lists = {k: v.tolist() for k, v in columns.items()}
    n = len(next(iter(lists.values()))) if lists else 0
    return [{k: v[i] for k, v in lists.items()} for i in range(n)]


class FrontierConstants(NamedTuple):
    """The Chinchilla frontier `N_opt = G (C/6)**a`, `D_opt = (C/6)**b / G` (`a + b = 1`)."""

    G: np.ndarray
    a: np.ndarray
    b: np.ndarray


# --------------------------------------------------------------------------- checks


def _check_percentiles(percentiles: Sequence[float]) -> np.ndarray:
    q = _validate.as_float_array("percentiles", percentiles)
    if q.ndim != 1 or q.size == 0:
        raise ValueError(f"percentiles must be a non-empty list of numbers, got shape {q.shape}")
    bad = ~((q >= 0) & (q <= 100))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"percentiles must lie in [0, 100]; found {float(q[i])!r} at index {i}")
    return q


def _budgets(name: str, C: ArrayLike) -> np.ndarray:
    C = _validate.positive_array(name, C)
    if C.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D array, got shape {C.shape}")
    if C.size == 0:
        raise ValueError(f"{name} is empty: give at least one value")
    return C


def _bounds(name: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if bounds is None:
        return DEFAULT_BOUNDS
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi), got {bounds!r}") from None
    lo = _validate.positive_scalar(f"{name}[0]", lo)
    hi = _validate.positive_scalar(f"{name}[1]", hi)
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi; got ({lo:g}, {hi:g}){' (reversed)' if lo > hi else ''}")
    return lo, hi


def _chinchilla_arrays(params: Any, what: str) -> tuple[np.ndarray, ...]:
    """`(E, log A, log B, alpha, beta)` as float64 arrays (scalars or (P,)), checked."""
    if isinstance(params, DataConstrainedParams):
        raise TypeError(f"{what} takes ChinchillaParams or ChinchillaLogParams; the data-constrained law has no closed form: use optimal_allocation")
    if not isinstance(params, (ChinchillaParams, ChinchillaLogParams)):
        raise TypeError(
            f"{what} takes ChinchillaParams or ChinchillaLogParams (the closed form holds for the "
            f"Chinchilla law only), got {type(params).__name__}; for other laws use optimal_allocation"
        )
    laws.CHINCHILLA.validate(params)
    arrays = [np.asarray(v, np.float64) for v in params]
    if max(a.ndim for a in arrays) > 1:
        raise ValueError(f"params must hold scalars or 1-D arrays of a common length P; got shapes {[a.shape for a in arrays]}")
    try:
        arrays = list(np.broadcast_arrays(*arrays))
    except ValueError:
        raise ValueError(f"batched params must share one leading length; got shapes {[a.shape for a in arrays]}") from None
    if isinstance(params, ChinchillaLogParams):
        log_A, log_B, E, alpha, beta = arrays[0], arrays[1], np.exp(arrays[2]), arrays[3], arrays[4]
    else:
        E, log_A, log_B, alpha, beta = arrays[0], np.log(arrays[1]), np.log(arrays[2]), arrays[3], arrays[4]
    for name, value in (("alpha", alpha), ("beta", beta)):
        bad = ~(value > 0)
        if bad.any():
            i = _validate.first_bad(bad)
            where = f" (parameter set {i[0]})" if i else ""
            raise ValueError(f"parameter {name} must be positive for a compute-optimal frontier; found {float(value[i])!r}{where}")
    return E, log_A, log_B, alpha, beta


def _lead(x: np.ndarray, ndim: int) -> np.ndarray:
    """A per-parameter-set array shaped to broadcast against budgets with `ndim` axes."""
    return x if x.ndim == 0 else x.reshape(x.shape + (1,) * ndim)


def _batch_size(x: np.ndarray) -> int | None:
    return None if x.ndim == 0 else int(x.shape[0])


# --------------------------------------------------------------------------- closed form


def frontier_constants(params: ChinchillaParams | ChinchillaLogParams) -> FrontierConstants:
    """`G = (alpha A / (beta B))**(1/(alpha+beta))`, `a = beta/(alpha+beta)`, `b = alpha/(alpha+beta)`.

    Scalars for one parameter set, arrays of length P for a batch.
    """
    *_, log_G, a, b, _, _ = _frontier(params, "frontier_constants")
    return FrontierConstants(G=np.exp(log_G), a=a, b=b)


def _frontier(params: Any, what: str) -> tuple[np.ndarray, ...]:
    """`(E, log A, log B, alpha, beta, log G, a, b, gamma, log K)` for the closed forms."""
    E, log_A, log_B, alpha, beta = _chinchilla_arrays(params, what)
    s = alpha + beta
    log_G = (np.log(alpha) + log_A - np.log(beta) - log_B) / s
    gamma = alpha * beta / s
    log_K = np.logaddexp(log_A - alpha * log_G, log_B + beta * log_G)
    return E, log_A, log_B, alpha, beta, log_G, beta / s, alpha / s, gamma, log_K


def compute_optimal(
    params: ChinchillaParams | ChinchillaLogParams,
    C: ArrayLike,
    *,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> Allocation:
    """The compute-optimal N and D for budgets of C FLOPs, in closed form (Chinchilla law).

    `N_opt = G (C/6)**a`, `D_opt = (C/6)**b / G` (see `frontier_constants`); the loss is the
    frontier `L_opt(C) = E + K (C/6)**-gamma`. `C` is a number or a 1-D array; natural or
    log parameters, one set or a batch (results then have shape `(P, K)`).
    """
    C = _budgets("C", C)
    k = _validate.positive_scalar("flops_per_param_token", flops_per_param_token)
    E, log_A, log_B, alpha, beta, log_G, a, b, gamma, log_K = _frontier(params, "compute_optimal")
    # numpy, no compilation: one log, two exp and a division per budget.
    lc = np.log(C) - math.log(k)
    n = C.ndim
    N = np.asarray(np.exp(_lead(a, n) * lc + _lead(log_G, n)))
    D = np.asarray(C / (k * N))
    loss = np.asarray(_lead(E, n) + np.exp(_lead(log_K, n) - _lead(gamma, n) * lc))
    flags = np.zeros(N.shape, bool)
    return Allocation(
        C=C, N=N, D=D, loss=loss, at_edge=flags, converged=~flags, law=laws.CHINCHILLA.name,
        method="closed form", batch_size=_batch_size(E),
    )


def compute_for_loss(
    params: ChinchillaParams | ChinchillaLogParams,
    target_loss: ArrayLike,
    *,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> Allocation:
    """The smallest budget whose compute-optimal model reaches `target_loss` (closed form).

    Inverts `L_opt(C) = E + K (C/6)**-gamma`: `C = 6 (K / (L - E))**(1/gamma)`. Targets at or
    below the irreducible loss E are unreachable and raise `ValueError`.
    """
    target = _targets(target_loss)
    k = _validate.positive_scalar("flops_per_param_token", flops_per_param_token)
    E, log_A, log_B, alpha, beta, log_G, a, b, gamma, log_K = _frontier(params, "compute_for_loss")
    _check_above_E(target, E)
    n = target.ndim
    excess = target - _lead(E, n)
    lc = (_lead(log_K, n) - np.log(excess)) / _lead(gamma, n)
    log_N = _lead(log_G, n) + _lead(a, n) * lc
    log_D = _lead(b, n) * lc - _lead(log_G, n)
    N, D = np.exp(log_N), np.exp(log_D)
    loss = _lead(E, n) + np.exp(_lead(log_A, n) - _lead(alpha, n) * log_N) + np.exp(_lead(log_B, n) - _lead(beta, n) * log_D)
    flags = np.zeros(N.shape, bool)
    return Allocation(
        C=k * np.exp(lc), N=N, D=D, loss=loss, at_edge=flags, converged=~flags, law=laws.CHINCHILLA.name,
        method="closed form", target_loss=target, batch_size=_batch_size(E),
    )


def _targets(target_loss: ArrayLike) -> np.ndarray:
    T = _validate.as_float_array("target_loss", target_loss)
    _validate.check_positive("target_loss", T)
    if T.ndim > 1:
        raise ValueError(f"target_loss must be a number or a 1-D array, got shape {T.shape}")
    if T.size == 0:
        raise ValueError("target_loss is empty: give at least one target")
    return T


def _check_above_E(target: np.ndarray, E: np.ndarray) -> None:
    Tb, Eb = np.broadcast_arrays(target, _lead(E, target.ndim))
    bad = ~(Tb > Eb)
    if bad.any():
        index = _validate.first_bad(bad)
        where = f" for parameter set {index[0]}" if E.ndim else ""
        at = f" (index {index[-1]})" if target.ndim else ""
        raise ValueError(
            f"target loss {float(Tb[index]):.6g}{at} is at or below the irreducible loss E = {float(Eb[index]):.6g}"
            f"{where}: no budget reaches it; choose a target above E"
        )


# --------------------------------------------------------------------------- law and params


_MUENNIGHOFF_R = (15.388, 5.310)  # R_D*, R_N* of the muennighoff2023 preset


def _resolve(law: Law | LossFn | str, params: Any, max_unique_tokens: float | None) -> tuple[Law, Any, float | None]:
    """The law and params to search, with a cap on unique tokens turned into the data-constrained law."""
    law = laws.as_law(law)
    if max_unique_tokens is None:
        return law, params, None
    U = _validate.positive_scalar("max_unique_tokens", max_unique_tokens)
    if isinstance(params, DataConstrainedParams):
        if law is not laws.data_constrained_law(None) and law.params_type is DataConstrainedParams:
            raise ValueError(f"law {law.name!r} already caps unique tokens; pass the uncapped data-constrained law with max_unique_tokens")
        return laws.data_constrained_law(U), params, U
    if isinstance(params, (ChinchillaParams, ChinchillaLogParams)) and law is laws.CHINCHILLA:
        natural = params if isinstance(params, ChinchillaParams) else ChinchillaParams(
            E=np.exp(np.asarray(params.e, np.float64)), A=np.exp(np.asarray(params.a, np.float64)),
            B=np.exp(np.asarray(params.b, np.float64)), alpha=params.alpha, beta=params.beta,
        )
        R_D, R_N = (np.broadcast_to(r, np.shape(np.asarray(natural.E))) for r in _MUENNIGHOFF_R)
        return laws.data_constrained_law(U), DataConstrainedParams(*natural, R_D_star=R_D, R_N_star=R_N), U
    raise ValueError(
        f"max_unique_tokens needs the Chinchilla or data-constrained law (repetition is modelled by "
        f"Muennighoff et al.'s law); law {law.name!r} with {type(params).__name__} has none: bound D with D_bounds (--d-range) instead"
    )


def _check_nonnegative(name: str, value: ArrayLike) -> np.ndarray:
    x = _validate.as_float_array(name, value)
    _validate.check_finite(name, x)
    bad = x < 0
    if bad.any():
        i = _validate.first_bad(bad)
        raise ValueError(f"{name} must be >= 0; found {float(x[i])!r}{' at index ' + str(i[0]) if i else ''}")
    return x


def _chunking(n: int, P: int | None, chunk_size: int | None, default: int) -> int:
    """Budgets per kernel call: a power of two up to the chunk (bounded compiles, little padding)."""
    size = default if chunk_size is None else _validate.check_int("chunk_size", chunk_size, minimum=1)
    size = max(1, size // (P or 1))
    if n >= size:
        return size
    return min(size, 1 << max(0, (n - 1).bit_length()))


class _Plan(NamedTuple):
    """How budgets are cut into calls and calls over devices."""

    mesh: Any  # None on one device
    chunk: int  # budgets per call
    split_params: bool  # the parameter sets are split over the mesh (else the budgets are)
    P_pad: int | None  # parameter sets per call (P padded to a multiple of the device count)


def _plan(K: int, P: int | None, chunk_size: int | None, default: int, bytes_per_lane: int) -> _Plan:
    """Chunks of budgets, `default` lanes a device by default on the CPU (as many as a sixteenth
    of an accelerator's memory holds there); with several devices, each call's lanes are split
    over them along the budgets (the chunk a multiple of the device count), or along the
    parameter sets when that pads less (P padded with copies of the last set)."""
    mesh = _runtime.batch_mesh()
    n_dev = 1 if mesh is None else mesh.size
    per_device = _runtime.lanes_per_device(bytes_per_lane, cpu=default, cap=1 << 20)
    chunk = _chunking(K, P, chunk_size, per_device * n_dev)
    if mesh is None:
        return _Plan(None, chunk, False, P)
    if P is not None and _runtime.round_up(P, n_dev) * chunk <= P * _runtime.round_up(chunk, n_dev):
        return _Plan(mesh, chunk, True, _runtime.round_up(P, n_dev))
    return _Plan(mesh, _runtime.round_up(chunk, n_dev), False, P)


def _run_chunks(
    lanes: Callable[..., tuple[jax.Array, ...]], kernel: Callable[..., tuple[jax.Array, ...]], law: Law, params: Any,
    columns: Sequence[np.ndarray], consts: Sequence[float], options: dict[str, Any], plan: _Plan, P: int | None,
    outs: Sequence[np.ndarray], progress: Progress | None,
) -> None:
    """Runs `lanes` over the budgets (`columns`, one value per budget) chunk by chunk, into `outs`.

    One device: the jitted `kernel`. Several (on one host or many): `_sharded_kernel`, inputs
    placed on the mesh, outputs gathered with `_runtime.to_host`. The next chunk is launched
    before the previous one is copied back.
    """
    K = columns[0].shape[0]
    chunk, mesh, batched = plan.chunk, plan.mesh, P is not None
    if mesh is None:
        params_dev = jax.device_put(params)
        consts_dev = tuple(jnp.asarray(v) for v in consts)

        def call(blocks: list[np.ndarray]) -> tuple[jax.Array, ...]:
            return kernel(law, params_dev, *blocks, *consts_dev, batched=batched, **options)
    else:
        if plan.split_params:
            params_dev = _runtime.shard_leading(jax.tree_util.tree_map(lambda v: _runtime.pad_rows(v, plan.P_pad), params), mesh)
        else:
            params_dev = _runtime.replicate(params, mesh)
        consts_dev = tuple(_runtime.replicate(np.asarray(v, np.float64), mesh) for v in consts)
        place = _runtime.replicate if plan.split_params else _runtime.shard_leading
        static = tuple(sorted(options.items()))

        def call(blocks: list[np.ndarray]) -> tuple[jax.Array, ...]:
            placed = tuple(place(b, mesh) for b in blocks)
            return _sharded_kernel(lanes, law, mesh, plan.split_params, batched, static, params_dev, placed, consts_dev)

    def launches() -> Any:
        for s in range(0, K, chunk):
            e = min(s + chunk, K)
            yield (s, e), call([_runtime.pad_rows(v[s:e], chunk) for v in columns])

    def collect(span: tuple[int, int], res: tuple[jax.Array, ...]) -> None:
        s, e = span
        for o, r in zip(outs, res):
            host = _runtime.to_host(r)  # (P_pad, chunk) or (chunk,): padding dropped below
            o[..., s:e] = host[:P, : e - s] if batched else host[: e - s]
        if progress is not None:
            progress(e, K)

    _runtime.pipelined(launches(), collect)


# --------------------------------------------------------------------------- kernels


def _d1(f: Callable[[jax.Array], jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`f(x)` and its elementwise derivative (forward mode: valid for elementwise laws)."""
    return jax.jvp(f, (x,), (jnp.ones_like(x),))


def _d2(f: Callable[[jax.Array], jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`f(x)`, `f'(x)` and `f''(x)`, elementwise, by forward over forward mode."""
    (v, g), (_, h) = jax.jvp(lambda z: _d1(f, z), (x,), (jnp.ones_like(x),))
    return v, g, h


def _newton(
    fd: Callable[[jax.Array], tuple[jax.Array, jax.Array]], a: jax.Array, b: jax.Array, x: jax.Array,
    done: jax.Array, tol: jax.Array, max_steps: int,
) -> tuple[jax.Array, jax.Array]:
    """Root of an increasing `f` in `[a, b]` (`f(a) < 0 < f(b)`): Newton, bisection as safeguard.

    Numerical Recipes' `rtsafe`, per lane: a Newton step is taken when it stays inside the
    bracket and halves the step before last, otherwise the bracket is bisected. Lanes with
    `done` set keep `x`. Returns the root and a per-lane converged flag.
    """
    f, fp = fd(x)

    def cond(s: tuple[jax.Array, ...]) -> jax.Array:
        return (s[-1] < max_steps) & ~jnp.all(s[5])

    def body(s: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        x, f, fp, a, b, done, dx, dx_old, it = s
        a = jnp.where(f < 0, x, a)
        b = jnp.where(f < 0, b, x)
        newton = x - f / fp
        # A Newton step inside the bracket, taken when it at least halves the step before
        # last, or when it is below tol (then x has converged: rounding may put it on an end).
        inside = (fp > 0) & (newton >= a) & (newton <= b)
        small = inside & (jnp.abs(newton - x) <= tol)
        use = small | (inside & (newton > a) & (newton < b) & (jnp.abs(2 * f) <= jnp.abs(dx_old * fp)))
        x_new = jnp.where(use, newton, 0.5 * (a + b))
        x_new = jnp.where(f == 0, x, x_new)
        step = x_new - x
        now = small | (f == 0) | (jnp.abs(step) <= tol) | (b - a <= tol)
        x_new = jnp.where(done, x, x_new)
        f_new, fp_new = fd(x_new)
        keep = done
        return (
            x_new, jnp.where(keep, f, f_new), jnp.where(keep, fp, fp_new), a, b, done | now,
            jnp.where(keep, dx, step), jnp.where(keep, dx_old, dx), it + 1,
        )

    width = b - a
    state = (x, f, fp, a, b, done, width, width, jnp.int32(0))
    x, *_, done, _, _, _ = jax.lax.while_loop(cond, body, state)
    return x, done


def _illinois(
    fn: Callable[[jax.Array], jax.Array], a: jax.Array, b: jax.Array, fa: jax.Array, fb: jax.Array,
    done: jax.Array, tol: jax.Array, max_steps: int,
) -> tuple[jax.Array, jax.Array]:
    """Root of `f` in `[a, b]` with `f(a) < 0 < f(b)`: regula falsi, Illinois variant, per lane."""

    def cond(s: tuple[jax.Array, ...]) -> jax.Array:
        return (s[-1] < max_steps) & ~jnp.all(s[5])

    def body(s: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        a, b, fa, fb, side, done, it = s
        x = (a * fb - b * fa) / (fb - fa)
        x = jnp.where(jnp.isfinite(x) & (x > a) & (x < b), x, 0.5 * (a + b))
        f = fn(x)
        left = f < 0
        a2 = jnp.where(left, x, a)
        b2 = jnp.where(left, b, x)
        fa2 = jnp.where(left, f, jnp.where(side == 1, 0.5 * fa, fa))
        fb2 = jnp.where(left, jnp.where(side == -1, 0.5 * fb, fb), f)
        side2 = jnp.where(left, -1, 1)
        zero = f == 0
        a2 = jnp.where(zero, x, a2)
        b2 = jnp.where(zero, x, b2)
        now = (b2 - a2 <= tol) | zero
        keep = done
        return (
            jnp.where(keep, a, a2), jnp.where(keep, b, b2), jnp.where(keep, fa, fa2),
            jnp.where(keep, fb, fb2), jnp.where(keep, side, side2), done | now, it + 1,
        )

    state = (a, b, fa, fb, jnp.zeros(a.shape, jnp.int32), done | (b - a <= tol), jnp.int32(0))
    a, b, *_, done, _ = jax.lax.while_loop(cond, body, state)
    return 0.5 * (a + b), done


def _line_log_D(x: jax.Array, log_C: jax.Array, inf_flops: jax.Array, log_kt: jax.Array, inference: bool) -> jax.Array:
    """`log D` on the budget line: `k_t N D (+ k_i N T) = C`, for `x = log N`."""
    if inference:  # D = (C/N - k_i T) / k_t
        return (log_C - x) + jnp.log1p(-inf_flops * jnp.exp(x - log_C)) - log_kt
    return log_C - log_kt - x


def _search_lanes(
    law: Law, params: Any, log_C: jax.Array, lo: jax.Array, hi: jax.Array, inf_flops: jax.Array,
    log_kt: jax.Array, tol: jax.Array, *, batched: bool, scan_points: int, max_steps: int, inference: bool,
) -> tuple[jax.Array, ...]:
    """Minimise the loss over `x = log N` in `[lo, hi]` for every budget of the chunk."""

    def one(p: Any) -> tuple[jax.Array, ...]:
        def loss(x: jax.Array, lc: jax.Array, t: jax.Array) -> jax.Array:
            return law.loss_from_logs(p, x, _line_log_D(x, lc, t, log_kt, inference))

        # Coarse scan: evenly spaced x over each budget's interval; NaN counts as +inf.
        frac = jnp.linspace(0.0, 1.0, scan_points, dtype=lo.dtype)
        X = lo[:, None] + (hi - lo)[:, None] * frac[None, :]
        L = loss(X, log_C[:, None], inf_flops[:, None])
        L = jnp.where(jnp.isnan(L), jnp.inf, L)
        i = jnp.argmin(L, axis=1)
        a = jnp.take_along_axis(X, jnp.maximum(i - 1, 0)[:, None], axis=1)[:, 0]
        b = jnp.take_along_axis(X, jnp.minimum(i + 1, scan_points - 1)[:, None], axis=1)[:, 0]
        x0 = jnp.take_along_axis(X, i[:, None], axis=1)[:, 0]

        # The minimum lies in [a, b]: the root of dL/dx there, unless dL/dx has one sign.
        ends = jnp.stack([a, b], axis=1)
        _, g_ends = _d1(lambda z: loss(z, log_C[:, None], inf_flops[:, None]), ends)
        at_a, at_b = g_ends[:, 0] >= 0, g_ends[:, 1] <= 0
        x0 = jnp.where(at_a, a, jnp.where(at_b, b, x0))
        fd = lambda z: _d2(lambda w: loss(w, log_C, inf_flops), z)[1:]  # noqa: E731
        x, converged = _newton(fd, a, b, x0, at_a | at_b, tol, max_steps)
        y = _line_log_D(x, log_C, inf_flops, log_kt, inference)
        best = law.loss_from_logs(p, x, y)
        # Guard: the refined point must beat the best scanned one (it does unless the law's
        # derivatives are wrong or it is not unimodal near the bracket); else keep the scan's.
        L_min = jnp.min(L, axis=1)
        worse = ~(best <= L_min + 1e-12 * jnp.abs(L_min))
        x = jnp.where(worse, jnp.take_along_axis(X, i[:, None], axis=1)[:, 0], x)
        y = _line_log_D(x, log_C, inf_flops, log_kt, inference)
        best = jnp.where(worse, L_min, best)
        edge_tol = jnp.maximum(10 * tol, 1e-12)
        at_edge = (x - lo <= edge_tol) | (hi - x <= edge_tol)
        return jnp.exp(x), jnp.exp(y), best, at_edge, converged & ~worse

    return jax.vmap(one)(params) if batched else one(params)


_search_kernel = jax.jit(_search_lanes, static_argnames=("law", "batched", "scan_points", "max_steps", "inference"))


def _chinchilla_logs(p: Any) -> tuple[jax.Array, ...]:
    if isinstance(p, ChinchillaLogParams):
        return jnp.exp(p.e), p.a, p.b, p.alpha, p.beta
    return p.E, jnp.log(p.A), jnp.log(p.B), p.alpha, p.beta


def _solve_log_D(law: Law, p: Any, x: jax.Array, T: jax.Array, y_lo: jax.Array, y_hi: jax.Array, tol: jax.Array, max_steps: int) -> jax.Array:
    """`log D` with `L(N, D) = T` for `x = log N`, clipped to `[y_lo, y_hi]`.

    `y_lo` where D_lo already reaches T, `y_hi` where even D_hi does not (callers keep x
    where it does). Closed form for the Chinchilla law, bracketed Newton otherwise.
    """
    if law is laws.CHINCHILLA:
        E, log_A, log_B, alpha, beta = _chinchilla_logs(p)
        excess = T - E - jnp.exp(log_A - alpha * x)
        y = (log_B - jnp.log(jnp.where(excess > 0, excess, 1.0))) / beta
        return jnp.clip(jnp.where(excess > 0, y, y_hi), y_lo, y_hi)
    f = lambda y: T - law.loss_from_logs(p, x, y)  # noqa: E731 - increasing in y
    y_lo, y_hi = jnp.broadcast_to(y_lo, x.shape), jnp.broadcast_to(y_hi, x.shape)
    f_lo, f_hi = f(y_lo), f(y_hi)
    low, high = f_lo >= 0, f_hi <= 0
    y, _ = _newton(lambda y: _d1(f, y), y_lo, y_hi, 0.5 * (y_lo + y_hi), low | high, tol, max_steps)
    return jnp.where(low, y_lo, jnp.where(high, y_hi, y))


def _target_lanes(
    law: Law, params: Any, T: jax.Array, inf_flops: jax.Array, x_lo: jax.Array, x_hi: jax.Array,
    y_lo: jax.Array, y_hi: jax.Array, log_kt: jax.Array, tol: jax.Array, *, batched: bool, scan_points: int, max_steps: int,
) -> tuple[jax.Array, ...]:
    """Minimise `log(k_t N D + k_i N T_inf)` over `x = log N` subject to `L(N, D) = T`."""
    log_inf = jnp.log(inf_flops)  # -inf without inference

    def one(p: Any) -> tuple[jax.Array, ...]:
        L = lambda x, y: law.loss_from_logs(p, x, y)  # noqa: E731
        shape = T.shape
        xl, xh = jnp.broadcast_to(x_lo, shape), jnp.broadcast_to(x_hi, shape)
        yh = jnp.broadcast_to(y_hi, shape)
        lowest = L(xh, yh)
        reachable = lowest <= T
        # The smallest feasible x: L(x, D_hi) = T (L decreases with N).
        g = lambda x: T - L(x, yh)  # noqa: E731
        g_lo = g(xl)
        x_f, ok_f = _newton(lambda x: _d1(g, x), xl, xh, 0.5 * (xl + xh), (g_lo >= 0) | ~reachable, tol, max_steps)
        x_f = jnp.where(g_lo >= 0, xl, x_f)

        def cost_y(x: jax.Array, t: jax.Array, li: jax.Array) -> tuple[jax.Array, jax.Array]:
            y = _solve_log_D(law, p, x, t, y_lo, y_hi, tol, max_steps)
            return x + jnp.logaddexp(log_kt + y, li), y

        def slope(x: jax.Array) -> jax.Array:
            cost, y = cost_y(x, T, log_inf)
            _, L_x = jax.jvp(lambda z: L(z, y), (x,), (jnp.ones_like(x),))
            _, L_y = jax.jvp(lambda w: L(x, w), (y,), (jnp.ones_like(y),))
            # Along the constraint y' = -L_x / L_y; where D_lo already reaches the target, y' = 0.
            dy = jnp.where(y > y_lo, -L_x / L_y, 0.0)
            w = jnp.exp(log_kt + y - jnp.logaddexp(log_kt + y, log_inf))
            return 1.0 + w * dy

        frac = jnp.linspace(0.0, 1.0, scan_points, dtype=T.dtype)
        X = x_f[:, None] + (xh - x_f)[:, None] * frac[None, :]
        costs, _ = cost_y(X, T[:, None], log_inf[:, None])
        costs = jnp.where(jnp.isnan(costs), jnp.inf, costs)
        i = jnp.argmin(costs, axis=1)
        a = jnp.take_along_axis(X, jnp.maximum(i - 1, 0)[:, None], axis=1)[:, 0]
        b = jnp.take_along_axis(X, jnp.minimum(i + 1, scan_points - 1)[:, None], axis=1)[:, 0]
        fa, fb = slope(a), slope(b)
        at_a, at_b = fa >= 0, fb <= 0
        x, ok = _illinois(slope, a, b, fa, fb, at_a | at_b | ~reachable, tol, 4 * max_steps)
        x = jnp.where(at_a, a, jnp.where(at_b, b, x))
        cost, y = cost_y(x, T, log_inf)
        # Guard as in the budget search: keep the best scanned point if refining lost to it.
        c_min = jnp.min(costs, axis=1)
        worse = ~(cost <= c_min + 1e-12 * jnp.abs(c_min))
        x = jnp.where(worse, jnp.take_along_axis(X, i[:, None], axis=1)[:, 0], x)
        _, y = cost_y(x, T, log_inf)
        ok = ok & ~worse
        loss = L(x, y)
        edge_tol = jnp.maximum(10 * tol, 1e-12)
        at_edge = (x - xl <= edge_tol) | (xh - x <= edge_tol) | (y - y_lo <= edge_tol) | (y_hi - y <= edge_tol)
        return jnp.exp(x), jnp.exp(y), loss, at_edge, ok & ok_f, reachable, lowest

    return jax.vmap(one)(params) if batched else one(params)


_target_kernel = jax.jit(_target_lanes, static_argnames=("law", "batched", "scan_points", "max_steps"))


@partial(jax.jit, static_argnames=("lanes", "law", "mesh", "split_params", "batched", "options"))
def _sharded_kernel(
    lanes: Callable[..., tuple[jax.Array, ...]], law: Law, mesh: Any, split_params: bool, batched: bool,
    options: tuple[tuple[str, Any], ...], params: Any, blocks: tuple[jax.Array, ...], consts: tuple[jax.Array, ...],
) -> tuple[jax.Array, ...]:
    """`lanes` once per device of `mesh`, on its share of the budgets (or of the parameter sets
    when `split_params`): each device runs its own loops to its own stop, with no collectives."""
    rows, whole = _runtime.batch_spec(), PartitionSpec()
    if split_params:
        in_specs, out_specs = (rows, whole, whole), rows
    else:
        in_specs, out_specs = (whole, rows, whole), (PartitionSpec(None, _runtime.BATCH_AXIS) if batched else rows)

    def per_device(params: Any, blocks: tuple[jax.Array, ...], consts: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        return lanes(law, params, *blocks, *consts, batched=batched, **dict(options))

    return _runtime.shard_map(per_device, mesh, in_specs=in_specs, out_specs=out_specs)(params, blocks, consts)


# --------------------------------------------------------------------------- search drivers


def _search_options(scan_points: int, rtol: float, max_steps: int) -> tuple[int, float, int]:
    S = _validate.check_int("scan_points", scan_points, minimum=3)
    tol = _validate.positive_scalar("rtol", rtol)
    steps = _validate.check_int("max_steps", max_steps, minimum=1)
    return S, tol, steps


def _prepare(law: Law, params: Any) -> tuple[Any, int | None]:
    params, P = prepare_params(law, params, np.dtype(np.float64))
    return params, P


def optimal_allocation(
    law: Law | LossFn | str,
    params: Any,
    C: ArrayLike,
    *,
    N_bounds: tuple[float, float] | None = None,
    D_bounds: tuple[float, float] | None = None,
    max_unique_tokens: float | None = None,
    inference_tokens: ArrayLike | None = None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN,
    scan_points: int = 32,
    rtol: float = 1e-10,
    max_steps: int = 60,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> Allocation:
    """For each budget of C FLOPs, the N (and D) that minimise `law`, by batched search.

    Args:
        law: a `Law`, a law name, or any pure elementwise function `f(params, N, D)`.
        params: the law's parameters; a leading axis of length P on every leaf is a batch.
        C: budgets in FLOPs, a number or a 1-D array (a million and more is fine: budgets
            run in fixed-size chunks).
        N_bounds, D_bounds: `(lo, hi)` allowed parameters and tokens (default `(1, 1e30)`).
            An optimum on a bound is flagged in `at_edge`.
        max_unique_tokens: cap on unique training tokens; tokens beyond it repeat, valued by
            the data-constrained law (see the module docstring).
        inference_tokens: T tokens served at inference: the budget then pays for training
            and inference, `6 N D + 2 N T = C` (a number, or one per budget).
        flops_per_param_token, inference_flops_per_param_token: the 6 and the 2 above.
        scan_points: points of the coarse scan over log N (its neighbours bracket the optimum).
        rtol: relative accuracy of N.
        max_steps: Newton iterations at most; lanes that need more are flagged in `converged`.
        chunk_size: budgets per compiled call (default 8192 per CPU device), divided by P for
            batches.
        progress: called as `progress(budgets_done, budgets_total)` after each chunk.

    Raises:
        ValueError: non-positive budgets, reversed bounds, a budget that no allowed N and D can
            spend, or a law that returns non-finite losses at the optimum.
    """
    law, params, _ = _resolve(law, params, max_unique_tokens)
    C = _budgets("C", C)
    S, tol, steps = _search_options(scan_points, rtol, max_steps)
    N_lo, N_hi = _bounds("N_bounds", N_bounds)
    D_lo, D_hi = _bounds("D_bounds", D_bounds)
    kt = _validate.positive_scalar("flops_per_param_token", flops_per_param_token)
    ki = _validate.positive_scalar("inference_flops_per_param_token", inference_flops_per_param_token)
    inference = inference_tokens is not None
    T_inf = np.zeros(()) if not inference else _check_nonnegative("inference_tokens", inference_tokens)
    if inference:
        try:
            shape = np.broadcast_shapes(T_inf.shape, C.shape)
        except ValueError:
            raise ValueError(f"inference_tokens must be a number or match C; got shapes {T_inf.shape} and {C.shape}") from None
        if shape != C.shape:
            raise ValueError(f"inference_tokens must be a number or match C; got shapes {T_inf.shape} and {C.shape}")
    params, P = _prepare(law, params)
    flat_C = C.reshape(-1)
    inf_flops = np.broadcast_to(ki * T_inf, C.shape).reshape(-1)
    lc = np.log(flat_C)
    lo = np.maximum(math.log(N_lo), lc - np.log(kt * D_hi + inf_flops))
    hi = np.minimum(math.log(N_hi), lc - np.log(kt * D_lo + inf_flops))
    _check_spendable(flat_C, lo, hi, (N_lo, N_hi), (D_lo, D_hi), kt, ki, inf_flops, inference)
    K = flat_C.shape[0]
    lead = () if P is None else (P,)
    out = [np.empty(lead + (K,)) for _ in range(3)] + [np.empty(lead + (K,), bool) for _ in range(2)]
    plan = _plan(K, P, chunk_size, _CHUNK, _BYTES_PER_SCAN_POINT * S)
    with _runtime.x64_scope():
        _run_chunks(
            _search_lanes, _search_kernel, law, params, (lc, lo, hi, inf_flops), (math.log(kt), tol),
            dict(scan_points=S, max_steps=steps, inference=inference), plan, P, out, progress,
        )
    N, D, loss, at_edge, converged = (o.reshape(lead + C.shape) for o in out)
    _check_finite_result(loss, C, "C")
    return Allocation(
        C=C, N=N, D=D, loss=loss, at_edge=at_edge, converged=converged, law=law.name, method="search",
        inference_tokens=np.broadcast_to(T_inf, C.shape).copy() if inference else None, batch_size=P,
    )


def _check_spendable(
    C: np.ndarray, lo: np.ndarray, hi: np.ndarray, N_b: tuple[float, float], D_b: tuple[float, float],
    kt: float, ki: float, inf_flops: np.ndarray, inference: bool,
) -> None:
    """Raises for the first budget that no allowed (N, D) can spend exactly."""
    bad = ~(lo <= hi)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    what = "6 N D" if kt == 6 else f"{kt:g} N D"
    if inference:
        what += f" + {ki:g} N T"
    smallest = N_b[0] * (kt * D_b[0] + inf_flops[i])
    largest = N_b[1] * (kt * D_b[1] + inf_flops[i])
    if C[i] < smallest:
        raise ValueError(
            f"budget C[{i}]={C[i]:.4g} FLOPs is below what any allowed model needs: {what} >= {smallest:.4g} "
            f"with N >= {N_b[0]:.4g} and D >= {D_b[0]:.4g}; raise the budget or lower the bounds"
        )
    raise ValueError(
        f"budget C[{i}]={C[i]:.4g} FLOPs cannot be spent within the bounds: it needs N >= {C[i] / (kt * D_b[1] + inf_flops[i]):.4g} "
        f"with at most D = {D_b[1]:.4g} tokens, above the largest allowed N = {N_b[1]:.4g} ({what} <= {largest:.4g}); "
        "raise the cap on tokens or on N, or lower the budget"
    )


def _check_finite_result(loss: np.ndarray, key: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(loss)
    if bad.any():
        index = _validate.first_bad(bad)
        where = f"parameter set {index[0]}, " if len(index) > key.ndim else ""
        k = index[-1] if key.ndim else ()
        label = f"{name}[{index[-1]}]" if key.ndim else name
        raise ValueError(
            f"the law returned {float(loss[index])!r} at the optimum for {where}{label}={float(key[k]):.6g}; "
            "check the parameters and the bounds on N and D"
        )


def budget_for_loss(
    law: Law | LossFn | str,
    params: Any,
    target_loss: ArrayLike,
    *,
    N_bounds: tuple[float, float] | None = None,
    D_bounds: tuple[float, float] | None = None,
    max_unique_tokens: float | None = None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    scan_points: int = 32,
    rtol: float = 1e-10,
    max_steps: int = 60,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> Allocation:
    """For each target loss, the smallest budget `C = 6 N D` (and its N, D) that reaches it.

    Minimises `N D` subject to `L(N, D) = target` over log N (any law; a number or a 1-D
    array of targets). Options as in `optimal_allocation`.

    Raises:
        ValueError: a target at or below the irreducible loss E, or below the lowest loss the
            bounds (and the cap on unique tokens) allow: unreachable.
    """
    return inference_optimal(
        law, params, target_loss, inference_tokens=None, N_bounds=N_bounds, D_bounds=D_bounds,
        max_unique_tokens=max_unique_tokens, flops_per_param_token=flops_per_param_token, scan_points=scan_points,
        rtol=rtol, max_steps=max_steps, chunk_size=chunk_size, progress=progress,
    )


def inference_optimal(
    law: Law | LossFn | str,
    params: Any,
    target_loss: ArrayLike,
    *,
    inference_tokens: ArrayLike | None,
    N_bounds: tuple[float, float] | None = None,
    D_bounds: tuple[float, float] | None = None,
    max_unique_tokens: float | None = None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN,
    scan_points: int = 32,
    rtol: float = 1e-10,
    max_steps: int = 60,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> Allocation:
    """Sardana et al. 2024: minimise `6 N D_train + 2 N D_inf` subject to `L(N, D_train) = target`.

    `inference_tokens` (D_inf) is a number or one per target. The result's `C` is the total,
    training plus inference; `D` the training tokens. Options as in `optimal_allocation`.
    `inference_tokens=None` serves no inference: `budget_for_loss`.
    """
    law, params, U = _resolve(law, params, max_unique_tokens)
    T = _targets(target_loss)
    S, tol, steps = _search_options(scan_points, rtol, max_steps)
    N_lo, N_hi = _bounds("N_bounds", N_bounds)
    D_lo, D_hi = _bounds("D_bounds", D_bounds)
    kt = _validate.positive_scalar("flops_per_param_token", flops_per_param_token)
    ki = _validate.positive_scalar("inference_flops_per_param_token", inference_flops_per_param_token)
    inference = inference_tokens is not None
    T_inf = np.zeros(()) if not inference else _check_nonnegative("inference_tokens", inference_tokens)
    if inference:
        if T_inf.ndim > 1:
            raise ValueError(f"inference_tokens must be a number or a 1-D array, got shape {T_inf.shape}")
        try:
            T, T_inf = (np.array(v, np.float64) for v in np.broadcast_arrays(T, T_inf))
        except ValueError:
            raise ValueError(f"inference_tokens must be a number or match target_loss; got shapes {T_inf.shape} and {T.shape}") from None
    params, P = _prepare(law, params)
    E = getattr(params, "E", None)
    if E is None and isinstance(params, ChinchillaLogParams):
        E = np.exp(params.e)
    if E is not None:
        _check_above_E(T, np.asarray(E, np.float64))
    flat_T = T.reshape(-1)
    inf_flops = np.broadcast_to(ki * T_inf, T.shape).reshape(-1)
    K = flat_T.shape[0]
    lead = () if P is None else (P,)
    out = [np.empty(lead + (K,)) for _ in range(3)] + [np.empty(lead + (K,), bool) for _ in range(3)] + [np.empty(lead + (K,))]
    plan = _plan(K, P, chunk_size, _TARGET_CHUNK, 2 * _BYTES_PER_SCAN_POINT * S)
    with _runtime.x64_scope():
        consts = (math.log(N_lo), math.log(N_hi), math.log(D_lo), math.log(D_hi), math.log(kt), tol)
        _run_chunks(
            _target_lanes, _target_kernel, law, params, (flat_T, inf_flops), consts,
            dict(scan_points=S, max_steps=steps), plan, P, out, progress,
        )
    N, D, loss, at_edge, converged, reachable, lowest = (o.reshape(lead + T.shape) for o in out)
    if not reachable.all():
        index = _validate.first_bad(~reachable)
        where = f" for parameter set {index[0]}" if P is not None else ""
        at = f" (index {index[-1]})" if T.ndim else ""
        cap = "" if U is None else f", {U:.4g} unique tokens"
        raise ValueError(
            f"target loss {float(np.broadcast_to(T, reachable.shape)[index]):.6g}{at} is unreachable{where}: the lowest loss "
            f"within the constraints (N <= {N_hi:.4g}, D <= {D_hi:.4g}{cap}) is {float(lowest[index]):.6g}; choose a higher target or relax them"
        )
    _check_finite_result(loss, T, "target_loss")
    C = N * (kt * D + inf_flops.reshape(T.shape))
    return Allocation(
        C=C, N=N, D=D, loss=loss, at_edge=at_edge, converged=converged, law=law.name, method="search",
        target_loss=T, inference_tokens=T_inf.copy() if inference else None, batch_size=P,
    )


def solve(
    law: Law | LossFn | str,
    params: Any,
    *,
    C: ArrayLike | None = None,
    target_loss: ArrayLike | None = None,
    N_bounds: tuple[float, float] | None = None,
    D_bounds: tuple[float, float] | None = None,
    max_unique_tokens: float | None = None,
    inference_tokens: ArrayLike | None = None,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    **search: Any,
) -> Allocation:
    """The allocation for budgets `C`, or the smallest budgets that reach `target_loss`.

    The Chinchilla law without constraints takes the closed form (`compute_optimal`,
    `compute_for_loss`); anything else the batched search (`optimal_allocation`,
    `inference_optimal`), with `search` options (`scan_points`, `rtol`, `max_steps`,
    `chunk_size`, `progress`, `inference_flops_per_param_token`) as there.
    """
    if (C is None) == (target_loss is None):
        raise TypeError("solve needs budgets C or target_loss, not both")
    law = laws.as_law(law)
    constraints = dict(N_bounds=N_bounds, D_bounds=D_bounds, max_unique_tokens=max_unique_tokens, inference_tokens=inference_tokens)
    closed = law is laws.CHINCHILLA and all(v is None for v in constraints.values())
    if C is not None:
        if closed:
            return compute_optimal(params, C, flops_per_param_token=flops_per_param_token)
        return optimal_allocation(law, params, C, flops_per_param_token=flops_per_param_token, **constraints, **search)
    if closed:
        return compute_for_loss(params, target_loss, flops_per_param_token=flops_per_param_token)
    return inference_optimal(law, params, target_loss, flops_per_param_token=flops_per_param_token, **constraints, **search)


def allocation_bands(
    law: Law | LossFn | str,
    samples: Any,
    C: ArrayLike,
    *,
    percentiles: Sequence[float] = _PERCENTILES,
    **options: Any,
) -> AllocationBands:
    """Percentile bands of N_opt, D_opt, tokens per parameter and L_opt against C.

    `samples` is a batch of parameter sets (every leaf with a leading axis P, bootstrap
    samples of a fit, say). The Chinchilla law without constraints takes the closed form;
    anything else the search, with `options` as in `optimal_allocation`.
    """
    q = _check_percentiles(percentiles)
    allocation = solve(law, samples, C=C, **options)
    if allocation.batch_size is None:
        raise ValueError("allocation_bands needs a batch of parameter sets (every leaf with a leading axis P); got one set")
    return allocation.bands(q)
