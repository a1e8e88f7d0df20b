"""Can these runs pin the law down? Checks of the design before a fit and of the optimum after.

A fit always returns numbers; these checks say when the numbers mean little:

- `identifiability_warnings(runs)`: from the runs alone (no fit), the designs that cannot
  identify `L = E + A / N^alpha + B / D^beta`: too few runs for the free parameters, fewer than
  three distinct N (or D) values, N or D spanning under half a decade, one loss for every run,
  and log N and log D on one line: one D per N (a fixed tokens-per-parameter ratio, where the
  N and D terms can trade places) or one compute budget (an IsoFLOP profile on its own).
- `require_variation(runs)`: raises `ValueError` where a column the law needs never changes
  (one N, one D, one loss): no fit can say anything about that term.
- `hessian_warnings(objective_fn, raw_params)`: at a fitted optimum, the Hessian of the
  objective, scaled to unit diagonal; a condition number above `max_condition` (default 1e6),
  or a direction of zero or negative curvature, means a combination of parameters the runs do
  not determine, and the warning names it. Measured on simulated Chinchilla runs (Huber
  objective, raw parameters): a 9-budget IsoFLOP sweep gives 3e4 to 2e5 at noise 0 to 5%, the
  240 digitised Chinchilla runs 1.3e5; one budget of 15 sizes 2e7, one D per N (D = 20 N) 3e8
  or an indefinite Hessian, two model sizes 2e11.
- `exponent_warnings(params)`: fitted exponents near zero or negative (the term is a constant,
  or the loss would grow with N or D).
- `fit_warnings(result, runs)`: all of the above for a `FitResult` (what `jscaling fit` and
  `jscaling study` print and record).

Where jit goes: the checks of the design are numpy. `hessian_warnings` jits `jax.hessian` of
the objective it is given (one compile per call: the function is the caller's); `fit_warnings`
uses one jitted Hessian of the fit's objective, cached per law, free/fixed/tied structure and
number of runs (measured here: 1.2 s for the first call, 3 ms after). Both run in float64
inside `x64_scope()`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jscaling import _runtime
from jscaling.data import Runs

__all__ = [
    "identifiability_warnings",
    "require_variation",
    "hessian_warnings",
    "exponent_warnings",
    "fit_warnings",
    "MAX_CONDITION",
]

MAX_CONDITION = 1e6
"""Scaled-Hessian condition number above which `hessian_warnings` reports a flat direction."""

_MIN_DISTINCT = 3  # distinct values of N (or D) to separate E, A and alpha
_MIN_DECADES = 0.5  # span of N (or D) below which its exponent is poorly constrained
_MAX_CORRELATION = 0.99  # |corr(log N, log D)| above which the two are treated as one line
_RUNS_PER_PARAMETER = 3

# Which of a law's natural symbols each variable's term holds (raw names in parentheses).
_TERMS = {
    "chinchilla": {"N": ("A", "alpha", "a"), "D": ("B", "beta", "b")},
    "kaplan-n": {"N": ("x_c", "alpha", "a")},
    "kaplan-d": {"D": ("x_c", "alpha", "a")},
}
_N_FREE = {"chinchilla": 5, "kaplan-n": 3, "kaplan-d": 3}


def _law_name(law: Any) -> str:
    name = law if isinstance(law, str) else getattr(law, "name", None)
    if name not in _TERMS:
        raise ValueError(f"law must be one of {', '.join(_TERMS)}, got {law!r}")
    return name


def _term_fixed(symbols: tuple[str, ...], fixed: Collection[str]) -> bool:
    """A term is held when its coefficient and its exponent are both fixed."""
    coefficient, exponent, raw = symbols
    return exponent in fixed and (coefficient in fixed or raw in fixed)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Distinct values, equal to 12 significant digits (a CSV round trip keeps that many)."""
    return np.unique(np.round(np.log10(values), 12))


def _span(values: np.ndarray) -> float:
    return float(np.log10(values.max() / values.min()))


