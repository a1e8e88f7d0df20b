"""Loss surfaces: a law evaluated over millions to billions of (N, D) points at once.

Four ways to ask, one machinery behind them:

- `evaluate(law, params, N, D)`: at scattered pairs (N and D broadcast together);
- `evaluate(law, params, N, D, grid=True)`: on the outer-product grid `N x D`;
- `isoflop(law, params, C, N)`: along iso-FLOP lines, `D = C / (6 N)` for budget `C`;
- `isoflop_min(law, params, C, N)`: the best candidate `N` for every budget, a fused min and
  argmin over the candidate axis that never materialises the `(budgets, candidates)` array.

`params` may be a batch (every leaf with a leading axis of length P, bootstrap samples say):
results then gain a leading axis of length P. Logarithms of N and D are taken once and shared
by every parameter set.

Where `jit` goes: each call splits its work into fixed-size chunks (tiles for 2-D work), and
one jitted kernel per (law, chunk shape, dtype) evaluates a chunk; a second call with new values
of the same shapes does not recompile. Chunks are sized so that the working set stays under
`scratch_bytes`; the result is written chunk by chunk into a host array (or into `out`, which
may be a `numpy.memmap` for results larger than memory). When JAX sees several devices, each
chunk is split over a one-axis mesh of all of them (`jax.sharding`), with the same results.

Precision: float32 by default; `dtype="float64"` runs the kernels with x64 enabled for that
call only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jscaling import _runtime, _validate
from jscaling._params import prepare_params
from jscaling._repr import span
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.laws import Law, LossFn, as_law

__all__ = ["evaluate", "isoflop", "isoflop_min", "IsoflopMin"]

ArrayLike = Any
Progress = Callable[[int, int], None]

_BYTES_PER_POINT = 4  # inputs, output and XLA temporaries per point, in units of itemsize
_SCAN_WIDTH = 2048  # candidates per scan step in isoflop_min (exact as float32 indices)
_TILE_POINTS = 2**19  # budgets x candidates per tile of isoflop_min: about a cache's worth
_CALL_POINTS = 2**28  # evaluations per isoflop_min call (a progress update after each)


# --------------------------------------------------------------------------- parameters


def _is_batched(params: Any) -> bool:
    return jax.tree_util.tree_leaves(params)[0].ndim == 1


def _over_params(params: Any, f: Callable[[Any], jax.Array]) -> jax.Array:
    return jax.vmap(f)(params) if _is_batched(params) else f(params)


# --------------------------------------------------------------------------- kernels
#
# Each kernel returns its block and `ok`, a fused all-finite flag (a reduction XLA runs in the
# same pass), so that checking a billion points costs no second pass on the host; the host
# looks for the offending entry only when `ok` is False.


def _loss(law: Law, p: Any, N: jax.Array, D: jax.Array, log_N: jax.Array | None, log_D: jax.Array | None) -> jax.Array:
    if law.from_logs is not None:
        return law.from_logs(p, log_N, log_D)
    return law.loss(p, N, D)


# The checks are float reductions, which XLA:CPU vectorises: `all(isfinite(x))` is a boolean
# reduction that measured 2-3x slower here (7 ms against 3 ms on a 3000 x 3000 grid).


def _positive(x: jax.Array) -> jax.Array:
    """Every entry > 0 and < inf (a NaN fails: min and max propagate it)."""
    return (jnp.min(x) > 0) & (jnp.max(x) < jnp.inf)


def _finite(x: jax.Array) -> jax.Array:
    """Every entry finite: `0 * x` is 0, or NaN where x is inf or NaN (no overflow possible)."""
    return jnp.isfinite(jnp.sum(x * 0))


@partial(jax.jit, static_argnames=("law",))
def _pairs_kernel(law: Law, params: Any, N: jax.Array, D: jax.Array) -> tuple[jax.Array, jax.Array]:
    logs = (jnp.log(N), jnp.log(D)) if law.from_logs is not None else (None, None)
    loss = _over_params(params, lambda p: _loss(law, p, N, D, *logs))
    ok = _positive(N) & _positive(D) & _finite(loss)
    return loss, ok


_pairs_kernel_donating = jax.jit(_pairs_kernel.__wrapped__, static_argnames=("law",), donate_argnames=("N",))


@partial(jax.jit, static_argnames=("law",))
def _grid_kernel(law: Law, params: Any, N: jax.Array, D: jax.Array) -> tuple[jax.Array, jax.Array]:
    N, D = N[:, None], D[None, :]
    logs = (jnp.log(N), jnp.log(D)) if law.from_logs is not None else (None, None)
    loss = _over_params(params, lambda p: _loss(law, p, N, D, *logs))
    return loss, _finite(loss)


def _isoflop_block(law: Law, p: Any, C: jax.Array, N: jax.Array, k: float) -> jax.Array:
    """Loss on the (budgets x candidates) block `D = C / (k N)`.

    Mapped over budgets, so that whatever depends on N alone (`A / N^alpha`) is computed once
    per candidate rather than once per (budget, candidate): XLA fuses a broadcast operand's
    `exp` into the 2-D loop and recomputes it per element, but hoists an unbatched one.
    """
    if law.from_logs is not None:
        log_N = jnp.log(N)
        log_kN = math.log(k) + log_N
        return jax.vmap(lambda log_c: law.from_logs(p, log_N, log_c - log_kN))(jnp.log(C))
    return jax.vmap(lambda c: law.loss(p, N, c / (k * N)))(C)


@partial(jax.jit, static_argnames=("law", "k"))
def _isoflop_kernel(law: Law, params: Any, C: jax.Array, N: jax.Array, k: float) -> tuple[jax.Array, jax.Array]:
    loss = _over_params(params, lambda p: _isoflop_block(law, p, C, N, k))
    return loss, _finite(loss)


def _isoflop_min_local(law: Law, params: Any, C: jax.Array, N_blocks: jax.Array, n_valid: jax.Array, *, k: float, row_tile: int) -> tuple[jax.Array, jax.Array]:
    """Min and argmin over candidates for budgets `C` (a multiple of `row_tile` of them).

    Budgets go `row_tile` at a time (`lax.map`), candidates a block of `N_blocks` at a time
    (`lax.scan`): each (row_tile x width) tile stays in cache. Tiles of 256 x 2048 measured
    2-2.5x faster than tiles of 2048 x 10240 here, which spill to memory.
    """
    width = N_blocks.shape[1]
    starts = jnp.arange(N_blocks.shape[0], dtype=jnp.int32) * width
    local = jnp.arange(width, dtype=C.dtype)

    def tile(C_tile: jax.Array) -> tuple[jax.Array, jax.Array]:
        def one(p: Any) -> tuple[jax.Array, jax.Array]:
            def body(carry: tuple[jax.Array, jax.Array], xs: tuple[jax.Array, jax.Array]) -> tuple[tuple[jax.Array, jax.Array], None]:
                best, best_index = carry
                N_block, start = xs
                loss = _isoflop_block(law, p, C_tile, N_block, k)
                loss = jnp.where((start + local.astype(jnp.int32))[None, :] < n_valid, loss, jnp.inf)
                block_best = jnp.min(loss, axis=1)
                # argmin as a second float min over the column index where the row's minimum
                # sits: XLA:CPU vectorises float min reductions; its variadic argmin ran 2x slower.
                first = jnp.min(jnp.where(loss == block_best[:, None], local[None, :], jnp.inf), axis=1)
                block_index = jnp.where(jnp.isfinite(first), first, 0).astype(jnp.int32) + start
                # Strictly better only, so ties keep the first index, as numpy's argmin does;
                # a NaN anywhere poisons its row's minimum (reported after the call).
                better = (block_best < best) | jnp.isnan(block_best)
                return (jnp.where(better, block_best, best), jnp.where(better, block_index, best_index)), None

            init = (jnp.full(C_tile.shape, jnp.inf, dtype=C.dtype), jnp.zeros(C_tile.shape, jnp.int32))
            return jax.lax.scan(body, init, (N_blocks, starts))[0]

        return _over_params(params, one)

    best, index = jax.lax.map(tile, C.reshape(-1, row_tile))  # (tiles, [P,] row_tile)
    if best.ndim == 3:  # a batch of parameter sets: (tiles, P, row_tile) -> (P, budgets)
        best, index = (jnp.moveaxis(x, 1, 0) for x in (best, index))
    return best.reshape(best.shape[:-2] + (-1,)), index.reshape(index.shape[:-2] + (-1,))


_isoflop_min_kernel = jax.jit(_isoflop_min_local, static_argnames=("law", "k", "row_tile"))


@functools.lru_cache(maxsize=None)
def _isoflop_min_sharded(law: Law, k: float, row_tile: int, batched: bool, mesh: Any) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """`_isoflop_min_local` once per device on its own budgets (`shard_map`), jitted."""
    budgets = PartitionSpec(None, _runtime.BATCH_AXIS) if batched else PartitionSpec(_runtime.BATCH_AXIS)
    local = partial(_isoflop_min_local, law, k=k, row_tile=row_tile)
    mapped = _runtime.shard_map(local, mesh, in_specs=(PartitionSpec(), PartitionSpec(_runtime.BATCH_AXIS), PartitionSpec(), PartitionSpec()), out_specs=(budgets, budgets))
    return jax.jit(mapped)


# --------------------------------------------------------------------------- chunking


@dataclasses.dataclass(frozen=True)
class _Budget:
    scratch_points: int  # points per chunk, all parameter sets together
    mesh: Any
    n_devices: int


def _budget(dtype: np.dtype, P: int | None, scratch_bytes: int | None) -> _Budget:
    scratch = _runtime.default_scratch_bytes() if scratch_bytes is None else _validate.check_int("scratch_bytes", scratch_bytes, minimum=1)
    points = scratch // (_BYTES_PER_POINT * dtype.itemsize * (P or 1))
    mesh = _runtime.batch_mesh()
    n_devices = 1 if mesh is None else mesh.size
    if points < 8 * n_devices:
        need = 8 * n_devices * _BYTES_PER_POINT * dtype.itemsize * (P or 1)
        raise ValueError(f"scratch_bytes={scratch} is too small for {P or 1} parameter set(s) in {dtype}: it needs at least {need}")
    return _Budget(int(points), mesh, n_devices)


def _tile_scratch(scratch_bytes: int | None) -> int | None:
    """Scratch for 2-D results (grids, iso-FLOP blocks, batches of parameter sets): by default
    at most 256 MiB per tile on the CPU.

    A tile's result is a fresh XLA buffer; glibc serves those above 64 MiB per thread arena
    with new pages every time. A 1e4 x 1e4 float32 grid took 234 ms as one 400 MB tile and
    115 ms in 64 MB tiles copied into the result here.
    """
    if scratch_bytes is not None or jax.devices()[0].platform != "cpu":
        return scratch_bytes
    return min(_runtime.default_scratch_bytes(), 256 * 2**20)


def _check_result_size(shape: tuple[int, ...], dtype: np.dtype, max_memory: int | None, out: np.ndarray | None) -> None:
    if out is not None:
        return
    nbytes = math.prod(shape) * dtype.itemsize
    limit = _runtime.default_max_memory() if max_memory is None else _validate.check_int("max_memory", max_memory, minimum=1)
    if nbytes > limit:
        raise ValueError(
            f"the result of shape {shape} in {dtype} needs {nbytes / 2**30:.3g} GiB, over the memory "
            f"bound max_memory={limit / 2**30:.3g} GiB: evaluate fewer points, raise max_memory, "
            "pass out= (a numpy.memmap streams to disk), or use isoflop_min for the best N only"
        )


def _check_out(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array (or numpy.memmap), got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}; this call writes shape {shape}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}; this call writes {dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def _device_float_array(name: str, x: jax.Array, dtype: np.dtype) -> jax.Array:
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {x.dtype}")
    if x.dtype == dtype:
        return x
    with _runtime.dtype_scope(dtype):
        return x.astype(dtype)


def _spans(n: int, step: int) -> list[tuple[int, int]]:
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _chunk_length(budget: _Budget, n: int, per_row: int) -> tuple[int, bool]:
    """Rows per chunk (a multiple of the device count) and whether every chunk is padded to it.

    One unpadded call when everything fits on one device: the program is compiled for that
    exact shape. Otherwise fixed-size chunks, so that one compiled program serves them all.
    """
    rows = max(1, budget.scratch_points // max(per_row, 1))
    if n <= rows and budget.n_devices == 1:
        return n, False
    rows = min(rows, _runtime.round_up(n, budget.n_devices))
    rows = max(budget.n_devices, rows // budget.n_devices * budget.n_devices)
    return rows, True


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class _Writer:
    """Collects kernel blocks into the result: the caller's `out`, or a fresh host array.

    A single unpadded block is returned as is (on the CPU a zero-copy view of XLA's buffer).
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, out: np.ndarray | None) -> None:
        self.shape, self.dtype, self.out = shape, dtype, out
        self.single: np.ndarray | None = None

    def write(self, index: tuple[Any, ...], block: np.ndarray, whole: bool) -> None:
        if whole and self.out is None:
            self.single = block
            return
        if self.out is None:
            self.out = np.empty(self.shape, self.dtype)
        self.out[index] = block

    def result(self) -> np.ndarray:
        if self.single is not None:
            return self.single
        return np.empty(self.shape, self.dtype) if self.out is None else self.out  # nothing written: empty


