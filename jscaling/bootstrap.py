"""Bootstrap of an Approach 3 fit: B resamples of the runs, every refit in one program.

`bootstrap(runs, key=key, n_resamples=1000)` draws B resamples of the runs with replacement
(as multinomial counts, which become per-run weights: a resample is the same runs, weighted),
refits each from the full-data optimum (optionally plus a few more starts per resample), and
returns a `BootstrapResult`: parameter samples (a NamedTuple of arrays with leading axis B),
standard errors, percentile intervals for the parameters and for derived quantities (the
compute-optimal exponents a and b, G, and tokens per parameter at chosen budgets).

Where jit goes: the refits are lanes of the same compiled solver as `jscaling.fit.fit` (one
lane per resample and start, each lane reading its resample's weights), so B refits are one
program, not a Python loop. Seeded with a `jax.random` key: the same key gives the same numbers.

Several devices (one host or many): the resample axis (B, padded to a multiple of the device
count D with copies of the last resample, dropped afterwards) is split into D contiguous
blocks, each refitted by its own device's queue (see `jscaling.fit`); the samples are gathered
to every process. The resample counts are drawn once, on the host's default device, before
anything is split, so the same key gives the same resamples, and the same numbers to the last
bit, on any number of devices or hosts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jscaling import _runtime, _validate
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.data import Runs
from jscaling.fit import (
    FTOL,
    GTOL,
    FitResult,
    _default_starts,
    _fmt,
    _log_G,
    _resolve_form,
    _run_program,
    _starts_matrix,
    fit,
    solver_options,
)
from jscaling.laws import ChinchillaParams, Law, as_law
from jscaling.objective import DEFAULT_DELTA, check_options, check_weights, fit_data, parameterisation

__all__ = ["bootstrap", "BootstrapResult"]

ArrayLike = Any

DEFAULT_BUDGETS = (1e21, 1e23, 1e25)
"""Budgets (FLOPs) at which tokens per parameter are reported by default."""


@dataclasses.dataclass(frozen=True, repr=False)
class BootstrapResult:
    """Parameter samples from refits on resampled runs, and their summaries.

    Attributes:
        law: the law's name.
        estimate: the full-data fit's parameters (natural).
        estimate_derived: the derived quantities of the full-data fit.
        samples: natural parameters per resample, a NamedTuple of arrays of length B.
        raw_samples: the same, raw (as fitted).
        objectives: each resample's best objective.
        converged: whether each resample's best start converged; the summaries use only those.
        derived: per resample, `a`, `b`, `G` and `tokens_per_param@C` for each budget C
            (Chinchilla laws).
        confidence: the level of the percentile intervals.
        stderr: standard deviation over converged resamples, per parameter and derived quantity.
        intervals: `(lo, hi)` percentile interval per parameter and derived quantity.
        n_starts: starts per resample.
        warnings: what a user should check.
    """

    law: str
    estimate: Any
    estimate_derived: Mapping[str, float]
    samples: Any
    raw_samples: Any
    objectives: np.ndarray
    converged: np.ndarray
    derived: Mapping[str, np.ndarray]
    confidence: float
    stderr: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]]
    n_starts: int = 1
    warnings: tuple[str, ...] = ()

    @property
    def n_resamples(self) -> int:
        return int(self.objectives.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """The keys `jscaling fit --bootstrap` adds to its JSON: `bootstrap` (with the samples,
        which `--params` readers use), `stderr` and `interval_95` (for 95% confidence)."""
        level = f"interval_{100 * self.confidence:g}".replace(".", "_")
        return {
            "bootstrap": {
                "samples": {k: np.asarray(v).tolist() for k, v in self.samples._asdict().items()},
                "derived": {k: np.asarray(v).tolist() for k, v in self.derived.items()},
                "n_resamples": self.n_resamples,
                "n_starts": self.n_starts,
                "n_converged": int(self.converged.sum()),
                "converged": self.converged.tolist(),
                "confidence": self.confidence,
                "warnings": list(self.warnings),
            },
            "stderr": dict(self.stderr),
            level: {k: list(v) for k, v in self.intervals.items()},
        }

    def __repr__(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        lines = [
            f"BootstrapResult({self.law}, {self.n_resamples} resamples x {self.n_starts} start(s), "
            f"{int(self.converged.sum())} converged; estimate +- stderr [{pct} interval])"
        ]
        estimates = {**self.estimate._asdict(), **self.estimate_derived}
        width = max(len(n) for n in estimates)
        for name, value in estimates.items():
            if name not in self.stderr:
                continue
            lo, hi = self.intervals[name]
            lines.append(f"  {name:<{width}} = {_fmt(value)} +- {_fmt(self.stderr[name], 2)} [{_fmt(lo, 4)}, {_fmt(hi, 4)}]")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _resample_counts(key: jax.Array, n_resamples: int, n: int) -> np.ndarray:
    """(B, n) counts: how often each run is drawn in each resample (n draws with replacement).

    Drawn by one unsharded program on the default device, before the resamples are split over
    devices: the same key gives the same counts whatever the device or process count.
    """
    draws = np.asarray(jax.random.randint(key, (n_resamples, n), 0, n), dtype=np.int64)
    flat = (draws + n * np.arange(n_resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _derived(samples: Any, budgets: np.ndarray, k: float) -> dict[str, np.ndarray]:
    if not isinstance(samples, ChinchillaParams):
        return {}
    alpha, beta = np.asarray(samples.alpha, np.float64), np.asarray(samples.beta, np.float64)
    A, B = np.asarray(samples.A, np.float64), np.asarray(samples.B, np.float64)
    with np.errstate(all="ignore"):
        a, b = beta / (alpha + beta), alpha / (alpha + beta)
        log_G = _log_G(alpha, beta, A, B)
        out = {"a": a, "b": b, "G": np.exp(log_G)}
        for C in budgets:
            log_c = np.log(C / k)
            out[f"tokens_per_param@{C:.3g}"] = np.exp((b - a) * log_c - 2.0 * log_G)
    return out


def bootstrap(
    runs: Runs,
    law: str | Law | Callable[..., Any] = "chinchilla",
    *,
    key: jax.Array,
    n_resamples: int = 1000,
    fit_result: FitResult | None = None,
    starts: int | Any = 1,
    confidence: float = 0.95,
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    delta: float = DEFAULT_DELTA,
    weights: ArrayLike | None = None,
    asymmetry: float = 1.0,
    residuals: str = "log",
    reduction: str = "sum",
    fixed: Mapping[str, float] | None = None,
    tie: Any = None,
    max_steps: int = 1000,
    gtol: float = 1e-5,
    ftol: float = 2.2e-9,
    dtype: Any = "float64",
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> BootstrapResult:
    """Refits `law` on `n_resamples` resamples of `runs` drawn with replacement.

    Args:
        runs: the training runs.
        law: as for `jscaling.fit.fit`.
        key: a `jax.random` key; the same key gives the same resamples and results.
        n_resamples: B.
        fit_result: the full-data fit (computed with the same options when None); every
            resample starts from its optimum.
        starts: starts per resample: an int k (the full-data optimum plus k - 1 starts drawn from
            the law's default grid with `key`), or a batch of starts (the optimum plus these).
        confidence: the level of the percentile intervals (0.95: the 2.5th to 97.5th).
        budgets: FLOPs at which to report tokens per parameter (Chinchilla laws).
        delta, weights, asymmetry, residuals, reduction, fixed, tie, max_steps, gtol, ftol,
            dtype: as for `jscaling.fit.fit` (use the same as the full-data fit).
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs, got {type(runs).__name__}")
    n_resamples = _validate.check_int("n_resamples", n_resamples, minimum=2)
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    budgets_arr = _validate.positive_array("budgets", np.atleast_1d(np.asarray(budgets, dtype=np.float64)))
    key = _check_key(key)
    options = dict(delta=delta, weights=weights, asymmetry=asymmetry, residuals=residuals, reduction=reduction, fixed=fixed, tie=tie, max_steps=max_steps, gtol=gtol, ftol=ftol, dtype=dtype)
    if fit_result is None:
        fit_result = fit(runs, law, **options)
    elif not isinstance(fit_result, FitResult):
        raise TypeError(f"fit_result must be a FitResult, got {type(fit_result).__name__}")
    name = as_law(law).name
    if name != fit_result.law:
        raise ValueError(f"fit_result is a {fit_result.law!r} fit, but law is {name!r}")
    form = _resolve_form(law, fit_result.raw)
    delta_v, asym_v, spec = check_options(delta=delta, residuals=residuals, asymmetry=asymmetry, reduction=reduction)
    w = check_weights(runs, weights)
    max_steps, gtol, ftol, dtype = solver_options(max_steps, gtol, ftol, dtype)
    param = parameterisation(form, fixed, tie)

    key_resample, key_starts = jax.random.split(key)
    optimum = param.free_starts(np.asarray([list(fit_result.raw)], dtype=np.float64))
    if not np.all(np.isfinite(optimum)):
        raise ValueError("the full-data fit has no finite optimum to start the resamples from")
    extra = _extra_starts(form, param, starts, key_starts)
    per = np.concatenate([optimum, extra]) if extra.size else optimum
    k = per.shape[0]
    counts = _resample_counts(key_resample, n_resamples, len(runs))
    lane_weight = counts * w[None, :]
    X0 = np.tile(per, (n_resamples, 1))

    with _runtime.dtype_scope(dtype):
        data = fit_data(runs, w, spec.residuals, dtype)
        out = _run_program(
            form, spec, param, data, X0, lane_weight=lane_weight, group=k, n_groups=n_resamples,
            delta=delta_v, asymmetry=asym_v, gtol=gtol, ftol=ftol, max_steps=max_steps, dtype=dtype,
        )
        best = out["best"]
        raw_values = param.full_values(out["x"][best])
        natural = form.to_natural(form.raw_type(*[jnp.asarray(v) for v in raw_values.T]))
        natural = form.natural_type(*[np.asarray(v, dtype=np.float64) for v in natural])
    raw = form.raw_type(*[np.asarray(v) for v in raw_values.T])
    codes = out["code"][best]
    converged = ((codes == GTOL) | (codes == FTOL)) & np.isfinite(out["f"][best])
    derived = _derived(natural, budgets_arr, flops_per_param_token)
    stderr, intervals = _summaries({**natural._asdict(), **derived}, converged, confidence)
    warnings: list[str] = []
    if not converged.all():
        warnings.append(f"{int((~converged).sum())} of {n_resamples} resamples did not converge; the summaries leave them out")
    if converged.sum() < 2:
        warnings.append("fewer than two resamples converged: no standard errors")
    point = form.natural_type(*[np.asarray([float(v)]) for v in fit_result.params])
    estimate_derived = {k: float(v[0]) for k, v in _derived(point, budgets_arr, flops_per_param_token).items()}
    return BootstrapResult(
        law=form.name, estimate=fit_result.params, estimate_derived=estimate_derived, samples=natural, raw_samples=raw, objectives=out["f"][best] * delta_v,
        converged=converged, derived=derived, confidence=confidence, stderr=stderr, intervals=intervals,
        n_starts=k, warnings=tuple(warnings),
    )


def _check_key(key: Any) -> jax.Array:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        raise TypeError("key must be a jax.random key (e.g. jax.random.key(0)), not an int")
    try:
        jax.random.split(key)
    except Exception:  # noqa: BLE001 - anything that is not a key
        raise TypeError(f"key must be a jax.random key (e.g. jax.random.key(0)), got {type(key).__name__}") from None
    return key


def _extra_starts(form: Any, param: Any, starts: Any, key: jax.Array) -> np.ndarray:
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        k = _validate.check_int("starts", starts, minimum=1)
        if k == 1:
            return np.zeros((0, param.n_free))
        grid = param.free_starts(_default_starts(form))
        grid = np.unique(grid, axis=0)
        if k - 1 > grid.shape[0]:
            raise ValueError(f"starts = {k} exceeds the {grid.shape[0]} distinct grid starts plus the optimum")
        pick = np.asarray(jax.random.choice(key, grid.shape[0], (k - 1,), replace=False))
        return grid[np.sort(pick)]
    if isinstance(starts, bool):
        raise TypeError("starts must be an int or a batch of starts")
    return param.free_starts(_starts_matrix(form, starts))


def _summaries(values: Mapping[str, np.ndarray], converged: np.ndarray, confidence: float) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    stderr: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    tail = 100.0 * (1.0 - confidence) / 2.0
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)[converged]
        v = v[np.isfinite(v)]
        if v.size < 2:
            stderr[name] = math.nan
            intervals[name] = (math.nan, math.nan)
            continue
        stderr[name] = float(np.std(v, ddof=1))
        lo, hi = np.percentile(v, [tail, 100.0 - tail])
        intervals[name] = (float(lo), float(hi))
    return stderr, intervals
