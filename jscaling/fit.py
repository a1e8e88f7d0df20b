"""Approach 3: fit a law to training runs from thousands of starts, as one compiled program.

`fit(runs)` minimises `jscaling.objective.objective` (Huber on log residuals, summed) from
Hoffmann et al.'s 4,500-start grid by default, every start in one jitted program, and returns
a `FitResult`: the best parameters (natural and raw), per-start objectives, result codes and
evaluation counts, warnings, the compute-optimal exponents and `predict`. `holdout` fits the
runs below a compute (or size) cut and reports the error on the runs above it. Starts:
`grid_starts` (the default grid), `random_starts`, and `screen_starts` (evaluate millions of
candidates, refine the best k).

The optimiser. Every start is a *lane*. Lanes advance in lockstep, one batched value-and-
gradient evaluation per iteration, with no inner loop and no `cond` (under `vmap` a `cond` runs
both branches and every lane waits for the slowest line search). The direction is optax's
L-BFGS (`optax.scale_by_lbfgs`, memory 10, one state per lane); the step is a backtracking
(Armijo) line search spread across iterations: a lane whose trial point fails the test shrinks
its step and tries again at the next iteration while the others move on. A lane whose memory
gives no descent direction starts over along the steepest descent. Each lane stops on its own
(the gradient's largest component below `gtol`, an accepted step lowering the objective by less
than `ftol` relative, `max_steps` evaluations, or a line search with nothing left to try) and
carries a result code (`RESULT_MESSAGES`).

Lanes run from a work queue: 256 slots are evaluated together (on the CPU; up to 4,096 on an
accelerator, as its memory allows), and a slot whose lane stops loads the next start, so no
evaluation is spent on finished lanes. Measured here on the 240
Chinchilla runs (2-core CPU): a lane takes about 92 evaluations (scipy's L-BFGS-B about 95),
one evaluation costs about 2.5 microseconds per lane, and the slowest lane 1,000; lockstep over
all 4,500 lanes took 13.7 s, the queue 1.3 s (1,024 slots: 3.0 s; the arrays leave the cache).

What was measured against this, on the same runs and starts:
- damped Newton (Levenberg-Marquardt) on exact 5x5 Hessians: 80-95 evaluations per lane, not
  fewer (the kinks of the Huber loss at |r| = delta defeat its quadratic model as much as they
  slow L-BFGS), each 2.6-4.7x the cost of a value-and-gradient evaluation, and lanes stalled
  with the damping at its cap;
- BFGS on a dense 5x5 inverse Hessian per lane, skipping pairs with s.y <= 0: 127 lanes
  crawled to max_steps (521,000 evaluations against 415,000);
- an unrolled L-BFGS two-loop: the same evaluations as optax's only when a pair with
  s.y <= 0 clears the memory, as optax's update effectively does, and no faster.

The objective is divided by `delta` inside the solver and reported undivided: the tolerances
(scipy's L-BFGS-B defaults) assume that scale; undivided, the gradient is 1,000 times smaller
and L-BFGS stops early. Fits run in float64 inside
`x64_scope()` (the user's global flag is left alone); in float32 the gradient-norm test never
fires.

Where jit goes: one program per (law, objective structure, frozen and tied parameters, number
of starts, number of runs), cached: a second fit of the same shapes does not recompile (the
data, starts, delta, asymmetry, tolerances and max_steps are traced). Inputs are checked
before it and the result is built after it; failure is data inside (codes), an exception
outside (`throw=True`).

Several devices (one host or many, `jscaling.distributed`): the starts are split into D
contiguous blocks (padded to a multiple of D with copies of the last start, whose results are
dropped) and each device runs the same queue program on its block (`jax.shard_map` over the
one-axis mesh of all devices, the runs replicated, no collectives: each queue stops on its
own); the per-start results are gathered to every process and the best is picked on the host.
Every device gets as many slots as one device would (`_slots`: a multiple of 32, so that no
lane sits in a vector tail), so each start runs the same arithmetic whatever the device count
and the results are bit-identical to one device's (checked on 4 CPU devices in
tests/test_sharding.py). `screen_starts` splits its chunks of candidates the same way and
merges the D top-k lists on the host. With one device, the single-device program runs as is.
Measured on the 4,500-start fit of the 240 Chinchilla runs: one device takes 1,988 batched
iterations, each of 4 devices at most 1,049 (the slowest start alone needs 1,000), so about
half the time on 4 real devices; 4 fake CPU devices sharing 2 cores are slower than one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jscaling import _io, _runtime, _validate, identify
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.data import Runs
from jscaling.laws import ChinchillaParams, Law
from jscaling.objective import (
    DEFAULT_DELTA,
    FitData,
    FitForm,
    Parameterisation,
    Spec,
    check_options,
    check_weights,
    fit_data,
    get_form,
    parameterisation,
    value_and_grad,
)

__all__ = [
    "fit",
    "FitResult",
    "FitError",
    "holdout",
    "HoldoutResult",
    "grid_starts",
    "random_starts",
    "screen_starts",
    "RESULT_MESSAGES",
]

ArrayLike = Any

# --------------------------------------------------------------------------- result codes

RUNNING, GTOL, FTOL, MAX_STEPS, LINE_SEARCH, NONFINITE = -1, 0, 1, 2, 3, 4
RESULT_MESSAGES = {
    GTOL: "converged: the gradient's largest component fell below gtol",
    FTOL: "converged: the relative decrease of the objective fell below ftol",
    MAX_STEPS: "did not converge within max_steps evaluations: increase max_steps",
    LINE_SEARCH: "stopped: the line search found no decrease along the steepest-descent direction "
    "(the objective is flat or not smooth here); try other starts, or loosen gtol",
    NONFINITE: "failed: the objective is not finite at the start (the start lies outside the law's "
    "domain, or the law overflows there); this start is never chosen",
}
"""What each per-start result code means."""

_C1 = 1e-4  # Armijo constant
_MEMORY = 10  # L-BFGS memory (scipy's default)
_SLOTS = 256  # lanes evaluated together (per device) on the CPU
_ACCELERATOR_SLOTS = 4096  # the most an accelerator evaluates together
_SLOT_MULTIPLE = 32


class FitError(RuntimeError):
    """The best start did not converge and `throw=True` was given."""


# --------------------------------------------------------------------------- L-BFGS


def _lbfgs_reset(x: jax.Array, g: jax.Array) -> optax.ScaleByLBFGSState:
    """The state optax's L-BFGS holds after one update at `(x, g)`: an empty memory."""
    W, K = x.shape
    zeros = jnp.zeros((W, _MEMORY, K), x.dtype)
    return optax.ScaleByLBFGSState(
        count=jnp.ones((W,), jnp.int32), params=x, updates=g,
        diff_params_memory=zeros, diff_updates_memory=zeros, weights_memory=jnp.zeros((W, _MEMORY), x.dtype),
    )


# --------------------------------------------------------------------------- the program


