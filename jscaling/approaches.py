"""Compute-optimal model size from runs: Hoffmann et al. 2022's Approaches 2 and 1.

- `approach2(runs)`: per IsoFLOP budget, a weighted least-squares parabola of the final loss
  against `log N` through that budget's runs; its vertex is the budget's optimal size `N_opt`
  (and `D_opt = C / (6 N_opt)`). Then power laws `N_opt = k_N C^a` and `D_opt = k_D C^b` by
  least squares in log-log over the budgets. A budget with too few runs, or whose parabola has
  no minimum inside its runs' range of N, is flagged and left out of the power laws; the
  result says which and why.
- `approach1(runs)`: the lower envelope of loss against FLOPs, over finished runs (the runs
  on the Pareto frontier of (C, loss)) or over training curves (checkpoints), and power laws
  of the envelope's N and D against C.

Both take `bootstrap=B` with a `jax.random` key: B resamples with replacement (runs within each
budget for Approach 2, runs or whole curves for Approach 1), each refitted exactly as the point
estimate; percentile intervals over the resamples. Resample `b` takes its indices from a fixed
stretch of the key's random stream (blocks `jax.random.bits(fold_in(key, c))`), so the same
key gives the same numbers, and the first 100 resamples of B = 1000 are those of B = 100.

Where the work runs: the fits are closed-form (a 3x3 weighted normal system per parabola, a
line per power law), vectorised with numpy over all resamples and budgets at once, in float64,
in chunks that bound memory. Only the random words come from JAX: one jitted
`bits(fold_in(key, block))` of a fixed shape, compiled once per process. Measured on a 2-core
CPU for 1000 resamples of a 9-budget x 15-size sweep: the numpy kernel takes 12 ms, the same
kernel jitted 6 ms but 2.2 s to compile for each new data shape; the whole `approach2(...,
bootstrap=1000)` takes 30-50 ms, against 0.6 s for a Python loop of `numpy.polyfit`.

Loss, not log loss: like Hoffmann et al. (section 3.2, Figure 3), the parabola is fitted to
the loss itself against `log N`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jscaling import _validate
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.data import Runs

__all__ = [
    "approach2",
    "approach1",
    "Approach2Result",
    "Approach1Result",
    "PowerLaw",
    "Bootstrap",
]

_CHUNK_ELEMENTS = 1 << 20  # resample x budget x run elements per vectorised chunk
_WIDE_BUDGET_DEX = 0.1  # a budget whose runs' C spread wider than this is noted
_SAME_N_RTOL = 1e-9  # checkpoints of one training curve must share N to this tolerance


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, eq=False)
class PowerLaw:
    """`y = coefficient * C ** exponent`, fitted by least squares of `log y` on `log C`.

    Attributes:
        exponent: the power of C (a for N_opt, b for D_opt).
        coefficient: the prefactor (k_N or k_D), in parameters or tokens at C = 1 FLOP.
        exponent_stderr: the least-squares standard error of the exponent from the
            residuals (NaN with only 2 points); bootstrap intervals are in `Bootstrap`.
        n_points: the number of (C, y) points fitted.
    """

    exponent: float
    coefficient: float
    exponent_stderr: float
    n_points: int

    def __call__(self, C: Any) -> np.ndarray:
        """`coefficient * C ** exponent` at C FLOPs."""
        C = _validate.positive_array("C", C)
        return np.exp(math.log(self.coefficient) + self.exponent * np.log(C))

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values."""
        return {
            "exponent": self.exponent,
            "coefficient": self.coefficient,
            "exponent_stderr": self.exponent_stderr,
            "n_points": self.n_points,
        }

    def __repr__(self) -> str:
        err = "" if math.isnan(self.exponent_stderr) else f" +- {self.exponent_stderr:.2g}"
        return f"PowerLaw({self.coefficient:.4g} * C^({self.exponent:.4f}{err}), n_points={self.n_points})"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Bootstrap:
    """Bootstrap resamples of the power laws.

    Attributes:
        samples: `{"a", "b", "k_N", "k_D"}` -> one value per resample; NaN where the resample
            left fewer than 2 usable points for the power laws.
        percentiles: the interval's lower and upper percentiles.
        n_resamples: B.
        n_failed: resamples with no power law (fewer than 2 usable points); left out of the
            intervals.
        n_degraded: Approach 2: resamples in which at least one budget became unusable (too
            few distinct sizes, or no interior minimum) and was left out of that resample's
            power laws. Approach 1: resamples whose envelope had fewer than 3 usable points.
        unusable_by_budget: Approach 2 only: per budget of the result, in how many resamples
            it was unusable (0 for budgets not resampled because already flagged).
    """

    samples: Mapping[str, np.ndarray]
    percentiles: tuple[float, float]
    n_resamples: int
    n_failed: int
    n_degraded: int
    unusable_by_budget: np.ndarray | None = None

    def _valid(self, name: str) -> np.ndarray:
        x = self.samples[name]
        return x[np.isfinite(x)]

    @property
    def intervals(self) -> dict[str, tuple[float, float]]:
        """Percentile intervals per quantity, over the resamples that gave a power law."""
        out = {}
        for name in self.samples:
            x = self._valid(name)
            if x.size == 0:
                out[name] = (math.nan, math.nan)
            else:
                lo, hi = np.percentile(x, self.percentiles)
                out[name] = (float(lo), float(hi))
        return out

    @property
    def stderr(self) -> dict[str, float]:
        """Standard deviation (ddof 1) of each quantity over the resamples."""
        return {name: float(np.std(x, ddof=1)) if (x := self._valid(name)).size > 1 else math.nan for name in self.samples}

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        """Counts, intervals and standard errors (and the samples, if asked) as plain values."""
        out: dict[str, Any] = {
            "n_resamples": self.n_resamples,
            "n_failed": self.n_failed,
            "n_degraded": self.n_degraded,
            "percentiles": list(self.percentiles),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "stderr": self.stderr,
        }
        if self.unusable_by_budget is not None:
            out["unusable_by_budget"] = [int(v) for v in self.unusable_by_budget]
        if include_samples:
            out["samples"] = {k: [float(x) for x in v] for k, v in self.samples.items()}
        return out

    def __repr__(self) -> str:
        ivs = ", ".join(f"{k}=[{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in self.intervals.items())
        return (
            f"Bootstrap(n_resamples={self.n_resamples}, n_failed={self.n_failed}, "
            f"n_degraded={self.n_degraded}, {self.percentiles[0]:g}-{self.percentiles[1]:g}%: {ivs})"
        )


class _LawsMixin:
    N_law: PowerLaw
    D_law: PowerLaw
    bootstrap: Bootstrap | None

    @property
    def a(self) -> float:
        """Exponent of `N_opt = k_N C^a`."""
        return self.N_law.exponent

    @property
    def b(self) -> float:
        """Exponent of `D_opt = k_D C^b`."""
        return self.D_law.exponent

    @property
    def k_N(self) -> float:
        """Prefactor of `N_opt = k_N C^a`."""
        return self.N_law.coefficient

    @property
    def k_D(self) -> float:
        """Prefactor of `D_opt = k_D C^b`."""
        return self.D_law.coefficient

    def predict_N(self, C: Any) -> np.ndarray:
        """Compute-optimal parameters at C FLOPs, `k_N C^a`."""
        return self.N_law(C)

    def predict_D(self, C: Any) -> np.ndarray:
        """Compute-optimal training tokens at C FLOPs, `k_D C^b`."""
        return self.D_law(C)

    def _laws_text(self) -> str:
        def interval(name: str) -> str:
            if self.bootstrap is None:
                return ""
            lo, hi = self.bootstrap.intervals[name]
            return f" [{lo:.4f}, {hi:.4f}]"

        return (
            f"N_opt = {self.k_N:.4g} C^{self.a:.4f}{interval('a')}; "
            f"D_opt = {self.k_D:.4g} C^{self.b:.4f}{interval('b')}"
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Approach2Result(_LawsMixin):
    """IsoFLOP profiles (Hoffmann et al. 2022, Approach 2): one parabola per budget.

    Per-budget arrays (one entry per budget group, in group-label order):
        group: the budget's group label (`Runs.group`).
        C: the budget in FLOPs: the geometric mean of its runs' C.
        C_spread_dex: `log10(max C / min C)` over its runs (0 for an exact IsoFLOP budget).
        n_runs: runs in the budget (with positive weight); n_sizes: distinct N among them.
        N_opt: the parabola's vertex `exp(-c1 / (2 c2))` in parameters (NaN if undefined).
        D_opt: `C / (6 N_opt)` tokens.
        loss_opt: the parabola's value at its vertex.
        curvature: `c2` of `loss = c0 + c1 log N + c2 (log N)^2`, natural log; > 0 for a minimum.
        too_few_runs: fewer than `min_runs` runs, or fewer than 3 distinct sizes.
        no_interior_minimum: curvature <= 0, or the vertex outside the runs' [min N, max N].
        usable: neither flag; only these budgets enter the power laws.
        reasons: why each unusable budget was left out ("" when usable).

    Power laws: `N_law` (`N_opt = k_N C^a`), `D_law` (`D_opt = k_D C^b`); since
    `D_opt = C / (6 N_opt)`, `b = 1 - a` and `k_D = 1 / (6 k_N)` up to rounding. Shortcuts
    `a, b, k_N, k_D`, `predict_N(C)`, `predict_D(C)`. `bootstrap` holds the resamples (or
    None); `notes` what the fit did that a user should know.
    """

    group: np.ndarray
    C: np.ndarray
    C_spread_dex: np.ndarray
    n_runs: np.ndarray
    n_sizes: np.ndarray
    N_opt: np.ndarray
    D_opt: np.ndarray
    loss_opt: np.ndarray
    curvature: np.ndarray
    too_few_runs: np.ndarray
    no_interior_minimum: np.ndarray
    usable: np.ndarray
    reasons: tuple[str, ...]
    N_law: PowerLaw
    D_law: PowerLaw
    bootstrap: Bootstrap | None
    min_runs: int
    notes: tuple[str, ...] = ()

    @property
    def n_budgets(self) -> int:
        """How many budget groups (usable or not)."""
        return int(self.C.shape[0])

    def table(self) -> list[dict[str, Any]]:
        """One row per budget (plain Python values), for CSV or display."""
        rows = []
        for i in range(self.n_budgets):
            rows.append({
                "group": int(self.group[i]),
                "C": float(self.C[i]),
                "C_spread_dex": float(self.C_spread_dex[i]),
                "n_runs": int(self.n_runs[i]),
                "n_sizes": int(self.n_sizes[i]),
                "N_opt": float(self.N_opt[i]),
                "D_opt": float(self.D_opt[i]),
                "loss_opt": float(self.loss_opt[i]),
                "curvature": float(self.curvature[i]),
                "too_few_runs": bool(self.too_few_runs[i]),
                "no_interior_minimum": bool(self.no_interior_minimum[i]),
                "usable": bool(self.usable[i]),
                "reason": self.reasons[i],
            })
        return rows

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready summary (NaN stays float NaN; `jscaling._io.dumps_json` writes null)."""
        return {
            "method": "approach2",
            "a": self.a, "b": self.b, "k_N": self.k_N, "k_D": self.k_D,
            "N_law": self.N_law.to_dict(),
            "D_law": self.D_law.to_dict(),
            "min_runs": self.min_runs,
            "budgets": self.table(),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(include_samples=include_samples),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        lines = [f"Approach2Result({int(self.usable.sum())} of {self.n_budgets} budgets usable; {self._laws_text()})"]
        lines.append(f"  {'group':>5} {'C':>10} {'runs':>5} {'N_opt':>10} {'D_opt':>10} {'loss_opt':>9}  flag")
        for r in self.table():
            flag = "" if r["usable"] else ("too few runs" if r["too_few_runs"] else "no interior minimum")
            lines.append(
                f"  {r['group']:>5} {r['C']:>10.3e} {r['n_runs']:>5} {r['N_opt']:>10.3e} "
                f"{r['D_opt']:>10.3e} {r['loss_opt']:>9.4f}  {flag}".rstrip()
            )
        if self.bootstrap is not None:
            bs = self.bootstrap
            lines.append(f"  bootstrap: {bs.n_resamples} resamples, {bs.n_failed} without a power law, {bs.n_degraded} lost a budget")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)



@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Approach1Result(_LawsMixin):
    """The lower envelope of loss against FLOPs (Hoffmann et al. 2022, Approach 1).

    Per envelope point (sorted by C):
        C: FLOPs; N: parameters of the run on the envelope there; D: its tokens (the run's D
            for finished runs, `C / (6 N)` on training curves); loss: the envelope's loss.
        run: finished runs: the point's 0-based row in `runs`; curves: its curve's position in
            `curve_ids`.
        at_edge: curves only: the envelope's run is the smallest or largest N among the curves
            covering that C (the optimum may lie outside the sizes tried); left out of the fits.
        used: entered the power laws.

    `mode` is "runs" or "curves"; `curve_ids` the distinct run ids (curves mode).
    `too_few_points`: fewer than 3 usable envelope points (the power laws then rest on 2).
    Power laws, shortcuts, `bootstrap`, `notes` as in `Approach2Result`.
    """

    mode: str
    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    run: np.ndarray
    at_edge: np.ndarray
    used: np.ndarray
    too_few_points: bool
    N_law: PowerLaw
    D_law: PowerLaw
    bootstrap: Bootstrap | None
    curve_ids: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    def table(self) -> list[dict[str, Any]]:
        """One row per envelope point (plain Python values), for CSV or display."""
        rows = []
        for i in range(self.C.shape[0]):
            run: Any = int(self.run[i])
            if self.curve_ids is not None:
                run = self.curve_ids[run].item()
            rows.append({
                "C": float(self.C[i]), "N": float(self.N[i]), "D": float(self.D[i]),
                "loss": float(self.loss[i]), "run": run,
                "at_edge": bool(self.at_edge[i]), "used": bool(self.used[i]),
            })
        return rows

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready summary (NaN stays float NaN; `jscaling._io.dumps_json` writes null)."""
        return {
            "method": "approach1",
            "mode": self.mode,
            "a": self.a, "b": self.b, "k_N": self.k_N, "k_D": self.k_D,
            "N_law": self.N_law.to_dict(),
            "D_law": self.D_law.to_dict(),
            "too_few_points": self.too_few_points,
            "envelope": self.table(),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(include_samples=include_samples),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        n_used = int(self.used.sum())
        lines = [f"Approach1Result({self.mode}: {n_used} of {self.C.shape[0]} envelope points used; {self._laws_text()})"]
        if self.too_few_points:
            lines.append("  flag: fewer than 3 envelope points")
        if self.bootstrap is not None:
            bs = self.bootstrap
            lines.append(f"  bootstrap: {bs.n_resamples} resamples, {bs.n_failed} without a power law, {bs.n_degraded} with < 3 points")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)



# --------------------------------------------------------------------------- checks


def _exp(x: Any) -> Any:
    with np.errstate(over="ignore"):  # an absurd resample's prefactor may overflow to inf
        return np.exp(x)


def _check_runs(runs: Any) -> Runs:
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs (see Runs.from_arrays, load_runs), got {type(runs).__name__}")
    if len(runs) == 0:
        raise ValueError("runs is empty")
    return runs


def _check_bootstrap(bootstrap: Any, key: Any, percentiles: Any) -> tuple[int, Any, tuple[float, float]]:
    B = _validate.check_int("bootstrap", bootstrap, minimum=0)
    try:
        lo, hi = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise TypeError(f"percentiles must be two numbers (lower, upper), got {percentiles!r}") from None
    if not (0.0 <= lo < hi <= 100.0):
        raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got ({lo!r}, {hi!r})")
    if B == 0:
        return 0, None, (lo, hi)
    if B == 1:
        raise ValueError("bootstrap must be 0 (none) or at least 2 resamples, got 1")
    if key is None:
        raise ValueError(f"bootstrap={B} needs a PRNG key: pass key=jax.random.key(seed)")
    if not isinstance(key, jax.Array):
        raise TypeError(f"key must be a jax.random key (jax.random.key(seed) or PRNGKey), got {type(key).__name__}")
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not ((typed and key.shape == ()) or (not typed and key.dtype == jnp.uint32 and key.shape == (2,))):
        raise ValueError(f"key must be a single PRNG key, got dtype {key.dtype} and shape {key.shape}")
    return B, key, (lo, hi)


def _check_k(flops_per_param_token: Any) -> float:
    return _validate.positive_scalar("flops_per_param_token", flops_per_param_token)


# --------------------------------------------------------------------------- resampling


_STREAM_BLOCK = 1 << 16  # random 32-bit words per jitted draw (one compiled shape, ever)


@jax.jit
def _bits_block(key: jax.Array, block: jax.Array) -> jax.Array:
    return jax.random.bits(jax.random.fold_in(key, block), (_STREAM_BLOCK,), jnp.uint32)


def _stream(key: jax.Array, lo: int, hi: int) -> np.ndarray:
    """Words `[lo, hi)` of the key's random stream: block `c` is `bits(fold_in(key, c))`."""
    first, last = lo // _STREAM_BLOCK, (hi - 1) // _STREAM_BLOCK
    words = np.concatenate([np.asarray(_bits_block(key, jnp.uint32(c))) for c in range(first, last + 1)])
    return words[lo - first * _STREAM_BLOCK : hi - first * _STREAM_BLOCK]


def _resample_indices(key: jax.Array, start: int, count: int, sizes: np.ndarray, width: int) -> np.ndarray:
    """`(count, len(sizes), width)` resample indices for resamples `start .. start + count - 1`.

    Entry `[b, g, j]` is uniform on `[0, sizes[g])` (columns `j >= sizes[g]` are padding), taken
    from words `[b L, (b + 1) L)` of the key's stream, `L = len(sizes) * width`, by Lemire's
    multiply-shift `(word * n) >> 32` (bias at most n / 2^32). Resample b depends on the key
    and b only, not on B or on the chunking.
    """
    L = sizes.shape[0] * width
    words = _stream(key, start * L, (start + count) * L).reshape(count, sizes.shape[0], width)
    return ((words.astype(np.uint64) * sizes.astype(np.uint64)[:, None]) >> np.uint64(32)).astype(np.intp)


def _chunks(B: int, per_resample: int) -> list[tuple[int, int]]:
    size = max(1, min(B, _CHUNK_ELEMENTS // max(per_resample, 1)))
    return [(s, min(size, B - s)) for s in range(0, B, size)]


# --------------------------------------------------------------------------- closed-form kernels


def _line_fit(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares line `y = intercept + slope x` over the last axis where `mask`.

    Returns slope, intercept, the slope's standard error (NaN below 3 points) and the point
    count; slope and intercept are NaN below 2 points or with no spread in x.
    """
    m = mask.astype(np.float64)
    n = m.sum(-1)
    n_safe = np.maximum(n, 1.0)
    x0 = np.where(mask, x, 0.0)
    y0 = np.where(mask, y, 0.0)
    xbar = x0.sum(-1) / n_safe
    ybar = y0.sum(-1) / n_safe
    dx = np.where(mask, x - xbar[..., None], 0.0)
    dy = np.where(mask, y - ybar[..., None], 0.0)
    Sxx = (dx * dx).sum(-1)
    ok = (n >= 2) & (Sxx > 0)
    Sxx_safe = np.where(ok, Sxx, 1.0)
    slope = np.where(ok, (dx * dy).sum(-1) / Sxx_safe, np.nan)
    intercept = ybar - slope * xbar
    resid = np.where(mask, dy - slope[..., None] * dx, 0.0)
    ssr = (resid * resid).sum(-1)
    with_dof = ok & (n >= 3)
    stderr = np.where(with_dof, np.sqrt(ssr / np.maximum(n - 2, 1.0) / Sxx_safe), np.nan)
    return slope, intercept, stderr, n


@dataclasses.dataclass(frozen=True)
class _Parabolas:
    N_opt_log: np.ndarray  # vertex in natural log N
    loss_opt: np.ndarray
    curvature: np.ndarray  # c2 in natural log N
    n_sizes: np.ndarray
    logC: np.ndarray  # mean log C of the runs
    interior: np.ndarray  # c2 > 0 and the vertex inside the runs' range


def _parabolas(u: np.ndarray, y: np.ndarray, w: np.ndarray, logC: np.ndarray, size_id: np.ndarray, valid: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> _Parabolas:
    """Weighted least-squares parabolas `y = c0 + c1 u + c2 u^2` over the last axis.

    `u = (log N - centre) / scale` lies in [-1, 1] per budget (so the 3x3 normal system is well
    conditioned); `w` is zero where `valid` is False; `size_id` labels distinct N (-1 = pad).
    The normal system is solved by its adjugate (no exceptions for singular batches) with one
    step of iterative refinement.
    """
    w = np.where(valid, w, 0.0)
    y = np.where(valid, y, 0.0)
    u = np.where(valid, u, 0.0)
    u2 = u * u
    wu, wu2 = w * u, w * u2
    S0, S1, S2 = w.sum(-1), wu.sum(-1), wu2.sum(-1)
    S3, S4 = (wu2 * u).sum(-1), (wu2 * u2).sum(-1)
    T = np.stack([(w * y).sum(-1), (wu * y).sum(-1), (wu2 * y).sum(-1)], axis=-1)
    # Symmetric M = [[S0, S1, S2], [S1, S2, S3], [S2, S3, S4]]: adjugate entries.
    A11 = S2 * S4 - S3 * S3
    A12 = S2 * S3 - S1 * S4
    A13 = S1 * S3 - S2 * S2
    A22 = S0 * S4 - S2 * S2
    A23 = S1 * S2 - S0 * S3
    A33 = S0 * S2 - S1 * S1
    det = S0 * A11 + S1 * A12 + S2 * A13
    # Distinct sizes: sort labels, count starts of runs of equal labels (pads are -1).
    ids = np.sort(np.where(valid, size_id, -1), axis=-1)
    prev = np.concatenate([np.full(ids.shape[:-1] + (1,), -1), ids[..., :-1]], axis=-1)
    n_sizes = ((ids >= 0) & (ids != prev)).sum(-1)
    ok = (n_sizes >= 3) & (det > 0)
    det_safe = np.where(ok, det, 1.0)

    def solve(r: np.ndarray) -> np.ndarray:
        r0, r1, r2 = r[..., 0], r[..., 1], r[..., 2]
        return np.stack([
            A11 * r0 + A12 * r1 + A13 * r2,
            A12 * r0 + A22 * r1 + A23 * r2,
            A13 * r0 + A23 * r1 + A33 * r2,
        ], axis=-1) / det_safe[..., None]

    c = solve(T)
    Mc = np.stack([
        S0 * c[..., 0] + S1 * c[..., 1] + S2 * c[..., 2],
        S1 * c[..., 0] + S2 * c[..., 1] + S3 * c[..., 2],
        S2 * c[..., 0] + S3 * c[..., 1] + S4 * c[..., 2],
    ], axis=-1)
    c = c + solve(T - Mc)
    c0, c1, c2 = c[..., 0], c[..., 1], c[..., 2]
    ok &= c2 != 0
    c2_safe = np.where(ok, c2, 1.0)
    u_star = np.where(ok, -c1 / (2.0 * c2_safe), np.nan)
    loss_opt = np.where(ok, c0 - c1 * c1 / (4.0 * c2_safe), np.nan)
    u_min = np.where(valid, u, np.inf).min(-1)
    u_max = np.where(valid, u, -np.inf).max(-1)
    interior = ok & (c2 > 0) & (u_star >= u_min) & (u_star <= u_max)
    n_valid = np.maximum(valid.sum(-1), 1)
    return _Parabolas(
        N_opt_log=centre + scale * u_star,
        loss_opt=loss_opt,
        curvature=np.where(ok, c2 / (scale * scale), np.nan),
        n_sizes=n_sizes,
        logC=np.where(valid, logC, 0.0).sum(-1) / n_valid,
        interior=interior,
    )


# --------------------------------------------------------------------------- Approach 2


@dataclasses.dataclass(frozen=True)
class _Budgets:
    """Runs laid out as (budget, run) matrices padded to the largest budget."""

    group: np.ndarray  # (G,) labels
    count: np.ndarray  # (G,) runs per budget
    logN: np.ndarray  # (G, W)
    loss: np.ndarray
    weight: np.ndarray
    logC: np.ndarray
    size_id: np.ndarray  # distinct-N label within the budget, -1 in padding
    valid: np.ndarray
    lo: np.ndarray  # (G,) smallest log N of the budget
    hi: np.ndarray  # (G,) largest log N
    centre: np.ndarray  # (G,) mid-range of log N
    scale: np.ndarray  # (G,) half-range of log N (1 where the range is empty)

    def take(self, rows: np.ndarray) -> _Budgets:
        return _Budgets(**{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})

    def u(self) -> np.ndarray:
        return (self.logN - self.centre[:, None]) / self.scale[:, None]


def _layout(runs: Runs) -> _Budgets:
    group = runs.group
    labels, inverse, count = np.unique(group, return_inverse=True, return_counts=True)
    G, W = labels.shape[0], int(count.max())
    order = np.lexsort((runs.N, inverse))  # by budget, then N
    slot = np.empty_like(order)
    starts = np.concatenate([[0], np.cumsum(count)[:-1]])
    slot[order] = np.arange(order.shape[0]) - np.repeat(starts, count)
    mats = {}
    for name, values in (("logN", np.log(runs.N)), ("loss", runs.loss), ("weight", runs.weight), ("logC", np.log(runs.C))):
        mats[name] = np.zeros((G, W))
        mats[name][inverse, slot] = values
    valid = np.zeros((G, W), dtype=bool)
    valid[inverse, slot] = True
    # Distinct sizes: within each budget (sorted by N), a new label where N changes.
    logN_sorted = mats["logN"]
    new = np.ones((G, W), dtype=bool)
    new[:, 1:] = logN_sorted[:, 1:] != logN_sorted[:, :-1]
    size_id = np.where(valid, np.cumsum(new & valid, axis=1) - 1, -1)
    lo = np.where(valid, logN_sorted, np.inf).min(1)
    hi = np.where(valid, logN_sorted, -np.inf).max(1)
    half = (hi - lo) / 2.0
    return _Budgets(
        group=labels, count=count, size_id=size_id, valid=valid, lo=lo, hi=hi,
        centre=(hi + lo) / 2.0, scale=np.where(half > 0, half, 1.0), **mats,
    )


def _fmt_log(x: float) -> str:
    """`exp(x)` to 3 significant digits, without overflow."""
    return f"{math.exp(x):.3g}" if x < 700 else f"e^{x:.4g}"


def _budget_reason(n_runs: int, n_sizes: int, min_runs: int, p_ok: bool, curvature: float, logN: float, lo: float, hi: float) -> tuple[bool, bool, str]:
    if n_runs < min_runs:
        return True, False, f"too few runs ({n_runs} < min_runs={min_runs})"
    if n_sizes < 3:
        return True, False, f"too few distinct sizes ({n_sizes}; a parabola needs 3)"
    if not p_ok:
        return False, True, "no interior minimum (the fitted parabola is flat: no vertex)"
    if not curvature > 0:
        return False, True, f"no interior minimum (curvature {curvature:.3g} <= 0: the parabola opens downward)"
    if logN < lo:
        return False, True, f"no interior minimum (vertex N={_fmt_log(logN)} below the smallest run's N={_fmt_log(lo)})"
    return False, True, f"no interior minimum (vertex N={_fmt_log(logN)} above the largest run's N={_fmt_log(hi)})"


def approach2(
    runs: Runs,
    *,
    min_runs: int = 3,
    bootstrap: int = 0,
    key: jax.Array | None = None,
    percentiles: Sequence[float] = (2.5, 97.5),
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> Approach2Result:
    """IsoFLOP profiles (Hoffmann et al. 2022, Approach 2) and power laws of the optima.

    Per budget (`runs.group`; when None, groups from `runs.with_budget_groups()`, noted): a
    weighted least-squares parabola of the loss (nats, not log loss, as in the paper) against
    natural `log N` through the budget's runs (weights `runs.weight`; zero-weight runs are
    left out); its vertex is `N_opt`, its value there `loss_opt`, and
    `D_opt = C / (6 N_opt)` with C the geometric mean of the budget's runs' C. A budget is
    flagged and left out of the power laws when it has fewer than `min_runs` runs or fewer
    than 3 distinct N (`too_few_runs`), or when the parabola opens downward or its vertex lies
    outside the budget's [min N, max N] (`no_interior_minimum`). Then `log N_opt = log k_N +
    a log C` and `log D_opt = log k_D + b log C` by least squares over the usable budgets.

    Args:
        runs: the runs; budgets from `runs.group`.
        min_runs: the fewest runs a budget needs (at least 3).
        bootstrap: B resamples (0 for none). Each resamples the runs of every usable budget
            with replacement (the budget keeps its size), refits the parabolas, flags
            budgets by the same rules (a budget that becomes unusable leaves that resample's
            power laws, and is counted) and refits the power laws.
        key: `jax.random` key, required with `bootstrap > 0`; same key, same numbers.
        percentiles: the bootstrap interval's percentiles.
        flops_per_param_token: the 6 in `D_opt = C / (6 N_opt)`.

    Raises:
        TypeError: runs is not a `Runs`; key is not a PRNG key.
        ValueError: bad options, or fewer than 2 usable budgets (the message lists every
            budget's reason) or usable budgets that all share one C.
    """
    runs = _check_runs(runs)
    min_runs = _validate.check_int("min_runs", min_runs, minimum=3)
    B, key, pct = _check_bootstrap(bootstrap, key, percentiles)
    k = _check_k(flops_per_param_token)
    notes: list[str] = []
    if runs.group is None:
        runs = runs.with_budget_groups()
        notes.append(f"budgets inferred from C (log10 C chained within 0.1 dex; see Runs.with_budget_groups): {runs.n_groups} groups")
    zero = runs.weight == 0
    if zero.any():
        notes.append(f"{int(zero.sum())} run(s) with weight 0 left out")
        if zero.all():
            raise ValueError("every run has weight 0: nothing to fit")
        runs = runs.select(~zero)

    lay = _layout(runs)
    G = lay.group.shape[0]
    fit = _parabolas(lay.u(), lay.loss, lay.weight, lay.logC, lay.size_id, lay.valid, lay.centre, lay.scale)
    too_few = np.zeros(G, dtype=bool)
    no_min = np.zeros(G, dtype=bool)
    reasons = []
    for g in range(G):
        usable_g = lay.count[g] >= min_runs and fit.n_sizes[g] >= 3 and fit.interior[g]
        if usable_g:
            reasons.append("")
            continue
        few, nomin, why = _budget_reason(
            int(lay.count[g]), int(fit.n_sizes[g]), min_runs, bool(np.isfinite(fit.curvature[g])),
            float(fit.curvature[g]), float(fit.N_opt_log[g]), float(lay.lo[g]), float(lay.hi[g]),
        )
        too_few[g], no_min[g] = few, nomin
        reasons.append(why)
    usable = ~too_few & ~no_min
    logC_max = np.where(lay.valid, lay.logC, -np.inf).max(1)
    logC_min = np.where(lay.valid, lay.logC, np.inf).min(1)
    spread = (logC_max - logC_min) / math.log(10.0)
    C = np.exp(fit.logC)

    def describe(g: int) -> str:
        return f"budget {lay.group[g]} (C~{C[g]:.3g}, {lay.count[g]} runs)"

    if usable.sum() < 2:
        listed = "; ".join(f"{describe(g)}: {reasons[g] or 'usable'}" for g in range(G))
        raise ValueError(f"Approach 2 needs at least 2 usable budgets for the power laws, found {int(usable.sum())} of {G}: {listed}")
    wide = np.flatnonzero(usable & (spread > _WIDE_BUDGET_DEX))
    if wide.size:
        shown = ", ".join(f"{lay.group[g]} ({spread[g]:.2g} dex)" for g in wide[:5]) + (f" and {wide.size - 5} more" if wide.size > 5 else "")
        notes.append(
            f"{wide.size} usable budget(s) span more than {_WIDE_BUDGET_DEX} dex of C: {shown}; their runs are "
            "not one IsoFLOP profile, so their parabolas mix budgets"
        )

    logD_opt = fit.logC - math.log(k) - fit.N_opt_log
    a, logk_N, a_err, n_pts = _line_fit(fit.logC, fit.N_opt_log, usable)
    b, logk_D, b_err, _ = _line_fit(fit.logC, logD_opt, usable)
    if not np.isfinite(a):
        raise ValueError(f"the {int(usable.sum())} usable budgets all have the same C ({C[usable][0]:.6g}): no power law in C")
    N_law = PowerLaw(float(a), float(_exp(logk_N)), float(a_err), int(n_pts))
    D_law = PowerLaw(float(b), float(_exp(logk_D)), float(b_err), int(n_pts))

    boot = None
    if B:
        boot = _approach2_bootstrap(lay, usable, key, B, pct, k)
        if boot.n_degraded:
            notes.append(f"bootstrap: in {boot.n_degraded} of {B} resamples at least one budget became unusable and was left out of that resample")
        if boot.n_failed:
            notes.append(f"bootstrap: {boot.n_failed} of {B} resamples kept fewer than 2 usable budgets; left out of the intervals")

    with np.errstate(over="ignore"):  # a far vertex of a flagged budget may overflow to inf
        N_opt = np.exp(fit.N_opt_log)
    return Approach2Result(
        group=lay.group, C=C, C_spread_dex=spread, n_runs=lay.count, n_sizes=fit.n_sizes,
        N_opt=N_opt, D_opt=C / (k * N_opt), loss_opt=fit.loss_opt, curvature=fit.curvature,
        too_few_runs=too_few, no_interior_minimum=no_min, usable=usable, reasons=tuple(reasons),
        N_law=N_law, D_law=D_law, bootstrap=boot, min_runs=min_runs, notes=tuple(notes + list(runs.notes)),
    )


def _approach2_bootstrap(lay: _Budgets, usable: np.ndarray, key: jax.Array, B: int, pct: tuple[float, float], k: float) -> Bootstrap:
    rows = np.flatnonzero(usable)
    sub = lay.take(rows)
    Gu, W = sub.logN.shape
    u_all = sub.u()
    g_index = np.arange(Gu)[None, :, None]
    valid = sub.valid[None]
    names = ("a", "b", "k_N", "k_D")
    samples = {n: np.empty(B) for n in names}
    unusable_counts = np.zeros(Gu, dtype=np.int64)
    n_degraded = 0
    for start, count in _chunks(B, Gu * W):
        idx = _resample_indices(key, start, count, sub.count, W)
        idx = np.where(valid, idx, 0)
        take = lambda m: m[g_index, idx]  # noqa: E731
        fit = _parabolas(take(u_all), take(sub.loss), take(sub.weight), take(sub.logC), take(sub.size_id), np.broadcast_to(valid, idx.shape), sub.centre, sub.scale)
        ok = fit.interior
        unusable_counts += (~ok).sum(0)
        n_degraded += int((~ok).any(1).sum())
        a, logk_N, _, _ = _line_fit(fit.logC, np.where(ok, fit.N_opt_log, 0.0), ok)
        b, logk_D, _, _ = _line_fit(fit.logC, np.where(ok, fit.logC - math.log(k) - fit.N_opt_log, 0.0), ok)
        sl = slice(start, start + count)
        samples["a"][sl], samples["b"][sl] = a, b
        samples["k_N"][sl], samples["k_D"][sl] = _exp(logk_N), _exp(logk_D)
    by_budget = np.zeros(lay.group.shape[0], dtype=np.int64)
    by_budget[rows] = unusable_counts
    n_failed = int((~np.isfinite(samples["a"])).sum())
    return Bootstrap(samples=samples, percentiles=pct, n_resamples=B, n_failed=n_failed, n_degraded=n_degraded, unusable_by_budget=by_budget)


# --------------------------------------------------------------------------- Approach 1


def _frontier(C: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by (C, loss) along the last axis, and the mask of the lower-left Pareto frontier.

    A point is on the frontier when its loss is strictly below every point of smaller C and
    the lowest at its own C (the first, in input order, on an exact tie).
    """
    order = np.lexsort((loss, C), axis=-1)
    ls = np.take_along_axis(loss, order, axis=-1)
    running = np.minimum.accumulate(ls, axis=-1)
    prev = np.concatenate([np.full(ls.shape[:-1] + (1,), np.inf), running[..., :-1]], axis=-1)
    return order, ls < prev


def _curve_matrix(logC: np.ndarray, logL: np.ndarray, curve: np.ndarray, R: int, grid: np.ndarray) -> np.ndarray:
    """(R, M) log loss of each curve at each grid log C, linear in log-log; NaN outside its span."""
    order = np.lexsort((logC, curve))
    x, y, r = logC[order], logL[order], curve[order]
    seg = np.flatnonzero(r[:-1] == r[1:])  # segment i joins points i and i + 1 of one curve
    x0, x1, y0, y1 = x[seg], x[seg + 1], y[seg], y[seg + 1]
    lo = np.searchsorted(grid, x0, side="left")
    hi = np.searchsorted(grid, x1, side="right")
    n = np.maximum(hi - lo, 0)
    V = np.full((R, grid.shape[0]), np.nan)
    total = int(n.sum())
    if total:
        which = np.repeat(np.arange(seg.shape[0]), n)
        m = lo[which] + (np.arange(total) - np.repeat(np.cumsum(n) - n, n))
        t = (grid[m] - x0[which]) / (x1[which] - x0[which])
        V[r[seg][which], m] = y0[which] + t * (y1[which] - y0[which])
    return V


def _envelope(V: np.ndarray, logN_curve: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per grid column: the winning curve, its value, coverage and whether it is at the edge.

    `V` is (..., R, M); `logN_curve` (..., R) matches it.
    """
    covered_by = np.isfinite(V)
    Vinf = np.where(covered_by, V, np.inf)
    best = np.argmin(Vinf, axis=-2)
    value = np.take_along_axis(Vinf, best[..., None, :], axis=-2)[..., 0, :]
    covered = np.isfinite(value)
    lN = logN_curve[..., :, None]
    lN_best = np.take_along_axis(np.broadcast_to(lN, V.shape), best[..., None, :], axis=-2)[..., 0, :]
    lN_min = np.where(covered_by, lN, np.inf).min(-2)
    lN_max = np.where(covered_by, lN, -np.inf).max(-2)
    at_edge = covered & ((lN_best <= lN_min) | (lN_best >= lN_max))
    return best, value, covered, at_edge


def _curve_ids(curves: Any, runs: Runs) -> np.ndarray:
    if curves is True:
        if runs.group is None:
            raise ValueError("curves=True takes each row's run id from runs.group, but runs.group is None: pass curves=ARRAY of run ids")
        return runs.group
    if isinstance(curves, (bool, str, bytes)):
        raise TypeError(f"curves must be None, True or an array of per-row run ids, got {curves!r}")
    ids = np.asarray(curves)
    if ids.shape != (len(runs),):
        raise ValueError(f"curves must hold one run id per row of runs: expected shape ({len(runs)},), got {ids.shape}")
    if ids.dtype == object:
        raise TypeError("curves must be an array of numbers or strings (run ids), got dtype object")
    return ids


def approach1(
    runs: Runs,
    *,
    curves: Any = None,
    n_grid: int = 100,
    C_range: tuple[float, float] | None = None,
    bootstrap: int = 0,
    key: jax.Array | None = None,
    percentiles: Sequence[float] = (2.5, 97.5),
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> Approach1Result:
    """The lower envelope of loss against FLOPs (Hoffmann et al. 2022, Approach 1).

    Two kinds of input:

    - `curves=None` (default): each row of `runs` is a finished run. The envelope is the
      lower-left Pareto frontier of (C, loss): each run whose loss is below that of every run
      with smaller C (and the lowest at its own C). Its points keep their own N and D.
    - Training curves: each row is a checkpoint `(N, D, loss)` of a run, with C its FLOPs so
      far; `curves` names each row's run: an array of run ids (numbers or strings), or True
      to use `runs.group`. Every checkpoint of a run must have the same N. On `n_grid` values
      of C log-spaced over `C_range` (default: all checkpoints' range), each run's loss is
      interpolated linearly in (log C, log loss), only inside the span of its checkpoints,
      and the run with the lowest loss there gives the envelope's N, with `D = C / (6 N)`.
      A grid point whose best run is the smallest or largest N covering it is flagged
      `at_edge` and left out of the fits (the optimum may lie beyond the sizes tried).

    Then power laws `N = k_N C^a` and `D = k_D C^b` by least squares in log-log over the
    envelope's usable points (fewer than 3 is flagged `too_few_points`).

    Args:
        runs: finished runs, or training-curve checkpoints (then give `curves`).
        curves: None, True, or an array of one run id per row (see above).
        n_grid: curves only: how many log-spaced values of C the envelope is taken at.
        C_range: curves only: `(low, high)` FLOPs of that grid.
        bootstrap: B resamples with replacement of the finished runs, or of whole curves,
            each refitted exactly as the point estimate. Needs `key`.
        key, percentiles, flops_per_param_token: as in `approach2`.

    Raises:
        TypeError: runs is not a `Runs`, bad `curves` type, key not a PRNG key.
        ValueError: bad options; curves whose checkpoints disagree on N or repeat a C; fewer
            than 2 usable envelope points.
    """
    runs = _check_runs(runs)
    B, key, pct = _check_bootstrap(bootstrap, key, percentiles)
    k = _check_k(flops_per_param_token)
    notes: list[str] = []
    if curves is None:
        if C_range is not None:
            raise ValueError("C_range applies to training curves (curves=...), not to finished runs")
        return _approach1_runs(runs, B, key, pct, notes)
    n_grid = _validate.check_int("n_grid", n_grid, minimum=2)
    ids = _curve_ids(curves, runs)
    curve_ids, curve = np.unique(ids, return_inverse=True)
    R = curve_ids.shape[0]
    logN = np.log(runs.N)
    # One N per curve.
    lN_min = np.full(R, np.inf)
    lN_max = np.full(R, -np.inf)
    np.minimum.at(lN_min, curve, logN)
    np.maximum.at(lN_max, curve, logN)
    bad = np.flatnonzero(lN_max - lN_min > _SAME_N_RTOL)
    if bad.size:
        r = int(bad[0])
        rows = np.flatnonzero(curve == r)
        i = rows[np.argmin(logN[rows])]
        j = rows[np.argmax(logN[rows])]
        raise ValueError(
            f"curves: run {curve_ids[r].item()!r} has checkpoints with different N (row {i + 1}: N={runs.N[i]:.6g}; "
            f"row {j + 1}: N={runs.N[j]:.6g}); a training curve is one model"
        )
    logC = np.log(runs.C)
    order = np.lexsort((logC, curve))
    dup = np.flatnonzero((curve[order][1:] == curve[order][:-1]) & (logC[order][1:] == logC[order][:-1]))
    if dup.size:
        i, j = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise ValueError(f"curves: run {curve_ids[curve[i]].item()!r} has two checkpoints at the same C={runs.C[i]:.6g} (rows {i + 1} and {j + 1})")
    single = np.bincount(curve, minlength=R) == 1
    if single.any():
        notes.append(f"{int(single.sum())} curve(s) with a single checkpoint span no interval of C and are not used")
    if C_range is None:
        lo, hi = float(logC.min()), float(logC.max())
    else:
        try:
            c_lo, c_hi = (_validate.positive_scalar("C_range", c) for c in C_range)
        except TypeError:
            raise TypeError(f"C_range must be two FLOP values (low, high), got {C_range!r}") from None
        if not c_lo < c_hi:
            raise ValueError(f"C_range must be (low, high) with low < high, got {C_range!r}")
        lo, hi = math.log(c_lo), math.log(c_hi)
    grid = np.linspace(lo, hi, n_grid)
    V = _curve_matrix(logC, np.log(runs.loss), curve, R, grid)
    logN_curve = lN_min
    best, value, covered, at_edge = _envelope(V, logN_curve)
    used = covered & ~at_edge
    if (~covered).any():
        notes.append(f"{int((~covered).sum())} of {n_grid} grid values of C are covered by no curve")
    if at_edge.any():
        notes.append(f"{int(at_edge.sum())} envelope point(s) at the edge of the sizes tried (smallest or largest N covering that C): left out of the fits")
    keep = np.flatnonzero(covered)
    C_env = np.exp(grid[keep])
    N_curve = np.empty(R)
    N_curve[curve] = runs.N  # one N per curve (checked above)
    N_env = N_curve[best[keep]]
    n_used = int(used.sum())
    if n_used < 2:
        raise ValueError(
            f"Approach 1 needs at least 2 usable envelope points for the power laws, found {n_used} "
            f"({int(covered.sum())} covered grid points, {int(at_edge.sum())} at the edge of the sizes tried): "
            "give more curves, a wider spread of N, or a narrower C_range"
        )
    if n_used < 3:
        notes.append(f"only {n_used} usable envelope points: the power laws rest on 2 points")
    y_N = logN_curve[best]
    a, logk_N, a_err, n_pts = _line_fit(grid, y_N, used)
    b, logk_D, b_err, _ = _line_fit(grid, grid - math.log(k) - y_N, used)
    boot = None
    if B:
        boot = _approach1_curves_bootstrap(V, logN_curve, grid, key, B, pct, k)
        _bootstrap_notes(boot, notes)
    return Approach1Result(
        mode="curves", C=C_env, N=N_env, D=C_env / (k * N_env), loss=np.exp(value[keep]),
        run=best[keep], at_edge=at_edge[keep], used=used[keep], too_few_points=n_used < 3,
        N_law=PowerLaw(float(a), float(_exp(logk_N)), float(a_err), int(n_pts)),
        D_law=PowerLaw(float(b), float(_exp(logk_D)), float(b_err), int(n_pts)),
        bootstrap=boot, curve_ids=curve_ids, notes=tuple(notes + list(runs.notes)),
    )


def _bootstrap_notes(boot: Bootstrap, notes: list[str]) -> None:
    if boot.n_degraded:
        notes.append(f"bootstrap: {boot.n_degraded} of {boot.n_resamples} resamples had fewer than 3 usable envelope points")
    if boot.n_failed:
        notes.append(f"bootstrap: {boot.n_failed} of {boot.n_resamples} resamples had fewer than 2; left out of the intervals")


def _approach1_runs(runs: Runs, B: int, key: Any, pct: tuple[float, float], notes: list[str]) -> Approach1Result:
    logC, logN, logD = np.log(runs.C), np.log(runs.N), np.log(runs.D)
    order, on = _frontier(runs.C, runs.loss)
    env = order[on]
    n_env = int(env.shape[0])
    if n_env < 2:
        raise ValueError(
            f"Approach 1 needs at least 2 envelope points for the power laws, found {n_env}: "
            f"the run with the lowest loss also has the smallest C (row {int(env[0]) + 1})"
        )
    if n_env < 3:
        notes.append("only 2 runs on the envelope: the power laws rest on 2 points")
    mask = np.ones(n_env, dtype=bool)
    a, logk_N, a_err, _ = _line_fit(logC[env], logN[env], mask)
    b, logk_D, b_err, _ = _line_fit(logC[env], logD[env], mask)
    if not np.isfinite(a):
        raise ValueError("the envelope's runs all have the same C: no power law in C")
    boot = None
    if B:
        n = len(runs)
        names = ("a", "b", "k_N", "k_D")
        samples = {nm: np.empty(B) for nm in names}
        n_degraded = 0
        for start, count in _chunks(B, n):
            idx = _resample_indices(key, start, count, np.array([n]), n)[:, 0, :]
            o, m = _frontier(runs.C[idx], runs.loss[idx])
            rows = np.take_along_axis(idx, o, axis=-1)
            x = logC[rows]
            sa, ia, _, cnt = _line_fit(x, logN[rows], m)
            sb, ib, _, _ = _line_fit(x, logD[rows], m)
            n_degraded += int((cnt < 3).sum())
            sl = slice(start, start + count)
            samples["a"][sl], samples["b"][sl] = sa, sb
            samples["k_N"][sl], samples["k_D"][sl] = _exp(ia), _exp(ib)
        boot = Bootstrap(samples=samples, percentiles=pct, n_resamples=B, n_failed=int((~np.isfinite(samples["a"])).sum()), n_degraded=n_degraded)
        _bootstrap_notes(boot, notes)
    return Approach1Result(
        mode="runs", C=runs.C[env], N=runs.N[env], D=runs.D[env], loss=runs.loss[env], run=env,
        at_edge=np.zeros(n_env, dtype=bool), used=mask, too_few_points=n_env < 3,
        N_law=PowerLaw(float(a), float(_exp(logk_N)), float(a_err), n_env),
        D_law=PowerLaw(float(b), float(_exp(logk_D)), float(b_err), n_env),
        bootstrap=boot, notes=tuple(notes + list(runs.notes)),
    )


def _approach1_curves_bootstrap(V: np.ndarray, logN_curve: np.ndarray, grid: np.ndarray, key: Any, B: int, pct: tuple[float, float], k: float) -> Bootstrap:
    R, M = V.shape
    names = ("a", "b", "k_N", "k_D")
    samples = {nm: np.empty(B) for nm in names}
    n_degraded = 0
    for start, count in _chunks(B, R * M):
        idx = _resample_indices(key, start, count, np.array([R]), R)[:, 0, :]
        lN = logN_curve[idx]
        best, _, covered, at_edge = _envelope(V[idx], lN)
        used = covered & ~at_edge
        y = np.take_along_axis(lN, best, axis=-1)
        x = np.broadcast_to(grid, used.shape)
        sa, ia, _, cnt = _line_fit(x, np.where(used, y, 0.0), used)
        sb, ib, _, _ = _line_fit(x, np.where(used, x - math.log(k) - y, 0.0), used)
        n_degraded += int((cnt < 3).sum())
        sl = slice(start, start + count)
        samples["a"][sl], samples["b"][sl] = sa, sb
        samples["k_N"][sl], samples["k_D"][sl] = _exp(ia), _exp(ib)
    return Bootstrap(samples=samples, percentiles=pct, n_resamples=B, n_failed=int((~np.isfinite(samples["a"])).sum()), n_degraded=n_degraded)