def require_variation(runs: Runs, *, law: str | Any = "chinchilla", fixed: Collection[str] = ()) -> None:
    """Raises `ValueError` when a quantity the law needs takes one value in every run.

    One N (or D) leaves the law's N (or D) term undetermined unless both of its parameters are
    fixed; one loss leaves nothing to fit.
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs, got {type(runs).__name__}")
    name = _law_name(law)
    fixed = set(fixed)
    if len(runs) > 1 and np.unique(runs.loss).size == 1:
        raise ValueError(f"{runs.source}: every run has the same loss ({runs.loss[0]:.6g}): there is nothing to fit")
    for variable, symbols in _TERMS[name].items():
        values = runs.N if variable == "N" else runs.D
        if len(runs) > 1 and _distinct(values).size == 1 and not _term_fixed(symbols, fixed):
            coefficient, exponent, _ = symbols
            raise ValueError(
                f"{runs.source}: every run has {variable} = {values[0]:.6g}: the {variable} term ({coefficient}, {exponent}) "
                f"cannot be fitted from one value; add runs with other {variable}, or hold it with --fix {exponent}=... --fix {coefficient}=..."
            )


def identifiability_warnings(runs: Runs, *, law: str | Any = "chinchilla", fixed: Collection[str] = ()) -> tuple[str, ...]:
    """What in the runs' design keeps the law's parameters from being identified (empty: nothing).

    Args:
        runs: the training runs.
        law: "chinchilla" (default), "kaplan-n" or "kaplan-d".
        fixed: symbols the fit holds (natural or raw names): checks of a term whose coefficient
            and exponent are both held are skipped.
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs, got {type(runs).__name__}")
    name = _law_name(law)
    fixed = set(fixed)
    found: list[str] = []
    n = len(runs)
    n_free = _N_FREE[name] - len(fixed & {"E", "e", "A", "a", "alpha", "B", "b", "beta", "x_c"})
    if n < _RUNS_PER_PARAMETER * n_free:
        found.append(
            f"only {n} runs for {n_free} free parameters (fewer than {_RUNS_PER_PARAMETER} per parameter): "
            "expect wide intervals; check them with --bootstrap"
        )
    if n > 1 and np.unique(runs.loss).size == 1:
        found.append(f"every run has the same loss ({runs.loss[0]:.6g}): only E is identified")
    held = {v: _term_fixed(s, fixed) for v, s in _TERMS[name].items()}
    for variable, symbols in _TERMS[name].items():
        if held[variable]:
            continue
        values = runs.N if variable == "N" else runs.D
        coefficient, exponent, _ = symbols
        levels = _distinct(values)
        if levels.size < _MIN_DISTINCT:
            shown = ", ".join(f"{10.0**v:.4g}" for v in levels)
            found.append(
                f"only {levels.size} distinct {variable} value{'s' if levels.size != 1 else ''} ({shown}): E, {coefficient} and "
                f"{exponent} are not identified (the {variable} term needs at least {_MIN_DISTINCT}); add runs with other {variable}"
            )
        elif _span(values) < _MIN_DECADES:
            found.append(
                f"{variable} spans only {_span(values):.2g} decades ({values.min():.4g} to {values.max():.4g}): "
                f"{exponent} is poorly identified; widen the range of {variable}"
            )
    if name == "chinchilla" and not (held["N"] or held["D"]):
        found.extend(_line_warnings(runs))
    return tuple(found)


def _line_warnings(runs: Runs) -> list[str]:
    """log N and log D on one line: one D per N, or one compute budget."""
    if len(runs) < 3:
        return []
    x, y = np.log10(runs.N), np.log10(runs.D)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return []
    if _distinct(runs.C).size == 1:
        return [
            f"every run has the same compute C = {runs.C[0]:.4g} FLOPs (one IsoFLOP budget): the exponents are only "
            "weakly identified and the fit's extrapolation to other budgets rests on the law's form alone; add budgets"
        ]
    r = float(np.corrcoef(x, y)[0, 1])
    if not abs(r) > _MAX_CORRELATION:
        return []
    slope = float(np.polyfit(x, y, 1)[0])
    if r > 0:
        return [
            f"log D rises with log N along one line (D ~ N^{slope:.3g}, correlation {r:.4f}; e.g. a fixed number of tokens "
            "per parameter): the N and D terms can trade places, so A, alpha, B and beta are not identified; add runs "
            "with several D per N"
        ]
    return [
        f"log D falls as log N rises along one line (D ~ N^{slope:.3g}, correlation {r:.4f}; close to one compute "
        "budget): the exponents are only weakly identified; add runs at other budgets"
    ]