@dataclasses.dataclass(frozen=True)
class _Config:
    """Everything static about one compiled solve."""

    form: FitForm
    spec: Spec
    param: Parameterisation  # with const=() (the constants are traced)
    slots: int
    group: int  # lanes per weight row (bootstrap), 0 when every lane shares the runs' weights
    n_groups: int


class _State(NamedTuple):
    idx: jax.Array  # (W,) lane in each slot, S when the slot is empty
    x: jax.Array  # (W, K)
    f: jax.Array
    g: jax.Array
    d: jax.Array
    t: jax.Array
    lb: optax.ScaleByLBFGSState  # one per slot
    steps: jax.Array
    fresh: jax.Array  # the slot's lane has not been evaluated yet
    next: jax.Array  # next lane to load
    out: jax.Array  # (S, K + 4): x, f, max |g|, steps, code per lane
    iterations: jax.Array  # batched evaluations so far


def _where(mask: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b), new, old)


def _steepest(g: jax.Array) -> jax.Array:
    """The first step of a lane: `-g` capped to unit length (optax's L-BFGS convention)."""
    norm = jnp.sqrt(jnp.sum(g * g, axis=-1, keepdims=True))
    return -g * jnp.minimum(1.0, 1.0 / jnp.where(norm > 0, norm, 1.0))


def _evaluator(cfg: _Config, data: FitData, lane_weight: jax.Array | None, const: jax.Array, delta: jax.Array, asym: jax.Array) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """`(free vectors (W, K), lane ids (W,)) -> (objective / delta, gradient)`."""
    kernel = value_and_grad(cfg.form)

    def vg(x: jax.Array, lanes: jax.Array) -> tuple[jax.Array, jax.Array]:
        full = cfg.param.expand(x, const)
        w = data.weight if lane_weight is None else lane_weight[lanes // cfg.group]
        f, g = kernel(cfg.form, cfg.spec, full, data, w, delta, asym)
        return f, cfg.param.contract(g)

    return vg


def _solve(cfg: _Config, vg: Callable[..., tuple[jax.Array, jax.Array]], X0: jax.Array, gtol: jax.Array, ftol: jax.Array, max_steps: jax.Array) -> _State:
    """Runs every lane (row of `X0`) to its stop; returns the final state (results in `out`)."""
    S, K = X0.shape
    W = cfg.slots  # may exceed S: the slots beyond it stay empty
    dtype = X0.dtype
    lbfgs = optax.scale_by_lbfgs(memory_size=_MEMORY)

    def body(st: _State) -> _State:
        busy = st.idx < S
        lanes = jnp.minimum(st.idx, S - 1)
        xt = jnp.where(st.fresh[:, None], X0[lanes], st.x + st.t[:, None] * st.d)
        ft, gt = vg(xt, lanes)
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt), axis=-1)
        ft = jnp.where(finite, ft, jnp.inf)
        slope = jnp.sum(st.g * st.d, axis=-1)
        started = busy & st.fresh & finite
        armijo = busy & ~st.fresh & finite & (ft <= st.f + _C1 * st.t * slope)
        accept = started | armijo

        # The L-BFGS direction at accepted points. A fresh lane, or one whose memory gives no
        # descent direction (a pair with s.y <= 0, possible with a backtracking line search),
        # starts over from an empty memory along the steepest descent.
        u, lb_new = jax.vmap(lbfgs.update)(gt, st.lb, xt)
        d_new = -u
        descent = ~st.fresh & (jnp.sum(gt * d_new, axis=-1) < 0)
        d_new = jnp.where(descent[:, None], d_new, _steepest(gt))

        gmax = jnp.max(jnp.abs(gt), axis=-1)
        conv_g = accept & (gmax <= gtol)
        scale = jnp.maximum(jnp.maximum(jnp.abs(st.f), jnp.abs(ft)), 1.0)
        conv_f = armijo & (st.f - ft <= ftol * scale)

        # Backtracking: the minimiser of the quadratic through f, slope and f(t), within [0.1t, 0.5t].
        curvature = 2.0 * (ft - st.f - slope * st.t)
        t_quad = jnp.where(finite & (curvature > 0), -slope * st.t * st.t / jnp.where(curvature > 0, curvature, 1.0), 0.1 * st.t)
        t_next = jnp.clip(t_quad, 0.1 * st.t, 0.5 * st.t)
        reject = busy & ~st.fresh & ~armijo
        step_max = t_next * jnp.max(jnp.abs(st.d), axis=-1)
        exhausted = reject & (step_max <= 1e-15 * (1.0 + jnp.max(jnp.abs(st.x), axis=-1)))
        restart = exhausted & (st.lb.count > 1)  # retry along the steepest descent, memory cleared
        failed = exhausted & (st.lb.count <= 1)

        x = jnp.where(accept[:, None], xt, st.x)
        f = jnp.where(accept, ft, st.f)
        g = jnp.where(accept[:, None], gt, st.g)
        d = jnp.where(accept[:, None], d_new, jnp.where(restart[:, None], _steepest(st.g), st.d))
        t = jnp.where(accept | restart, 1.0, t_next)
        # Lanes that start over (fresh, no descent, or a failed line search) get an empty memory at x.
        reset = (accept & ~descent) | restart
        lb = _where(accept & descent, lb_new, _where(reset, _lbfgs_reset(x, g), st.lb))
        steps = st.steps + busy.astype(jnp.int32)

        code = jnp.full(busy.shape, RUNNING, jnp.int32)
        code = jnp.where(busy & (steps >= max_steps), MAX_STEPS, code)
        code = jnp.where(failed, LINE_SEARCH, code)
        code = jnp.where(conv_f, FTOL, code)
        code = jnp.where(conv_g, GTOL, code)
        code = jnp.where(busy & st.fresh & ~finite, NONFINITE, code)
        done = busy & (code != RUNNING)

        bad = code == NONFINITE
        row = jnp.concatenate([
            x, jnp.where(bad, jnp.nan, f)[:, None], jnp.where(bad, jnp.nan, jnp.max(jnp.abs(g), axis=-1))[:, None],
            steps[:, None].astype(dtype), code[:, None].astype(dtype),
        ], axis=1)
        # Finished slots load the next starts from the queue.
        rank = jnp.cumsum(done.astype(jnp.int32)) - 1
        loaded = st.next + rank
        new_idx = jnp.where(done, jnp.where(loaded < S, loaded, S), st.idx)
        return _State(
            idx=new_idx.astype(jnp.int32), x=x, f=f, g=g, d=d, t=t, lb=lb,
            steps=jnp.where(done, 0, steps), fresh=done & (new_idx < S),
            next=jnp.minimum(st.next + jnp.sum(done.astype(jnp.int32)), S).astype(jnp.int32),
            out=st.out.at[jnp.where(done, st.idx, S)].set(row, mode="drop"),
            iterations=st.iterations + 1,
        )

    slot = jnp.arange(W, dtype=jnp.int32)
    if W <= S:
        x0, idx, fresh = X0[:W], slot, jnp.ones((W,), bool)
    else:
        x0, idx, fresh = X0[jnp.minimum(slot, S - 1)], jnp.minimum(slot, S), slot < S
    state = _State(
        idx=idx, x=x0, f=jnp.full((W,), jnp.inf, dtype), g=jnp.zeros((W, K), dtype),
        d=jnp.zeros((W, K), dtype), t=jnp.ones((W,), dtype), lb=_lbfgs_reset(x0, jnp.zeros_like(x0)),
        steps=jnp.zeros((W,), jnp.int32), fresh=fresh, next=jnp.asarray(min(W, S), jnp.int32),
        out=jnp.full((S, K + 4), jnp.nan, dtype), iterations=jnp.asarray(0, jnp.int32),
    )
    return jax.lax.while_loop(lambda st: jnp.any(st.idx < S), body, state)