def _tiled(
    kernel: Callable[[Any, Any, Any], tuple[jax.Array, jax.Array]],
    params: Any,
    P: int | None,
    rows: np.ndarray,
    cols: np.ndarray,
    names: tuple[str, str],
    *,
    dtype: np.dtype,
    scratch_bytes: int | None,
    max_memory: int | None,
    out: np.ndarray | None,
    progress: Progress | None,
) -> np.ndarray:
    """A 2-D result `kernel(params, rows, cols)` (with a leading P for batched params), checked
    against the memory bound and computed in tiles; `names` label rows and columns in errors."""
    shape = (() if P is None else (P,)) + (rows.shape[0], cols.shape[0])
    _check_result_size(shape, dtype, max_memory, out)
    writer = _Writer(shape, dtype, _check_out(out, shape, dtype))
    if math.prod(shape):
        with _runtime.dtype_scope(dtype):
            budget = _budget(dtype, P, _tile_scratch(scratch_bytes))
            _run_tiles(kernel, params, rows, cols, budget, writer, progress, names)
    return _finish(writer, out)


def _run_tiles(
    kernel: Callable[[Any, Any, Any], tuple[jax.Array, jax.Array]],
    params: Any,
    rows: np.ndarray,
    cols: np.ndarray,
    budget: _Budget,
    writer: _Writer,
    progress: Progress | None,
    names: tuple[str, str],
) -> None:
    """Evaluates `kernel(params, row_values, col_values)` tile by tile into the writer."""
    n_rows, n_cols = rows.shape[0], cols.shape[0]
    col_chunk = min(n_cols, max(1, budget.scratch_points // budget.n_devices))
    col_padded = n_cols > col_chunk
    row_chunk, row_padded = _chunk_length(budget, n_rows, col_chunk)
    total = n_rows * n_cols
    done = [0]
    params_dev = _runtime.replicate(params, budget.mesh)

    def launches() -> Any:
        for r0, r1 in _spans(n_rows, row_chunk):
            row_block = _runtime.pad_rows(rows[r0:r1], row_chunk) if row_padded else rows[r0:r1]
            rows_dev = _runtime.shard_leading(row_block, budget.mesh)
            for c0, c1 in _spans(n_cols, col_chunk):
                col_block = _runtime.pad_rows(cols[c0:c1], col_chunk) if col_padded else cols[c0:c1]
                yield (r0, r1, c0, c1), kernel(params_dev, rows_dev, col_block)

    def collect(span: tuple[int, int, int, int], outputs: tuple[jax.Array, jax.Array]) -> None:
        r0, r1, c0, c1 = span
        block = _runtime.to_host(outputs[0])
        if not bool(_runtime.to_host(outputs[1])):  # padding repeats valid edge values: never trips `ok`
            bad = ~np.isfinite(block[..., : r1 - r0, : c1 - c0])
            index = _validate.first_bad(bad)
            *lead, r, c = index
            where = f"parameter set {lead[0]}, " if lead else ""
            at = f"at {where}{names[0]}[{r0 + r}]={float(rows[r0 + r]):.6g}, {names[1]}[{c0 + c}]={float(cols[c0 + c]):.6g}"
            raise ValueError(f"the law returned {float(block[index])!r} {at}; check the parameters and the range of the inputs")
        whole = not row_padded and not col_padded and (r0, c0, r1, c1) == (0, 0, n_rows, n_cols)
        writer.write((..., slice(r0, r1), slice(c0, c1)), block[..., : r1 - r0, : c1 - c0], whole)
        done[0] += (r1 - r0) * (c1 - c0)
        if progress is not None:
            progress(done[0], total)

    _runtime.pipelined(launches(), collect)


def _run_pairs(params: Any, law: Law, N: np.ndarray, D: np.ndarray, budget: _Budget, writer: _Writer, progress: Progress | None) -> None:
    n = N.shape[0]
    chunk, padded = _chunk_length(budget, n, 1)
    params_dev = _runtime.replicate(params, budget.mesh)
    # With one parameter set the loss has N's shape: on an accelerator, N's device buffer (our
    # own copy) is donated and reused for the output. Not on the CPU, where donating measured
    # 10 ms slower per 1e7 points (and N may alias the caller's memory).
    donate = not _is_batched(params) and jax.devices()[0].platform != "cpu"

    def launches() -> Any:
        for s, e in _spans(n, chunk):
            N_dev, N_aliased = _to_device(_runtime.pad_rows(N[s:e], chunk) if padded else N[s:e], budget.mesh)
            D_dev, _ = _to_device(_runtime.pad_rows(D[s:e], chunk) if padded else D[s:e], budget.mesh)
            kernel = _pairs_kernel_donating if donate and not N_aliased else _pairs_kernel
            yield (s, e), kernel(law, params_dev, N_dev, D_dev)

    def collect(span: tuple[int, int], outputs: tuple[jax.Array, jax.Array]) -> None:
        s, e = span
        block = _runtime.to_host(outputs[0])
        if not bool(_runtime.to_host(outputs[1])):
            _explain_pairs(N, D, s, e, block[..., : e - s])
        writer.write((..., slice(s, e)), block[..., : e - s], whole=not padded)
        if progress is not None:
            progress(e, n)

    _runtime.pipelined(launches(), collect)


def _to_device(x: np.ndarray | jax.Array, mesh: Any) -> tuple[jax.Array, bool]:
    """`x` on the device(s), and whether the device array aliases the host memory.

    On one CPU device a contiguous numpy array that meets XLA's alignment is read in place
    (dlpack, no copy: copying two 1e7-point float64 inputs cost 50-90 ms here, as much as
    evaluating the law); otherwise it is copied. An aliased buffer must never be donated.
    """
    if isinstance(x, jax.Array):  # the caller's device array: used as is, never donated
        return (x if mesh is None else _runtime.shard_leading(x, mesh)), True
    if mesh is None and x.flags.c_contiguous and x.size and jax.devices()[0].platform == "cpu":
        try:
            view = jnp.from_dlpack(x)
        except Exception:  # noqa: BLE001 - unsupported layouts fall back to a copy
            view = None
        if view is not None:
            return view, view.unsafe_buffer_pointer() == x.ctypes.data
    return _runtime.shard_leading(x, mesh), False


def _explain_pairs(N: np.ndarray | jax.Array, D: np.ndarray | jax.Array, s: int, e: int, block: np.ndarray) -> None:
    """Raises the error that a failed chunk [s, e) of paired points deserves."""
    N_chunk, D_chunk = np.asarray(N[s:e]), np.asarray(D[s:e])  # the error path: host copies are fine
    note = "" if N_chunk.dtype == np.float64 else f" in {N_chunk.dtype}"
    for name, values in (("N", N_chunk), ("D", D_chunk)):
        bad = ~((values > 0) & (values < np.inf))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} must be positive and finite{note}; found {float(values[i])!r} at flat index {s + i}")
    bad = ~np.isfinite(block)
    index = _validate.first_bad(bad)
    *lead, j = index
    where = f"parameter set {lead[0]}, " if lead else ""
    raise ValueError(
        f"the law returned {float(block[index])!r} at {where}flat index {s + j} "
        f"(N={float(N_chunk[j]):.6g}, D={float(D_chunk[j]):.6g}); check the parameters and the range of N and D"
    )


# --------------------------------------------------------------------------- public


def evaluate(
    law: Law | LossFn | str,
    params: Any,
    N: ArrayLike,
    D: ArrayLike,
    *,
    grid: bool = False,
    dtype: Any = None,
    scratch_bytes: int | None = None,
    max_memory: int | None = None,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Loss of `law` at N parameters and D training tokens, in nats per token.

    Args:
        law: a `Law`, a law name, or any pure function `f(params, N, D)`.
        params: the law's parameters; with a leading axis of length P on every leaf, a batch.
        N, D: parameters and tokens, positive and finite. Paired (broadcast together) by
            default; with `grid=True`, the 1-D axes of an outer-product grid.
        grid: evaluate on `N x D` (result `(len(N), len(D))`) instead of at pairs.
        dtype: `float32` (default) or `float64`.
        scratch_bytes: working memory per chunk (default: 1 GiB on the CPU, an eighth of an
            accelerator's memory per device).
        max_memory: bound on the bytes of the result when `out` is None (default: half the
            host's memory); a larger result raises instead of exhausting memory.
        out: an array (or `numpy.memmap`) of the result's shape and dtype to write into.
        progress: called as `progress(points_done, points_total)` after each chunk.

    Returns:
        The loss, of shape `broadcast(N, D).shape` (or `(len(N), len(D))` with `grid=True`),
        with a leading axis of length P for batched params. Without `out`, a read-only array
        (on the CPU often a zero-copy view of XLA's buffer); `np.array(result)` copies it.

    Raises:
        ValueError: non-positive or non-finite N or D (naming the first offending index),
            bad parameters, a non-finite loss, or a result over `max_memory`.
    """
    law = as_law(law)
    dtype = _runtime.resolve_dtype(dtype)
    params, P = prepare_params(law, params, dtype)
    lead = () if P is None else (P,)
    if grid:
        N = _validate.positive_array("N", N, dtype=dtype)
        D = _validate.positive_array("D", D, dtype=dtype)
        if N.ndim != 1 or D.ndim != 1:
            raise ValueError(f"with grid=True, N and D must be 1-D; got shapes {N.shape} and {D.shape}")
        return _tiled(
            partial(_grid_kernel, law), params, P, N, D, ("N", "D"), dtype=dtype, scratch_bytes=scratch_bytes,
            max_memory=max_memory, out=out, progress=progress,
        )
    # JAX arrays stay where they are (no round trip through the host on an accelerator).
    on_device = isinstance(N, jax.Array) and isinstance(D, jax.Array)
    N = _device_float_array("N", N, dtype) if on_device else _validate.as_float_array("N", N, dtype=dtype)
    D = _device_float_array("D", D, dtype) if on_device else _validate.as_float_array("D", D, dtype=dtype)
    try:
        point_shape = np.broadcast_shapes(N.shape, D.shape)
    except ValueError:
        raise ValueError(f"N and D must broadcast together; got shapes {N.shape} and {D.shape}") from None
    shape = lead + point_shape
    _check_result_size(shape, dtype, max_memory, out)
    _check_out(out, shape, dtype)
    size = math.prod(point_shape)
    xp = jnp if on_device else np
    N_flat = xp.broadcast_to(N, point_shape).reshape(-1)
    D_flat = xp.broadcast_to(D, point_shape).reshape(-1)
    flat_out = None if out is None else out.reshape(lead + (size,))
    if flat_out is not None and not np.shares_memory(flat_out, out):
        raise ValueError("out must be contiguous (a view of it is written in place)")
    writer = _Writer(lead + (size,), dtype, flat_out)
    if size:
        with _runtime.dtype_scope(dtype):
            budget = _budget(dtype, P, scratch_bytes if P is None else _tile_scratch(scratch_bytes))
            _run_pairs(params, law, N_flat, D_flat, budget, writer, progress)
    if out is not None:
        return out
    return _readonly(writer.result().reshape(shape))


def _finish(writer: _Writer, out: np.ndarray | None) -> np.ndarray:
    result = writer.result()
    return result if out is not None else _readonly(result)


def _isoflop_inputs(C: ArrayLike, N: ArrayLike, dtype: np.dtype, flops_per_param_token: float) -> tuple[np.ndarray, np.ndarray, float]:
    C = _validate.positive_array("C", C, dtype=dtype)
    N = _validate.positive_array("N", N, dtype=dtype)
    if C.ndim != 1 or N.ndim != 1:
        raise ValueError(f"C (budgets) and N (candidate sizes) must be 1-D; got shapes {C.shape} and {N.shape}")
    if C.shape[0] == 0 or N.shape[0] == 0:
        raise ValueError(f"need at least one budget and one candidate size; got {C.shape[0]} and {N.shape[0]}")
    k = _validate.positive_scalar("flops_per_param_token", flops_per_param_token)
    return C, N, k


def isoflop(
    law: Law | LossFn | str,
    params: Any,
    C: ArrayLike,
    N: ArrayLike,
    *,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    dtype: Any = None,
    scratch_bytes: int | None = None,
    max_memory: int | None = None,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Loss along iso-FLOP lines: budget `C[k]` FLOPs spent on a model of `N[j]` parameters.

    Tokens are `D = C / (6 N)` (`flops_per_param_token` sets the 6). Returns shape
    `(len(C), len(N))`, with a leading P for batched params. Other arguments as in `evaluate`.
    """
    law = as_law(law)
    dtype = _runtime.resolve_dtype(dtype)
    params, P = prepare_params(law, params, dtype)
    C, N, k = _isoflop_inputs(C, N, dtype, flops_per_param_token)
    return _tiled(
        partial(_isoflop_kernel, law, k=k), params, P, C, N, ("C", "N"), dtype=dtype, scratch_bytes=scratch_bytes,
        max_memory=max_memory, out=out, progress=progress,
    )


@dataclasses.dataclass(frozen=True, repr=False)
class IsoflopMin:
    """The best candidate size for each budget, from `isoflop_min`.

    Attributes:
        C: budgets in FLOPs, shape (K,).
        loss: the lowest loss on each budget's line, (K,) or (P, K).
        index: index into the candidate sizes of that loss, same shape.
        N: the best candidate's parameters, same shape.
        D: its training tokens `C / (6 N)`, same shape.
        at_edge: True where the best candidate is the first or last one given (the true
            optimum may lie outside the candidates).
    """

    C: np.ndarray
    loss: np.ndarray
    index: np.ndarray
    N: np.ndarray
    D: np.ndarray
    at_edge: np.ndarray

    @property
    def tokens_per_param(self) -> np.ndarray:
        """Training tokens per parameter, `D / N`."""
        return self.D / self.N

    def __repr__(self) -> str:
        batch = "" if self.loss.ndim == 1 else f", P={self.loss.shape[0]}"
        return (
            f"IsoflopMin(budgets={self.C.shape[0]}{batch}, "
            f"C={span(self.C, '.3g')} FLOPs, N={span(self.N, '.3g')}, loss={span(self.loss, '.4g')}, "
            f"at_edge={int(np.count_nonzero(self.at_edge))})"
        )


def isoflop_min(
    law: Law | LossFn | str,
    params: Any,
    C: ArrayLike,
    N: ArrayLike,
    *,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    dtype: Any = None,
    scratch_bytes: int | None = None,
    progress: Progress | None = None,
) -> IsoflopMin:
    """For each budget `C[k]`, the candidate `N[j]` with the lowest loss at `D = C / (6 N)`.

    A fused, streamed min and argmin: candidates are scanned in blocks inside one compiled
    program per tile of budgets, so scratch memory stays under `scratch_bytes` however many
    candidates there are (1e4 budgets x 1e5 candidates is 1e9 evaluations). Ties keep the
    first candidate, like `numpy.argmin`.
    """
    law = as_law(law)
    dtype = _runtime.resolve_dtype(dtype)
    params, P = prepare_params(law, params, dtype)
    C, N, k = _isoflop_inputs(C, N, dtype, flops_per_param_token)
    K, M = C.shape[0], N.shape[0]
    lead = () if P is None else (P,)
    best = np.empty(lead + (K,), dtype)
    best_index = np.empty(lead + (K,), np.int64)
    with _runtime.dtype_scope(dtype):
        budget = _budget(dtype, P, scratch_bytes)
        # A cache-sized tile per parameter set (within the scratch bound), whole calls of
        # many tiles: the budgets of a call are split over the devices, each device loops
        # over its tiles, so a call's memory is its tiles' and outputs', not budgets x candidates.
        tile_points = max(64, min(_TILE_POINTS, budget.scratch_points // 4))
        width = min(M, _SCAN_WIDTH, tile_points)
        row_tile = max(8, tile_points // width // 8 * 8)
        per_call = max(row_tile, _CALL_POINTS // max(M, 1) // row_tile * row_tile) * budget.n_devices
        rows = min(per_call, _runtime.round_up(K, row_tile * budget.n_devices))
        n_blocks = -(-M // width)
        # What every call shares goes to the device(s) once.
        N_blocks = _runtime.replicate(_runtime.pad_rows(N, n_blocks * width).reshape(n_blocks, width), budget.mesh)
        n_valid = _runtime.replicate(np.int32(M), budget.mesh)
        params_dev = _runtime.replicate(params, budget.mesh)
        if budget.mesh is None:
            kernel = partial(_isoflop_min_kernel, law, k=k, row_tile=row_tile)
        else:
            kernel = _isoflop_min_sharded(law, k, row_tile, P is not None, budget.mesh)

        def launches() -> Any:
            for r0, r1 in _spans(K, rows):
                C_block = _runtime.shard_leading(_runtime.pad_rows(C[r0:r1], rows), budget.mesh)
                yield (r0, r1), kernel(params_dev, C_block, N_blocks, n_valid)

        def collect(span: tuple[int, int], outputs: tuple[jax.Array, jax.Array]) -> None:
            r0, r1 = span
            best[..., r0:r1] = _runtime.to_host(outputs[0])[..., : r1 - r0]
            best_index[..., r0:r1] = _runtime.to_host(outputs[1])[..., : r1 - r0]
            if progress is not None:
                progress(r1 * M, K * M)

        _runtime.pipelined(launches(), collect)
    bad = ~np.isfinite(best)
    if bad.any():
        *p, i = _validate.first_bad(bad)
        where = f"parameter set {p[0]}, " if p else ""
        raise ValueError(f"the law returned {float(best[(*p, i)])!r} on the iso-FLOP line of {where}C[{i}]={float(C[i]):.6g}; check the parameters and the candidate range")
    N_best = N[best_index]
    D_best = (C / k) / N_best
    at_edge = (best_index == 0) | (best_index == M - 1)
    return IsoflopMin(C=C, loss=best, index=best_index, N=N_best, D=D_best, at_edge=at_edge)