def hessian_warnings(
    objective_fn: Callable[[Any], Any],
    raw_params: Any,
    *,
    names: Sequence[str] | None = None,
    free: Collection[str] | None = None,
    max_condition: float = MAX_CONDITION,
) -> tuple[str, ...]:
    """Warnings from the curvature of `objective_fn` at `raw_params` (a fitted optimum).

    The Hessian over the parameters, scaled to unit diagonal (so that rescaling a parameter
    changes nothing), is eigen-decomposed: an eigenvalue that is zero or negative, or a
    condition number above `max_condition`, is a direction along which the objective is
    (nearly) flat; the warning names the parameters that move most along it.

    Args:
        objective_fn: scalar function of a params NamedTuple (of `raw_params`' type), or of a
            1-D array when `raw_params` is one; jax-traceable.
        raw_params: the optimum, as the objective takes it (for Chinchilla fits,
            `FitResult.raw`, a `ChinchillaLogParams`).
        names: the parameters' names when `raw_params` is an array.
        free: the parameters to examine (default all); the others are held at their values.
        max_condition: the largest acceptable condition number of the scaled Hessian.
    """
    if not callable(objective_fn):
        raise TypeError(f"objective_fn must be callable, got {type(objective_fn).__name__}")
    if not (isinstance(max_condition, (int, float)) and max_condition > 1):
        raise ValueError(f"max_condition must be a number > 1, got {max_condition!r}")
    if hasattr(raw_params, "_fields"):
        fields = tuple(raw_params._fields)
        values = np.array([float(np.asarray(v)) for v in raw_params], dtype=np.float64)

        def rebuild(v: jax.Array) -> Any:
            return type(raw_params)(*[v[i] for i in range(len(fields))])
    else:
        values = np.asarray(raw_params, dtype=np.float64).reshape(-1)
        fields = tuple(names) if names is not None else tuple(f"x[{i}]" for i in range(values.size))
        if len(fields) != values.size:
            raise ValueError(f"names has {len(fields)} entries for {values.size} parameters")

        def rebuild(v: jax.Array) -> Any:
            return v
    chosen = fields if free is None else tuple(f for f in fields if f in set(free))
    unknown = set(free or ()) - set(fields)
    if unknown:
        raise ValueError(f"free names {sorted(unknown)} are not among the parameters {list(fields)}")
    if not chosen:
        return ()
    if not np.isfinite(values).all():
        return ("the fitted parameters are not all finite: the objective's curvature cannot be checked",)
    pick = np.array([fields.index(f) for f in chosen])

    with _runtime.x64_scope():
        base = jnp.asarray(values)

        def f(x: jax.Array) -> jax.Array:
            return jnp.asarray(objective_fn(rebuild(base.at[pick].set(x))), jnp.float64)

        H = np.asarray(jax.jit(jax.hessian(f))(jnp.asarray(values[pick])), dtype=np.float64)
    return _curvature_warnings(H, chosen, max_condition)


def _combination(vector: np.ndarray, names: Sequence[str]) -> str:
    order = np.argsort(-np.abs(vector))
    main = [names[i] for i in order if abs(vector[i]) >= 0.3] or [names[int(order[0])]]
    return main[0] if len(main) == 1 else ", ".join(main[:-1]) + " and " + main[-1]


def _curvature_warnings(H: np.ndarray, names: Sequence[str], max_condition: float) -> tuple[str, ...]:
    if not np.isfinite(H).all():
        return ("the objective's Hessian at the optimum is not finite: the fit sits where the law overflows; do not trust it",)
    H = 0.5 * (H + H.T)
    diag = np.diag(H)
    flat = [names[i] for i in range(len(names)) if not diag[i] > 0]
    if flat:
        return (
            f"the objective does not curve along {', '.join(flat)} at the optimum: "
            f"{'it is' if len(flat) == 1 else 'they are'} not identified by the runs",
        )
    scale = 1.0 / np.sqrt(diag)
    w, V = np.linalg.eigh(H * scale[:, None] * scale[None, :])
    if w[0] <= w[-1] * 1e-14:
        return (
            f"the objective is flat along a combination of {_combination(V[:, 0], names)} at the optimum "
            "(the scaled Hessian is singular or indefinite): these parameters are not identified by the runs; "
            "compare bootstrap intervals",
        )
    condition = float(w[-1] / w[0])
    if condition > max_condition:
        return (
            f"the objective is nearly flat along a combination of {_combination(V[:, 0], names)} at the optimum "
            f"(scaled Hessian condition number {condition:.2g} > {max_condition:.0g}): the runs barely determine "
            "these parameters; compare bootstrap intervals",
        )
    return ()