class _Out(NamedTuple):
    x: jax.Array  # (S, K) free values
    f: jax.Array  # (S,) objective / delta
    gmax: jax.Array
    steps: jax.Array
    code: jax.Array
    best: jax.Array  # (G,) best lane of each group
    iterations: jax.Array  # batched evaluations the solve took


# The best lane and the unpacked columns are picked inside the program, not on the host as
# `_run_sharded` must: returning the loop's `out` rows instead (whole, or as two slices) made the
# solve itself slower, 1.12-1.45 s against 1.36-1.67 s for the 4,500-start fit (same 1,906
# iterations; measured in alternation on this 2-core machine).
@functools.partial(jax.jit, static_argnames=("cfg",))
def _program(cfg: _Config, data: FitData, X0: jax.Array, lane_weight: jax.Array | None, const: jax.Array, delta: jax.Array, asym: jax.Array, gtol: jax.Array, ftol: jax.Array, max_steps: jax.Array) -> _Out:
    vg = _evaluator(cfg, data, lane_weight, const, delta, asym)
    st = _solve(cfg, vg, X0, gtol, ftol, max_steps)
    S, K = X0.shape
    per = S // cfg.n_groups
    f = st.out[:, K]
    ranked = jnp.where(jnp.isfinite(f), f, jnp.inf).reshape(cfg.n_groups, per)
    best = jnp.argmin(ranked, axis=1).astype(jnp.int32) + jnp.arange(cfg.n_groups, dtype=jnp.int32) * per
    return _Out(
        x=st.out[:, :K], f=f, gmax=st.out[:, K + 1], steps=st.out[:, K + 2].astype(jnp.int32),
        code=st.out[:, K + 3].astype(jnp.int32), best=best, iterations=st.iterations,
    )


