"""Scaling-law forms as pure JAX functions of a parameter pytree.

Every law maps `(params, N, D)` to a loss, broadcasting over `N` (parameters) and `D`
(training tokens). Parameters are NamedTuples whose fields carry the papers' symbols; a batch
of parameter sets (bootstrap samples, say) is the same NamedTuple with a leading axis on every
field, so `jax.vmap` needs no adapters.

The built-in laws compute from `log N` and `log D` and never call `x ** p`: on XLA:CPU a power
is several times slower than `exp(p * log x)`, and working in logs keeps float32 finite and
accurate for N, D anywhere in [1, 1e30].

A `Law` bundles a loss function with the extras the rest of the library can use when they
exist (a log-space form, a parameter check). Any pure function `f(params, N, D)` is a law:
`as_law(f)` wraps it, and every public function that takes a law accepts the bare function.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jscaling import _validate

__all__ = [
    "ChinchillaParams",
    "ChinchillaLogParams",
    "PowerLawParams",
    "KaplanJointParams",
    "DataConstrainedParams",
    "Law",
    "as_law",
    "get_law",
    "law_names",
    "chinchilla",
    "chinchilla_log_loss",
    "power_law",
    "kaplan_joint",
    "data_constrained",
    "effective_data",
    "effective_params",
    "logsumexp3",
    "CHINCHILLA",
    "KAPLAN_N",
    "KAPLAN_D",
    "KAPLAN_JOINT",
    "data_constrained_law",
]

Array = jax.Array
ArrayLike = Any
Params = Any
LossFn = Callable[[Params, ArrayLike, ArrayLike], Array]


# --------------------------------------------------------------------------- parameters


class ChinchillaParams(NamedTuple):
    """Natural parameters of `L(N, D) = E + A / N**alpha + B / D**beta` (Hoffmann et al. 2022).

    `E` is the irreducible loss (nats per token); `A / N**alpha` the excess loss of a model with
    N parameters trained to convergence; `B / D**beta` the excess loss of training on D tokens.
    """

    E: ArrayLike
    A: ArrayLike
    B: ArrayLike
    alpha: ArrayLike
    beta: ArrayLike

    def to_log(self) -> ChinchillaLogParams:
        """The same law with `a, b, e = log A, log B, log E`."""
        return ChinchillaLogParams(
            a=jnp.log(self.A), b=jnp.log(self.B), e=jnp.log(self.E),
            alpha=self.alpha, beta=self.beta,
        )


class ChinchillaLogParams(NamedTuple):
    """Chinchilla parameters in the log form that Approach 3 fits.

    `log L = logsumexp(a - alpha log N, b - beta log D, e)` with `a, b, e = log A, log B, log E`.
    """

    a: ArrayLike
    b: ArrayLike
    e: ArrayLike
    alpha: ArrayLike
    beta: ArrayLike

    def to_natural(self) -> ChinchillaParams:
        """The same law with `E, A, B = exp(e), exp(a), exp(b)`."""
        return ChinchillaParams(
            E=jnp.exp(self.e), A=jnp.exp(self.a), B=jnp.exp(self.b),
            alpha=self.alpha, beta=self.beta,
        )


class PowerLawParams(NamedTuple):
    """Single-variable power law `L(x) = (x_c / x)**alpha + E` (Kaplan et al. 2020, eq. 1.1-1.3).

    `x` is N, D or C depending on the law; Kaplan's laws have `E = 0`.
    """

    x_c: ArrayLike
    alpha: ArrayLike
    E: ArrayLike = 0.0


class KaplanJointParams(NamedTuple):
    """Kaplan et al. 2020, eq. 1.5: `L(N, D) = [(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`."""

    N_c: ArrayLike
    D_c: ArrayLike
    alpha_N: ArrayLike
    alpha_D: ArrayLike


class DataConstrainedParams(NamedTuple):
    """Muennighoff et al. 2023: the Chinchilla form on effective parameters and data.

    `R_D_star` and `R_N_star` are the repetition counts at which repeated data (and excess
    parameters) have lost `1 - 1/e` of their value.
    """

    E: ArrayLike
    A: ArrayLike
    B: ArrayLike
    alpha: ArrayLike
    beta: ArrayLike
    R_D_star: ArrayLike
    R_N_star: ArrayLike


# --------------------------------------------------------------------------- numerics


def logsumexp3(x: Array, y: Array, z: Array) -> Array:
    """`log(exp(x) + exp(y) + exp(z))`, max-shifted, elementwise.

    Hand-written because `jax.nn.logsumexp` over a stacked axis of length 3 measured 5x
    slower on XLA:CPU; the shift is a `stop_gradient` (the gradient does not depend on it).
    """
    m = jax.lax.stop_gradient(jnp.maximum(jnp.maximum(x, y), z))
    m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
    return m + jnp.log(jnp.exp(x - m) + jnp.exp(y - m) + jnp.exp(z - m))


def _logaddexp2(x: Array, y: Array) -> Array:
    # The shift is part of the value here (unlike logsumexp3's), so it keeps its gradient.
    return jnp.maximum(x, y) + jnp.log1p(jnp.exp(-jnp.abs(x - y)))


def _log(x: ArrayLike) -> Array:
    return jnp.log(jnp.asarray(x))


# --------------------------------------------------------------------------- Chinchilla


def _chinchilla_from_logs(params: ChinchillaParams | ChinchillaLogParams, log_N: Array, log_D: Array) -> Array:
    if isinstance(params, ChinchillaLogParams):
        a, b, E = params.a, params.b, jnp.exp(params.e)
    else:
        a, b, E = _log(params.A), _log(params.B), params.E
    return E + jnp.exp(a - params.alpha * log_N) + jnp.exp(b - params.beta * log_D)


def _chinchilla_log_from_logs(params: ChinchillaParams | ChinchillaLogParams, log_N: Array, log_D: Array) -> Array:
    if isinstance(params, ChinchillaLogParams):
        a, b, e = params.a, params.b, params.e
    else:
        a, b, e = _log(params.A), _log(params.B), _log(params.E)
    return logsumexp3(a - params.alpha * log_N, b - params.beta * log_D, e)


def chinchilla(params: ChinchillaParams | ChinchillaLogParams, N: ArrayLike, D: ArrayLike) -> Array:
    """Chinchilla loss `E + A / N**alpha + B / D**beta` in nats per token.

    Takes natural (`ChinchillaParams`) or log (`ChinchillaLogParams`) parameters.
    """
    return _chinchilla_from_logs(params, _log(N), _log(D))


def chinchilla_log_loss(params: ChinchillaParams | ChinchillaLogParams, N: ArrayLike, D: ArrayLike) -> Array:
    """`log L = logsumexp(a - alpha log N, b - beta log D, e)`: the form Approach 3 fits."""
    return _chinchilla_log_from_logs(params, _log(N), _log(D))


def _check_chinchilla(params: ChinchillaParams | ChinchillaLogParams) -> None:
    if isinstance(params, ChinchillaLogParams):
        for name in params._fields:
            _validate.check_finite(f"parameter {name}", np.asarray(getattr(params, name), np.float64))
        return
    for name in ("A", "B"):
        _validate.check_positive(f"parameter {name}", np.asarray(getattr(params, name), np.float64))
    E = np.asarray(params.E, np.float64)
    _validate.check_finite("parameter E", E)
    if (E < 0).any():
        raise ValueError(f"parameter E must be >= 0 (an irreducible loss), got {E.min()!r}")
    for name in ("alpha", "beta"):
        _validate.check_finite(f"parameter {name}", np.asarray(getattr(params, name), np.float64))


# --------------------------------------------------------------------------- Kaplan


def power_law(params: PowerLawParams, x: ArrayLike) -> Array:
    """`(x_c / x)**alpha + E`, for x = N, D or C (Kaplan et al. 2020)."""
    return _power_law_from_log(params, _log(x))


def _power_law_from_log(params: PowerLawParams, log_x: Array) -> Array:
    return params.E + jnp.exp(params.alpha * (_log(params.x_c) - log_x))


def kaplan_joint(params: KaplanJointParams, N: ArrayLike, D: ArrayLike) -> Array:
    """`[(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D` (Kaplan et al. 2020, eq. 1.5)."""
    return _kaplan_joint_from_logs(params, _log(N), _log(D))


def _kaplan_joint_from_logs(params: KaplanJointParams, log_N: Array, log_D: Array) -> Array:
    u = (params.alpha_N / params.alpha_D) * (_log(params.N_c) - log_N)
    v = _log(params.D_c) - log_D
    return jnp.exp(params.alpha_D * _logaddexp2(u, v))


def _check_positive_fields(*names: str, nonnegative: tuple[str, ...] = ()) -> Callable[[Params], None]:
    def check(params: Params) -> None:
        for name in params._fields:
            value = np.asarray(getattr(params, name), np.float64)
            if name in names:
                _validate.check_positive(f"parameter {name}", value)
            else:
                _validate.check_finite(f"parameter {name}", value)
                if name in nonnegative and (value < 0).any():
                    raise ValueError(f"parameter {name} must be >= 0, got {value.min()!r}")
    return check


# --------------------------------------------------------------------------- data-constrained


def effective_data(U_D: ArrayLike, D: ArrayLike, R_D_star: ArrayLike) -> Array:
    """Effective data `D' = U + U R_D* (1 - exp(-R_D / R_D*))` (Muennighoff et al. 2023, eq. 4).

    `U = min(U_D, D)` unique tokens seen and `R_D = D / U - 1` repetitions beyond the first
    epoch: below one epoch `D' = D`; with infinite `U_D` the law is Chinchilla's.
    """
    D = jnp.asarray(D)
    U = jnp.minimum(U_D, D)
    R_D = D / U - 1.0
    return U + U * R_D_star * (-jnp.expm1(-R_D / R_D_star))


def _unique_params(params: DataConstrainedParams, U_D: ArrayLike) -> Array:
    """`U_N`: the compute-optimal N (Chinchilla frontier of `params`, C = 6ND) for D = U_D."""
    # N_opt = G (C/6)^a and D_opt = (C/6)^b / G give N_opt = G (G D_opt)^(a/b), a/b = beta/alpha.
    alpha, beta = params.alpha, params.beta
    log_G = (_log(alpha) + _log(params.A) - _log(beta) - _log(params.B)) / (alpha + beta)
    return jnp.exp(log_G + (beta / alpha) * (log_G + _log(U_D)))


def effective_params(params: DataConstrainedParams, N: ArrayLike, U_D: ArrayLike) -> Array:
    """Effective parameters `N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*))` (Muennighoff eq. 5).

    `U_N = min(N, N_opt(U_D))`, the compute-optimal size for the unique data, and
    `R_N = N / U_N - 1` the excess parameters beyond it.
    """
    N = jnp.asarray(N)
    U_N = jnp.minimum(N, _unique_params(params, U_D))
    R_N = N / U_N - 1.0
    return U_N + U_N * params.R_N_star * (-jnp.expm1(-R_N / params.R_N_star))


def data_constrained(params: DataConstrainedParams, N: ArrayLike, D: ArrayLike, U_D: ArrayLike = math.inf) -> Array:
    """Loss when D training tokens repeat `U_D` unique ones (Muennighoff et al. 2023, eq. 6).

    `L = E + A / N'**alpha + B / D'**beta` on effective parameters `N'` and data `D'`.
    `U_D = inf` (no cap) gives the Chinchilla law.
    """
    D_eff = effective_data(U_D, D, params.R_D_star)
    N_eff = effective_params(params, N, U_D)
    chin = ChinchillaParams(params.E, params.A, params.B, params.alpha, params.beta)
    return _chinchilla_from_logs(chin, jnp.log(N_eff), jnp.log(D_eff))


# --------------------------------------------------------------------------- Law


@dataclasses.dataclass(frozen=True, eq=False)
class Law:
    """A loss law `L(params, N, D)` and what the library knows about it.

    Attributes:
        name: short name, used on the command line and in results.
        loss: pure function `(params, N, D) -> L`, broadcasting over N and D.
        from_logs: optional `(params, log N, log D) -> L`; used on hot paths when present,
            so that iso-FLOP searches never take a per-point logarithm.
        log_loss_from_logs: optional `(params, log N, log D) -> log L`, a numerically stable
            log form (used by fits on log residuals).
        params_type: the NamedTuple of parameters, when the law has one.
        check: optional eager parameter check that raises `ValueError` with a clear message.

    Laws compare and hash by identity, so they can be static arguments of `jax.jit`.
    """

    name: str
    loss: LossFn
    from_logs: LossFn | None = None
    log_loss_from_logs: LossFn | None = None
    params_type: type | None = None
    check: Callable[[Params], None] | None = None

    def __call__(self, params: Params, N: ArrayLike, D: ArrayLike) -> Array:
        return self.loss(params, N, D)

    def loss_from_logs(self, params: Params, log_N: Array, log_D: Array) -> Array:
        """`L` from `log N` and `log D`."""
        if self.from_logs is not None:
            return self.from_logs(params, log_N, log_D)
        return self.loss(params, jnp.exp(log_N), jnp.exp(log_D))

    def log_loss(self, params: Params, log_N: Array, log_D: Array) -> Array:
        """`log L` from `log N` and `log D`."""
        if self.log_loss_from_logs is not None:
            return self.log_loss_from_logs(params, log_N, log_D)
        return jnp.log(self.loss_from_logs(params, log_N, log_D))

    def validate(self, params: Params) -> None:
        """Raises `ValueError` for parameters the law cannot use (non-finite, bad sign)."""
        if self.params_type is not None and not isinstance(params, self.params_type):
            accepted = self.params_type if isinstance(self.params_type, tuple) else (self.params_type,)
            names = " or ".join(t.__name__ for t in accepted)
            raise TypeError(f"law {self.name!r} takes {names}, got {type(params).__name__}")
        leaves = jax.tree_util.tree_leaves(params)
        if not leaves:
            raise ValueError(f"law {self.name!r}: the parameter pytree is empty")
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            name = jax.tree_util.keystr(path) or "params"
            _validate.check_finite(f"parameter {name}", _validate.as_float_array(f"parameter {name}", leaf))
        if self.check is not None:
            self.check(params)

    def __repr__(self) -> str:
        return f"Law({self.name!r})"


def as_law(law: Law | LossFn, *, name: str | None = None) -> Law:
    """`law` itself, or a bare function `f(params, N, D)` wrapped as a `Law`."""
    if isinstance(law, Law):
        return law
    if isinstance(law, str):
        return get_law(law)
    if not callable(law):
        raise TypeError(f"a law must be a Law, a law name or a function f(params, N, D); got {type(law).__name__}")
    return _wrap_function(law, name)


_WRAPPED: dict[Any, Law] = {}


def _wrap_function(fn: LossFn, name: str | None) -> Law:
    # One Law per function, so that jit caches keyed on the law are reused across calls.
    key = (fn, name)
    try:
        return _WRAPPED[key]
    except KeyError:
        pass
    except TypeError:  # unhashable callable
        return Law(name=name or getattr(fn, "__name__", "custom"), loss=fn)
    law = Law(name=name or getattr(fn, "__name__", "custom"), loss=fn)
    _WRAPPED[key] = law
    return law


CHINCHILLA = Law(
    name="chinchilla",
    loss=chinchilla,
    from_logs=_chinchilla_from_logs,
    log_loss_from_logs=_chinchilla_log_from_logs,
    params_type=(ChinchillaParams, ChinchillaLogParams),
    check=_check_chinchilla,
)
"""Hoffmann et al. 2022, `E + A/N**alpha + B/D**beta`; natural or log parameters."""

KAPLAN_N = Law(
    name="kaplan-n",
    loss=lambda p, N, D: power_law(p, N) + jnp.zeros_like(jnp.asarray(D)),
    from_logs=lambda p, lN, lD: _power_law_from_log(p, lN) + jnp.zeros_like(lD),
    params_type=PowerLawParams,
    check=_check_positive_fields("x_c", nonnegative=("E",)),
)
"""Kaplan et al. 2020 `L(N) = (N_c/N)**alpha_N (+ E)`, as a law of (N, D) that ignores D."""

KAPLAN_D = Law(
    name="kaplan-d",
    loss=lambda p, N, D: power_law(p, D) + jnp.zeros_like(jnp.asarray(N)),
    from_logs=lambda p, lN, lD: _power_law_from_log(p, lD) + jnp.zeros_like(lN),
    params_type=PowerLawParams,
    check=_check_positive_fields("x_c", nonnegative=("E",)),
)
"""Kaplan et al. 2020 `L(D) = (D_c/D)**alpha_D (+ E)`, as a law of (N, D) that ignores N."""

KAPLAN_JOINT = Law(
    name="kaplan-joint",
    loss=kaplan_joint,
    from_logs=_kaplan_joint_from_logs,
    params_type=KaplanJointParams,
    check=_check_positive_fields("N_c", "D_c", "alpha_N", "alpha_D"),
)
"""Kaplan et al. 2020 joint law `[(N_c/N)**(alpha_N/alpha_D) + D_c/D]**alpha_D`."""

_DATA_CONSTRAINED: dict[float, Law] = {}


def data_constrained_law(unique_tokens: float | None = None) -> Law:
    """The Muennighoff et al. 2023 law with a cap of `unique_tokens` unique training tokens.

    `None` means no cap (the law is then Chinchilla's). One `Law` object per cap, so that
    compiled programs are reused.
    """
    U = math.inf if unique_tokens is None else _validate.positive_scalar("unique_tokens", unique_tokens)
    if U not in _DATA_CONSTRAINED:
        def loss(params: DataConstrainedParams, N: ArrayLike, D: ArrayLike) -> Array:
            return data_constrained(params, N, D, U)

        _DATA_CONSTRAINED[U] = Law(
            name="data-constrained" if math.isinf(U) else f"data-constrained(U_D={U:.4g})",
            loss=loss,
            params_type=DataConstrainedParams,
            check=_check_positive_fields("A", "B", "R_D_star", "R_N_star", "alpha", "beta", nonnegative=("E",)),
        )
    return _DATA_CONSTRAINED[U]


_LAWS: dict[str, Callable[[], Law]] = {
    "chinchilla": lambda: CHINCHILLA,
    "kaplan-n": lambda: KAPLAN_N,
    "kaplan-d": lambda: KAPLAN_D,
    "kaplan-joint": lambda: KAPLAN_JOINT,
    "data-constrained": data_constrained_law,
}


def law_names() -> list[str]:
    """Names accepted by `get_law` and by `--law` on the command line."""
    return list(_LAWS)


def get_law(name: str, *, unique_tokens: float | None = None) -> Law:
    """The built-in law called `name` (see `law_names()`)."""
    if name not in _LAWS:
        raise ValueError(f"unknown law {name!r}; known laws: {', '.join(_LAWS)}")
    if name == "data-constrained":
        return data_constrained_law(unique_tokens)
    if unique_tokens is not None:
        raise ValueError(f"unique_tokens applies to the data-constrained law, not {name!r}")
    return _LAWS[name]()