def exponent_warnings(params: Any, *, smallest: float = 0.01) -> tuple[str, ...]:
    """Fitted exponents (`alpha`, `beta`) below `smallest`: a constant term, or a rising loss."""
    found = []
    for name in ("alpha", "beta"):
        if not hasattr(params, name):
            continue
        value = float(np.asarray(getattr(params, name)))
        if not math.isfinite(value):
            found.append(f"the fitted {name} is {value}: the fit failed")
        elif value < 0:
            found.append(f"the fitted {name} = {value:.4g} is negative: the loss would grow with {'N' if name == 'alpha' else 'D'}; the runs do not support this law")
        elif value < smallest:
            found.append(f"the fitted {name} = {value:.3g} is near zero: its term is a constant that E absorbs, and the runs do not identify it")
    return tuple(found)


def fit_warnings(result: Any, runs: Runs) -> tuple[str, ...]:
    """`identifiability_warnings`, `exponent_warnings` and `hessian_warnings` for a `FitResult`
    of the Chinchilla or Kaplan laws on `runs`, leaving out any the result already carries.

    The Hessian is taken over the fit's free parameters (fixed ones held, tied ones moving
    together) of the objective it minimised (the same delta, residuals, asymmetry, reduction
    and the runs' weights), in one jitted program cached per law, structure and number of runs.
    """
    from jscaling.objective import check_options, check_weights, fit_data, get_form, parameterisation

    name = _law_name(result.law)
    options = dict(result.options)
    fixed = dict(options.get("fixed") or {})
    tie = options.get("tie") or None
    found = list(identifiability_warnings(runs, law=name, fixed=fixed))
    found += exponent_warnings(result.params)
    form = get_form(name)
    param = parameterisation(form, fixed or None, tie)
    raw = np.array([float(v) for v in result.raw], dtype=np.float64)
    if param.n_free and np.isfinite(raw).all():
        delta, asymmetry, spec = check_options(
            delta=options.get("delta", 1e-3), residuals=options.get("residuals", "log"),
            asymmetry=options.get("asymmetry", 1.0), reduction=options.get("reduction", "sum"),
        )
        free0 = param.free_starts(raw[None, :])[0]
        with _runtime.x64_scope():
            data = fit_data(runs, check_weights(runs, None), spec.residuals, jnp.float64)
            # Pad the runs to a power of two with zero weight (they add nothing to the sums),
            # so that one compiled Hessian serves fits of many sizes.
            # numpy pads: an eager `jnp.pad` would compile a program for every new run count.
            n = int(data.target.shape[-1])
            pad = (1 << max(n - 1, 1).bit_length()) - n
            log_x = np.pad(np.asarray(data.log_x), [(0, 0), (0, pad)], mode="edge")
            target = np.pad(np.asarray(data.target), (0, pad), mode="edge")
            weight = np.pad(np.asarray(data.weight), (0, pad))
            H = _free_hessian(
                jnp.asarray(free0), jnp.asarray(raw), log_x, target, weight, jnp.asarray(delta), jnp.asarray(asymmetry),
                form=form, index=tuple(param.index), spec=spec,
            )
        labels = {"a": "log A", "b": "log B", "e": "log E"} if name == "chinchilla" else {"e": "log E"}
        names = tuple("=".join(labels.get(f, f) for f in group.split("=")) for group in param.free_names)
        found += _curvature_warnings(np.asarray(H, dtype=np.float64), names, MAX_CONDITION)
    return tuple(w for w in dict.fromkeys(found) if w not in set(result.warnings))


def _objective_on_free(x: jax.Array, full: jax.Array, log_x: jax.Array, target: jax.Array, weight: jax.Array, delta: jax.Array, asymmetry: jax.Array, *, form: Any, index: tuple[int, ...], spec: Any) -> jax.Array:
    """The fit's objective (`jscaling.objective.objective`) as a function of the free values."""
    from jscaling.objective import huber_total

    values = [x[i] if i >= 0 else full[j] for j, i in enumerate(index)]
    return huber_total(form, spec, form.raw_type(*values), log_x[0], log_x[1], target, weight, delta, asymmetry)


@functools.partial(jax.jit, static_argnames=("form", "index", "spec"))
def _free_hessian(x: jax.Array, full: jax.Array, log_x: jax.Array, target: jax.Array, weight: jax.Array, delta: jax.Array, asymmetry: jax.Array, *, form: Any, index: tuple[int, ...], spec: Any) -> jax.Array:
    f = functools.partial(_objective_on_free, form=form, index=index, spec=spec)
    return jax.hessian(f)(x, full, log_x, target, weight, delta, asymmetry)