@functools.partial(jax.jit, static_argnames=("cfg", "mesh"))
def _sharded_program(cfg: _Config, mesh: Any, data: FitData, X0: jax.Array, lane_weight: jax.Array | None, const: jax.Array, delta: jax.Array, asym: jax.Array, gtol: jax.Array, ftol: jax.Array, max_steps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`_solve` once per device of `mesh` on its contiguous block of lanes: D independent queues.

    Returns every lane's row of `out` (sharded like `X0`) and each device's iteration count.
    """

    def per_device(data: FitData, X0: jax.Array, lane_weight: jax.Array | None, const: jax.Array, delta: jax.Array, asym: jax.Array, gtol: jax.Array, ftol: jax.Array, max_steps: jax.Array) -> tuple[jax.Array, jax.Array]:
        st = _solve(cfg, _evaluator(cfg, data, lane_weight, const, delta, asym), X0, gtol, ftol, max_steps)
        return st.out, st.iterations[None]

    rows, whole = _runtime.batch_spec(), jax.sharding.PartitionSpec()
    run = _runtime.shard_map(per_device, mesh, in_specs=(whole, rows, rows, whole, whole, whole, whole, whole, whole), out_specs=(rows, rows))
    return run(data, X0, lane_weight, const, delta, asym, gtol, ftol, max_steps)


def _slots(lanes: int, n_runs: int, itemsize: int) -> int:
    """Queue slots per device for `lanes` lanes in all: 256 on the CPU (measured, see the module
    docstring), on an accelerator as many as its memory comfortably holds, up to 4,096; fewer
    lanes round up to a multiple of 32 (the extra slots stay empty).

    Every device gets the same number of slots, whatever the device count, and no slot falls in
    a vector tail: each lane then runs the same arithmetic wherever it runs (measured on XLA:CPU:
    a (W, runs) evaluation gives a row bit-identical results at any position when W is a
    multiple of 8, but not when the row sits in the tail, or for some W below 32).
    """
    cap = _runtime.lanes_per_device(16 * n_runs * itemsize, cpu=_SLOTS, cap=_ACCELERATOR_SLOTS)
    cap = max(_SLOT_MULTIPLE, cap - cap % _SLOT_MULTIPLE)
    return min(cap, _runtime.round_up(lanes, _SLOT_MULTIPLE))


def _run_program(
    form: FitForm, spec: Spec, param: Parameterisation, data: FitData, X0: np.ndarray, *, lane_weight: np.ndarray | None,
    group: int, n_groups: int, delta: float, asymmetry: float, gtol: float, ftol: float, max_steps: int, dtype: np.dtype,
) -> dict[str, np.ndarray]:
    """Runs every lane (row of `X0`); lanes come in `n_groups` groups of `group` (bootstrap:
    one group per resample, reading row `lane // group` of `lane_weight`), or one group."""
    mesh = _runtime.batch_mesh()
    if mesh is not None:
        return _run_sharded(
            mesh, form, spec, param, data, X0, lane_weight=lane_weight, group=group, n_groups=n_groups, delta=delta,
            asymmetry=asymmetry, gtol=gtol, ftol=ftol, max_steps=max_steps, dtype=dtype,
        )
    slots = _slots(X0.shape[0], data.target.shape[0], np.dtype(dtype).itemsize)
    cfg = _Config(form=form, spec=spec, param=dataclasses.replace(param, const=()), slots=slots, group=group, n_groups=n_groups)
    out = _program(
        cfg, data, jnp.asarray(X0, dtype), None if lane_weight is None else jnp.asarray(lane_weight, dtype),
        jnp.asarray(param.const, dtype), jnp.asarray(delta, dtype), jnp.asarray(asymmetry, dtype),
        jnp.asarray(gtol, dtype), jnp.asarray(ftol, dtype), jnp.asarray(max_steps, jnp.int32),
    )
    return {k: np.asarray(v) for k, v in out._asdict().items()}


def _run_sharded(
    mesh: Any, form: FitForm, spec: Spec, param: Parameterisation, data: FitData, X0: np.ndarray, *, lane_weight: np.ndarray | None,
    group: int, n_groups: int, delta: float, asymmetry: float, gtol: float, ftol: float, max_steps: int, dtype: np.dtype,
) -> dict[str, np.ndarray]:
    """`_run_program` over the devices of `mesh`: the lanes split into contiguous blocks, one
    queue per device, results gathered (across hosts too) and the best picked on the host.

    The lanes are padded to a multiple of the device count with copies of the last start (for
    the bootstrap, of the last resample: whole groups), whose results are dropped.
    """
    n_dev = mesh.size
    S, K = X0.shape
    unit = group if lane_weight is not None else 1  # lanes per padding unit
    units = S // unit
    padded = _runtime.round_up(units, n_dev)
    X = _runtime.pad_rows(np.asarray(X0, dtype).reshape(units, unit, K), padded).reshape(padded * unit, K)
    weights = None if lane_weight is None else _runtime.pad_rows(np.asarray(lane_weight, dtype), padded)
    slots = _slots(S, data.target.shape[0], np.dtype(dtype).itemsize)  # as on one device
    cfg = _Config(form=form, spec=spec, param=dataclasses.replace(param, const=()), slots=slots, group=group, n_groups=0)
    whole = [np.asarray(v, dtype) for v in (param.const, delta, asymmetry, gtol, ftol)]
    rows, iterations = _sharded_program(
        cfg, mesh, _runtime.replicate(jax.tree_util.tree_map(np.asarray, data), mesh), _runtime.shard_leading(X, mesh),
        None if weights is None else _runtime.shard_leading(weights, mesh), *(_runtime.replicate(v, mesh) for v in whole),
        _runtime.replicate(np.asarray(max_steps, np.int32), mesh),
    )
    rows = _runtime.to_host(rows)[:S]
    f = rows[:, K]
    per = S // n_groups
    ranked = np.where(np.isfinite(f), f, np.inf).reshape(n_groups, per)
    best = (np.argmin(ranked, axis=1) + np.arange(n_groups) * per).astype(np.int32)
    return {
        "x": rows[:, :K], "f": f, "gmax": rows[:, K + 1], "steps": rows[:, K + 2].astype(np.int32),
        "code": rows[:, K + 3].astype(np.int32), "best": best, "iterations": _runtime.to_host(iterations).max(),
    }


# --------------------------------------------------------------------------- starts


def _resolve_form(law: Any, starts: Any = None) -> FitForm:
    kind = type(starts) if starts is not None and hasattr(starts, "_fields") else None
    return get_form(law, kind)


def grid_starts(law: str | Law = "chinchilla", **axes: Sequence[float]) -> Any:
    """The product grid of start values, a raw-parameter batch (every field an array of length S).

    Axes default to the law's grid (for Chinchilla, Hoffmann et al.'s: alpha, beta in
    {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}: 4,500 starts); give
    any raw field to replace its axis, e.g. `grid_starts(alpha=[0.2, 0.3, 0.4])`.
    """
    form = _resolve_form(law)
    unknown = set(axes) - set(form.fields)
    if unknown:
        raise ValueError(f"grid_starts: unknown field(s) {sorted(unknown)} for law {form.name!r}; the raw fields are {list(form.fields)}")
    values = []
    for f in form.fields:
        axis = axes.get(f, form.grid.get(f))
        if axis is None:
            raise ValueError(f"grid_starts: law {form.name!r} has no default values for {f!r}; give {f}=[...]")
        arr = _validate.as_float_array(f"grid_starts({f}=...)", axis).reshape(-1)
        if arr.size == 0:
            raise ValueError(f"grid_starts: the axis {f!r} is empty")
        _validate.check_finite(f"grid_starts({f}=...)", arr)
        values.append(arr)
    mesh = np.meshgrid(*values, indexing="ij")
    return form.raw_type(*[m.reshape(-1) for m in mesh])


def random_starts(key: jax.Array, n: int, law: str | Law = "chinchilla", *, low: Mapping[str, float] | None = None, high: Mapping[str, float] | None = None) -> Any:
    """`n` starts drawn uniformly from a box (default: the span of the law's start grid)."""
    n = _validate.check_int("n", n, minimum=1)
    form = _resolve_form(law)
    low = dict(low or {})
    high = dict(high or {})
    lo, hi = [], []
    for f in form.fields:
        grid = form.grid.get(f)
        a = low.get(f, min(grid) if grid else None)
        b = high.get(f, max(grid) if grid else None)
        if a is None or b is None:
            raise ValueError(f"random_starts: law {form.name!r} has no default range for {f!r}; give low and high")
        if not (math.isfinite(a) and math.isfinite(b)) or b < a:
            raise ValueError(f"random_starts: the range of {f!r} must be finite with low <= high, got [{a}, {b}]")
        lo.append(a)
        hi.append(b)
    with _runtime.x64_scope():
        u = np.asarray(jax.random.uniform(key, (n, len(lo)), dtype=jnp.float64))
    values = np.asarray(lo) + u * (np.asarray(hi) - np.asarray(lo))
    return form.raw_type(*values.T)


def _screen_lanes(form: FitForm, spec: Spec, data: FitData, chunks: jax.Array, valid: jax.Array, delta: jax.Array, asym: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """A running top-k (lowest objective) over `chunks` of candidates, scanned one at a time;
    only the first `valid[i]` rows of chunk i count (the rest pad)."""
    kernel = value_and_grad(form)
    rows = jnp.arange(chunks.shape[1])

    def step(carry: tuple[jax.Array, jax.Array], xs: tuple[jax.Array, jax.Array]) -> tuple[tuple[jax.Array, jax.Array], None]:
        best_f, best_x = carry
        chunk, n = xs
        f = kernel(form, spec, chunk, data, data.weight, delta, asym)[0]
        f = jnp.where(jnp.isfinite(f) & (rows < n), f, jnp.inf)
        all_f = jnp.concatenate([best_f, f])
        all_x = jnp.concatenate([best_x, chunk])
        neg, pick = jax.lax.top_k(-all_f, k)
        return (-neg, all_x[pick]), None

    init = (jnp.full((k,), jnp.inf, chunks.dtype), jnp.zeros((k, chunks.shape[-1]), chunks.dtype))
    (best_f, best_x), _ = jax.lax.scan(step, init, (chunks, valid))
    return best_f, best_x


_screen_program = jax.jit(_screen_lanes, static_argnames=("form", "spec", "k"))


@functools.partial(jax.jit, static_argnames=("form", "spec", "k", "mesh"))
def _sharded_screen(form: FitForm, spec: Spec, mesh: Any, data: FitData, chunks: jax.Array, valid: jax.Array, delta: jax.Array, asym: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """`_screen_lanes` once per device on its contiguous share of the chunks: D top-k lists."""
    rows, whole = _runtime.batch_spec(), jax.sharding.PartitionSpec()
    run = _runtime.shard_map(
        lambda data, chunks, valid, delta, asym: _screen_lanes(form, spec, data, chunks, valid, delta, asym, k),
        mesh, in_specs=(whole, rows, rows, whole, whole), out_specs=(rows, rows),
    )
    return run(data, chunks, valid, delta, asym)


def screen_starts(
    runs: Runs, candidates: Any, *, k: int = 64, law: str | Law = "chinchilla", delta: float = DEFAULT_DELTA,
    weights: ArrayLike | None = None, asymmetry: float = 1.0, residuals: str = "log", chunk: int = 4096,
) -> Any:
    """The `k` candidates with the lowest objective: screen a dense set, refine the best.

    Batched objective evaluation is cheap (no gradients, no solver), so millions of candidates
    (from `random_starts` or a dense `grid_starts`) can be screened and only the best `k`
    passed to `fit(..., starts=...)`. One jitted scan over chunks of `chunk` candidates keeps
    a running top-k, so memory stays at one chunk.
    """
    form = _resolve_form(law, candidates)
    delta, asymmetry, spec = check_options(delta=delta, residuals=residuals, asymmetry=asymmetry, reduction="sum")
    k = _validate.check_int("k", k, minimum=1)
    chunk = _validate.check_int("chunk", chunk, minimum=1)
    w = check_weights(runs, weights)
    X = _starts_matrix(form, candidates, "candidates")
    if k > X.shape[0]:
        raise ValueError(f"k = {k} exceeds the {X.shape[0]} candidates")
    mesh = _runtime.batch_mesh()
    n_chunks = _runtime.round_up(-(-X.shape[0] // chunk), 1 if mesh is None else mesh.size)
    # Padding repeats the last candidate (every process must pass the same values: no NaN,
    # which compares unequal) and is masked out by `valid`.
    chunks = _runtime.pad_rows(X, n_chunks * chunk).reshape(n_chunks, chunk, -1)
    valid = np.clip(X.shape[0] - chunk * np.arange(n_chunks), 0, chunk).astype(np.int32)
    with _runtime.x64_scope():
        data = fit_data(runs, w, spec.residuals, jnp.float64)
        if mesh is None:
            _, best_x = _screen_program(form, spec, data, jnp.asarray(chunks), jnp.asarray(valid), jnp.asarray(delta), jnp.asarray(asymmetry), k)
            best_x = np.asarray(best_x)
        else:
            f, x = _sharded_screen(
                form, spec, mesh, _runtime.replicate(jax.tree_util.tree_map(np.asarray, data), mesh), _runtime.shard_leading(chunks, mesh),
                _runtime.shard_leading(valid, mesh), _runtime.replicate(np.float64(delta), mesh), _runtime.replicate(np.float64(asymmetry), mesh), k,
            )
            # Each device's list is sorted with ties in candidate order; a stable sort of the
            # lists in device order keeps that order: the k that one device would pick.
            order = np.argsort(_runtime.to_host(f), kind="stable")[:k]
            best_x = _runtime.to_host(x)[order]
    return form.raw_type(*best_x.T)


_SCREEN_CANDIDATES = 1 << 20  # candidates `starts="screen:K"` evaluates


def _parse_starts(starts: Any) -> tuple[str, int] | None:
    """`("grid", 0)`, `("random", N)` or `("screen", K)` for a starts spec; None for a batch."""
    if starts is None:
        return ("grid", 0)
    spec = starts
    if isinstance(starts, str):
        kind, _, count = starts.partition(":")
        spec = (kind, count) if count else (kind,)
    elif not (isinstance(starts, tuple) and not hasattr(starts, "_fields") and starts and isinstance(starts[0], str)):
        return None
    usage = "starts must be 'grid', 'random:N', 'screen:K' (or ('random', N), ('screen', K)) or a batch of parameters"
    if spec[0] == "grid" and len(spec) == 1:
        return ("grid", 0)
    if spec[0] not in ("random", "screen") or len(spec) != 2:
        raise ValueError(f"{usage}; got {starts!r}")
    try:
        count = int(spec[1])
    except (TypeError, ValueError):
        raise ValueError(f"{usage}; got {starts!r}") from None
    if count < 1:
        raise ValueError(f"{usage}, with N, K >= 1; got {starts!r}")
    return (spec[0], count)


def _starts_matrix(form: FitForm, starts: Any, name: str = "starts") -> np.ndarray:
    """A raw-parameter batch (or natural batch, or an (S, fields) array) as an (S, fields) matrix."""
    if isinstance(starts, form.natural_type) and form.natural_type is not form.raw_type:
        with _runtime.x64_scope():
            starts = form.to_raw(form.natural_type(*[jnp.asarray(np.asarray(v, np.float64)) for v in starts]))
    if isinstance(starts, form.raw_type):
        cols = [np.atleast_1d(_validate.as_float_array(f"{name}.{f}", v)) for f, v in zip(form.fields, starts)]
        lengths = {c.shape for c in cols}
        if len(lengths) != 1 or cols[0].ndim != 1:
            raise ValueError(f"{name}: every field must be a 1-D array of one common length; got shapes {[c.shape for c in cols]}")
        X = np.stack(cols, axis=1)
    elif hasattr(starts, "_fields"):
        raise TypeError(f"{name} must be {form.raw_type.__name__} (or {form.natural_type.__name__}) for law {form.name!r}, got {type(starts).__name__}")
    else:
        X = _validate.as_float_array(name, starts)
        if X.ndim != 2 or X.shape[1] != len(form.fields):
            raise ValueError(f"{name} must be a {form.raw_type.__name__} batch or an array of shape (S, {len(form.fields)}) in the order {list(form.fields)}; got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    bad = np.isnan(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name}: start {i} has {form.fields[j]} = nan")
    return X


def _default_starts(form: FitForm) -> np.ndarray:
    if not form.grid:
        raise ValueError(f"law {form.name!r} has no default start grid: pass starts=")
    return _starts_matrix(form, grid_starts(form.law))


# --------------------------------------------------------------------------- result


@dataclasses.dataclass(frozen=True, repr=False)
class FitResult:
    """The outcome of `fit`.

    Attributes:
        law: the law's name.
        params: the best parameters, natural (`ChinchillaParams` for Chinchilla).
        raw: the best parameters as fitted (`ChinchillaLogParams` for Chinchilla).
        objective: `sum_i w_i Huber_delta(r_i)` at the best start (not divided by delta).
        best_converged: whether the best start converged.
        message: what the best start's result code means.
        n_points: runs fitted.
        starts: the raw starts run (duplicates, after fixing or tying, removed).
        objectives: per start, its final objective (NaN where the start was not finite).
        converged: per start, whether it converged.
        codes: per start, the result code (`RESULT_MESSAGES`).
        steps: per start, objective-and-gradient evaluations used.
        best_index: the best start's index.
        warnings: what a user should check before trusting the fit.
        options: the objective and solver options used.
        free: names of the fitted (free) parameters; tied ones join with '='.
        notes: what the fit did that a user should know.
        form: how the law was fitted (`jscaling.objective.FitForm`); not written to JSON.
    """

    law: str
    params: Any
    raw: Any
    objective: float
    best_converged: bool
    message: str
    n_points: int
    starts: Any
    objectives: np.ndarray
    converged: np.ndarray
    codes: np.ndarray
    steps: np.ndarray
    best_index: int
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    free: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    form: FitForm | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.form is None:
            object.__setattr__(self, "form", get_form(self.law, type(self.params)))

    @property
    def n_starts(self) -> int:
        return int(self.objectives.shape[0])

    # -- compute-optimal quantities (Chinchilla) --------------------------------------------

    def _chinchilla(self) -> ChinchillaParams | None:
        return self.params if isinstance(self.params, ChinchillaParams) else None

    @property
    def a(self) -> float | None:
        """`N_opt ~ C**a`, `a = beta / (alpha + beta)` (Chinchilla laws; None otherwise)."""
        p = self._chinchilla()
        return None if p is None else _ratio(p.beta, p.alpha + p.beta)

    @property
    def b(self) -> float | None:
        """`D_opt ~ C**b`, `b = alpha / (alpha + beta)`."""
        p = self._chinchilla()
        return None if p is None else _ratio(p.alpha, p.alpha + p.beta)

    @property
    def G(self) -> float | None:
        """`G = (alpha A / (beta B))**(1 / (alpha + beta))`: `N_opt = G (C/6)**a`, `D_opt = (C/6)**b / G`."""
        p = self._chinchilla()
        if p is None:
            return None
        return float(np.exp(_log_G(p.alpha, p.beta, p.A, p.B)))

    def compute_optimal(self, C: ArrayLike, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> tuple[np.ndarray, np.ndarray]:
        """`(N_opt, D_opt)` for budgets `C` in FLOPs (Chinchilla's closed form)."""
        p = self._chinchilla()
        if p is None:
            raise ValueError(f"compute_optimal needs a Chinchilla fit, not {self.law!r}")
        C = _validate.positive_array("C", C)
        return _optimal(p, C, flops_per_param_token)

    def tokens_per_parameter(self, C: ArrayLike, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> np.ndarray:
        """`D_opt / N_opt` at budgets `C` (about 20 for Chinchilla at its own budget)."""
        N, D = self.compute_optimal(C, flops_per_param_token=flops_per_param_token)
        return D / N

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """The fitted law's loss at `(N, D)` (broadcast together), float64."""
        N = _validate.positive_array("N", N)
        D = _validate.positive_array("D", D)
        with _runtime.x64_scope():
            params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), self.params)
            return np.asarray(self.form.law(params, jnp.asarray(N), jnp.asarray(D)))

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self, *, per_start: bool = True) -> dict[str, Any]:
        """The JSON `jscaling fit` writes: `{"law", "params", "objective", "converged", ...}`."""
        data: dict[str, Any] = {
            "law": self.law,
            "params": {k: float(v) for k, v in self.params._asdict().items()},
            "raw": {k: float(v) for k, v in self.raw._asdict().items()},
            "objective": self.objective,
            "converged": self.best_converged,
            "message": self.message,
            "n_points": self.n_points,
            "n_starts": self.n_starts,
            "n_converged": int(self.converged.sum()),
            "best_index": self.best_index,
            "free": list(self.free),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "options": dict(self.options),
        }
        if self._chinchilla() is not None:
            data.update(a=self.a, b=self.b, G=self.G)
        if per_start:
            data["per_start"] = {
                "start": {k: np.asarray(v).tolist() for k, v in self.starts._asdict().items()},
                "objective": [None if not math.isfinite(v) else float(v) for v in self.objectives],
                "converged": self.converged.tolist(),
                "code": self.codes.tolist(),
                "steps": self.steps.tolist(),
            }
        return data

    def to_json(self, path: str | os.PathLike[str] | None = None, *, per_start: bool = True) -> str:
        """JSON text (sorted keys); written atomically to `path` when given."""
        text = _io.dumps_json(self.to_dict(per_start=per_start))
        if path is not None:
            _io.write_text_atomic(path, text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, law: str | Law | None = None) -> FitResult:
        """The inverse of `to_dict` (per-start arrays are empty if they were left out)."""
        try:
            name = data["law"]
            form = get_form(law if law is not None else name)
            params = form.natural_type(**{k: float(v) for k, v in data["params"].items()})
            raw_values = dict(data["raw"])
            if any(v is None for v in raw_values.values()):  # JSON has no infinity (e = -inf when E = 0)
                with _runtime.x64_scope():
                    derived = form.to_raw(form.natural_type(*[jnp.asarray(v, jnp.float64) for v in params]))
                raw_values = {k: float(getattr(derived, k)) if v is None else v for k, v in raw_values.items()}
            raw = form.raw_type(**{k: float(v) for k, v in raw_values.items()})
            per = data.get("per_start") or {}
            objectives = np.asarray([np.nan if v is None else v for v in per.get("objective", [])], dtype=np.float64)
            start = {k: [np.nan if x is None else x for x in v] for k, v in (per.get("start") or {f: [] for f in form.fields}).items()}
            return cls(
                law=name, form=form, params=params, raw=raw, objective=float(data["objective"]), best_converged=bool(data["converged"]),
                message=str(data.get("message", "")), n_points=int(data["n_points"]),
                starts=form.raw_type(**{k: np.asarray(v, dtype=np.float64) for k, v in start.items()}),
                objectives=objectives, converged=np.asarray(per.get("converged", []), dtype=bool),
                codes=np.asarray(per.get("code", []), dtype=np.int32), steps=np.asarray(per.get("steps", []), dtype=np.int64),
                best_index=int(data.get("best_index", 0)), warnings=tuple(data.get("warnings", ())),
                options=dict(data.get("options", {})), free=tuple(data.get("free", ())), notes=tuple(data.get("notes", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a fit result: missing or malformed {exc}") from None

    @classmethod
    def from_json(cls, source: str | os.PathLike[str], *, law: str | Law | None = None) -> FitResult:
        """A `FitResult` from JSON text or a path to a JSON file."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.exists():
                raise ValueError(f"fit result file {text!r} does not exist")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"fit result is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        return cls.from_dict(data, law=law)

    # -- presentation -----------------------------------------------------------------------

    def __repr__(self) -> str:
        status = "converged" if self.best_converged else "NOT converged"
        lines = [
            f"FitResult({self.law}, {self.n_points} runs, {self.n_starts} starts "
            f"({int(self.converged.sum())} converged), best start {status})",
            "  " + "  ".join(f"{k} = {_fmt(v)}" for k, v in self.params._asdict().items()),
            f"  objective = {self.objective:.10g} (sum of Huber_{_fmt(self.options.get('delta', DEFAULT_DELTA))} "
            f"on {self.options.get('residuals', 'log')} residuals)",
        ]
        if self._chinchilla() is not None:
            lines.append(f"  compute-optimal: a = {_fmt(self.a)}  b = {_fmt(self.b)}  G = {_fmt(self.G)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _fmt(value: Any, digits: int = 5) -> str:
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def _log_G(alpha: Any, beta: Any, A: Any, B: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # a non-positive exponent gives nan, not a warning
        return (np.log(alpha) + np.log(A) - np.log(beta) - np.log(B)) / (alpha + beta)


def _ratio(x: float, y: float) -> float:
    return float(x) / float(y) if float(y) != 0 else math.nan


def _optimal(p: ChinchillaParams, C: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    alpha, beta = float(p.alpha), float(p.beta)
    a, b = _ratio(beta, alpha + beta), _ratio(alpha, alpha + beta)
    log_G = _log_G(alpha, beta, float(p.A), float(p.B))
    log_c = np.log(C / k)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(log_G + a * log_c), np.exp(b * log_c - log_G)


# --------------------------------------------------------------------------- fit


def fit(
    runs: Runs,
    law: str | Law | Callable[..., Any] = "chinchilla",
    *,
    starts: Any = None,
    delta: float = DEFAULT_DELTA,
    weights: ArrayLike | None = None,
    asymmetry: float = 1.0,
    residuals: str = "log",
    reduction: str = "sum",
    fixed: Mapping[str, float] | None = None,
    tie: Sequence[str] | Sequence[Sequence[str]] | None = None,
    max_steps: int = 1000,
    gtol: float = 1e-5,
    ftol: float = 2.2e-9,
    dtype: Any = "float64",
    throw: bool = False,
    checks: bool = True,
) -> FitResult:
    """Fits `law` to `runs` by minimising `jscaling.objective.objective` from many starts.

    Args:
        runs: the training runs (`jscaling.data.Runs`).
        law: "chinchilla" (default), "kaplan-n" or "kaplan-d" (single-variable power laws; fix
            `E=0` for Kaplan's form without an irreducible loss), or any `Law` with a parameter
            NamedTuple (then `starts` is required).
        starts: a batch of starting parameters (raw or natural NamedTuple of arrays, or an
            (S, fields) array in raw order), or a spec: "grid" (the default, `grid_starts`),
            "random:N" (`random_starts` in the grid's box, key 0), "screen:K" (evaluate 2**20
            random candidates and refine the best K, `screen_starts`); `("random", N)` and
            `("screen", K)` work too.
        delta, weights, asymmetry, residuals, reduction: the objective (`jscaling.objective`).
        fixed: parameters held constant, e.g. `{"E": 1.69}`.
        tie: parameters constrained equal, e.g. `("alpha", "beta")`.
        max_steps: evaluations per start before it stops unconverged.
        gtol: stop a start when the largest gradient component of objective / delta is below.
        ftol: stop a start when an accepted step lowers objective / delta by less than
            `ftol * max(|f|, 1)` (scipy's L-BFGS-B defaults for both).
        dtype: "float64" (default; scoped, the global flag is untouched) or "float32".
        throw: raise `FitError` when the best start did not converge (the default returns the
            result with `best_converged=False` and a warning).
        checks: add `jscaling.identify.fit_warnings` to `warnings`: the runs' design, the
            exponents, and the Hessian's conditioning at the optimum (a flat direction means
            the parameters are not identified by these runs).
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs (see jscaling.data.load_runs), got {type(runs).__name__}")
    form = _resolve_form(law, starts)
    delta, asymmetry, spec = check_options(delta=delta, residuals=residuals, asymmetry=asymmetry, reduction=reduction)
    w = check_weights(runs, weights)
    max_steps, gtol, ftol, dtype = solver_options(max_steps, gtol, ftol, dtype)
    param = parameterisation(form, fixed, tie)
    runs.require(param.n_free, what=f"the {form.name} law")
    spec_starts = _parse_starts(starts)
    if spec_starts is None:
        full = _starts_matrix(form, starts)
    elif spec_starts[0] == "grid":
        full = _default_starts(form)
    else:
        kind, count = spec_starts
        candidates = _starts_matrix(form, random_starts(jax.random.key(0), count if kind == "random" else _SCREEN_CANDIDATES, form.law))
        full = param.full_values(param.free_starts(candidates))  # frozen and tied values set
        if kind == "screen":
            screened = screen_starts(runs, form.raw_type(*full.T), k=count, law=form.law, delta=delta, weights=w, asymmetry=asymmetry, residuals=residuals)
            full = _starts_matrix(form, screened)
    free, notes = _unique_starts(param, full)
    data_notes = tuple(runs.notes)

    with _runtime.dtype_scope(dtype):
        data = fit_data(runs, w, spec.residuals, dtype)
        out = _run_program(
            form, spec, param, data, free, lane_weight=None, group=0, n_groups=1, delta=delta, asymmetry=asymmetry,
            gtol=gtol, ftol=ftol, max_steps=max_steps, dtype=dtype,
        )
    options = {
        "delta": delta, "residuals": residuals, "asymmetry": asymmetry, "reduction": reduction,
        "fixed": {k: float(v) for k, v in (fixed or {}).items()}, "tie": _tie_list(tie),
        "starts": "given" if spec_starts is None else ("grid" if spec_starts[0] == "grid" else f"{spec_starts[0]}:{spec_starts[1]}"),
        "max_steps": max_steps, "gtol": gtol, "ftol": ftol, "dtype": np.dtype(dtype).name,
        "weighted": weights is not None or bool((runs.weight != 1).any()),
    }
    result = _build_result(form, param, full_starts=param.full_values(free), out=out, delta=delta, n_points=len(runs), options=options, notes=data_notes + notes)
    extra: tuple[str, ...] = ()
    if dtype == np.float32:
        extra += (
            "fitted in float32: the objective resolves only about 1e-7 relative, so starts stop (by ftol) short of "
            "the optimum; parameters measured off by up to 6e-4 relative; refit with dtype='float64'",
        )
    if checks and form.name in ("chinchilla", "kaplan-n", "kaplan-d"):
        extra += identify.fit_warnings(result, runs)  # design, exponents, Hessian at the optimum
    if extra:
        result = dataclasses.replace(result, warnings=result.warnings + extra)
    if throw and not result.best_converged:
        raise FitError(f"the best start did not converge: {result.message}")
    return result


def solver_options(max_steps: Any, gtol: Any, ftol: Any, dtype: Any) -> tuple[int, float, float, np.dtype]:
    """Checked solver controls, shared by `fit` and `jscaling.bootstrap.bootstrap`."""
    return (
        _validate.check_int("max_steps", max_steps, minimum=1),
        _nonnegative("gtol", gtol),
        _nonnegative("ftol", ftol),
        _runtime.resolve_dtype(dtype, default=np.float64),
    )


def _nonnegative(name: str, value: Any) -> float:
    array = _validate.as_float_array(name, value)
    if array.ndim != 0 or not math.isfinite(float(array)) or float(array) < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(array)


def _tie_list(tie: Any) -> list[list[str]]:
    if tie is None or len(tie) == 0:  # as `objective._tie_groups`: no groups
        return []
    if all(isinstance(t, str) for t in tie):
        return [list(tie)]
    return [list(g) for g in tie]


def _unique_starts(param: Parameterisation, full: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    free = param.free_starts(full)
    _, first = np.unique(free, axis=0, return_index=True)
    if first.size == free.shape[0]:
        return free, ()
    keep = np.sort(first)
    note = f"{free.shape[0] - keep.size} of {free.shape[0]} starts repeat another once fixed or tied parameters are set; each distinct start ran once"
    return free[keep], (note,)


def _build_result(form: FitForm, param: Parameterisation, *, full_starts: np.ndarray, out: Mapping[str, np.ndarray], delta: float, n_points: int, options: dict[str, Any], notes: tuple[str, ...]) -> FitResult:
    codes = out["code"].astype(np.int32)
    objectives = out["f"] * delta
    best = int(out["best"][0])
    raw_values = param.full_values(out["x"][best])
    raw = form.raw_type(*[float(v) for v in raw_values])
    with _runtime.x64_scope():
        natural = form.to_natural(form.raw_type(*[jnp.asarray(v, jnp.float64) for v in raw_values]))
    params = form.natural_type(*[float(v) for v in natural])
    converged = (codes == GTOL) | (codes == FTOL)
    starts = form.raw_type(*full_starts.T)
    result_warnings = _warnings(form, param, full_starts, out, best, objectives, converged)
    return FitResult(
        law=form.name, form=form, params=params, raw=raw, objective=float(objectives[best]), best_converged=bool(converged[best]),
        message=RESULT_MESSAGES.get(int(codes[best]), "unknown"), n_points=n_points, starts=starts,
        objectives=objectives, converged=converged, codes=codes, steps=out["steps"].astype(np.int64), best_index=best,
        warnings=result_warnings, options=options, free=param.free_names, notes=notes,
    )


def _warnings(form: FitForm, param: Parameterisation, full_starts: np.ndarray, out: Mapping[str, np.ndarray], best: int, objectives: np.ndarray, converged: np.ndarray, *, rtol: float = 1e-6) -> tuple[str, ...]:
    found: list[str] = []
    f_best = objectives[best]
    if not np.isfinite(f_best):
        return ("no start reached a finite objective: every start lies outside the law's domain",)
    if not converged[best]:
        found.append(f"the best start did not converge ({RESULT_MESSAGES.get(int(out['code'][best]), 'unknown')})")
    near = np.isfinite(objectives) & (objectives <= f_best + rtol * max(abs(f_best), 1e-300))
    # Distinct optima: near-best starts whose free values differ from the best by > 1e-3 (relative).
    x_all = np.where(np.isfinite(out["x"]), out["x"], np.inf)
    x_best = x_all[best]
    span = 1e-3 * (1.0 + np.abs(x_best))
    distinct = near & np.any(np.abs(x_all - x_best) > span, axis=1)
    if distinct.any():
        other = x_all[np.argmax(distinct)]
        differs = ", ".join(f"{f} = {_fmt(other[j], 4)} vs {_fmt(x_best[j], 4)}" for j, f in enumerate(param.free_names) if abs(other[j] - x_best[j]) > span[j])
        found.append(
            f"{int(distinct.sum())} start(s) end within {rtol:g} (relative) of the best objective at different "
            f"parameters ({differs}): the runs do not pin the law down; compare bootstrap intervals"
        )
    # Edges of the start grid: an optimum outside the starts' box, or reached only from its edge.
    lo, hi = full_starts.min(0), full_starts.max(0)
    raw_best = param.full_values(out["x"][best])
    for j, f in enumerate(form.fields):
        if param.index[j] < 0 or lo[j] == hi[j]:
            continue
        v = raw_best[j]
        if v < lo[j] or v > hi[j]:
            found.append(f"the fitted {f} = {_fmt(v, 4)} lies outside the starts' range [{_fmt(lo[j], 4)}, {_fmt(hi[j], 4)}]: widen the start grid")
        elif near.any():
            at = full_starts[near, j]
            for edge, name in ((lo[j], "lowest"), (hi[j], "highest")):
                if np.all(at == edge):
                    found.append(f"the best optimum is reached only from starts with {f} = {_fmt(edge, 4)}, the grid's {name} value: extend the grid beyond it")
    return tuple(found)


# --------------------------------------------------------------------------- held-out check


@dataclasses.dataclass(frozen=True, repr=False)
class HoldoutResult:
    """A fit on the runs below a cut, judged on the runs above it.

    Attributes:
        fit: the fit on the training runs.
        by: the quantity cut on ("C" or "N").
        cut: the cut; training runs have `by <= cut`, held-out runs `by > cut`.
        n_train, n_test: runs on each side.
        N, D, observed, predicted: the held-out runs and the fit's predictions for them.
        relative_error: `predicted / observed - 1` per held-out run.
    """

    fit: FitResult
    by: str
    cut: float
    n_train: int
    n_test: int
    N: np.ndarray
    D: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray
    relative_error: np.ndarray

    @property
    def mean_abs_relative_error(self) -> float:
        return float(np.mean(np.abs(self.relative_error)))

    @property
    def max_abs_relative_error(self) -> float:
        return float(np.max(np.abs(self.relative_error)))

    @property
    def rmse_log(self) -> float:
        """Root mean square of `log predicted - log observed`."""
        return float(np.sqrt(np.mean((np.log(self.predicted) - np.log(self.observed)) ** 2)))

    @property
    def bias(self) -> float:
        """Mean relative error (positive: the fit over-predicts the held-out losses)."""
        return float(np.mean(self.relative_error))

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by, "cut": self.cut, "n_train": self.n_train, "n_test": self.n_test,
            "mean_abs_relative_error": self.mean_abs_relative_error, "max_abs_relative_error": self.max_abs_relative_error,
            "rmse_log": self.rmse_log, "bias": self.bias, "fit_converged": self.fit.best_converged,
            "params": {k: float(v) for k, v in self.fit.params._asdict().items()},
            "held_out": {"N": self.N.tolist(), "D": self.D.tolist(), "observed": self.observed.tolist(), "predicted": self.predicted.tolist()},
        }

    def __repr__(self) -> str:
        return (
            f"HoldoutResult(fit on {self.n_train} runs with {self.by} <= {self.cut:.4g}, tested on {self.n_test} above: "
            f"mean |error| {100 * self.mean_abs_relative_error:.3g}%, max {100 * self.max_abs_relative_error:.3g}%, "
            f"bias {100 * self.bias:+.3g}%, fit {'converged' if self.fit.best_converged else 'NOT converged'})"
        )


def holdout(runs: Runs, cut: float, law: str | Law | Callable[..., Any] = "chinchilla", *, by: str = "C", **fit_options: Any) -> HoldoutResult:
    """Fits on the runs with `by <= cut` (compute C, or size N) and predicts the runs above it.

    The question every user of a scaling law really asks: how well does a fit on small runs
    predict the large ones? `fit_options` go to `fit`.
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a jscaling.data.Runs, got {type(runs).__name__}")
    if by not in ("C", "N"):
        raise ValueError(f"by must be 'C' (compute) or 'N' (parameters), got {by!r}")
    cut = _validate.positive_scalar("cut", cut)
    values = runs.C if by == "C" else runs.N
    train = values <= cut
    if not train.any() or train.all():
        raise ValueError(f"the cut {by} = {cut:.4g} must leave runs on both sides; {by} spans [{values.min():.4g}, {values.max():.4g}]")
    weights = fit_options.pop("weights", None)
    if weights is not None:
        weights = check_weights(runs, weights)[train]
    result = fit(runs.select(train), law, weights=weights, **fit_options)
    test = runs.select(~train)
    predicted = result.predict(test.N, test.D)
    return HoldoutResult(
        fit=result, by=by, cut=cut, n_train=int(train.sum()), n_test=int((~train).sum()), N=test.N, D=test.D,
        observed=test.loss, predicted=predicted, relative_error=predicted / test.loss - 1.0,
    )
