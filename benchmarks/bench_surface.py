"""Loss surfaces: jscaling against the plain numpy people write today, in one run.

    python benchmarks/bench_surface.py [--quick] [--default-xla]

Cases (issue 2, section 8): scattered pairs (1e6, 1e7, 1e8 points; float32 and float64), a
1e4 x 1e4 grid, 1000 parameter sets x 1e5 points, and the iso-FLOP argmin of 1e4 budgets x
1e4 candidates. jscaling is timed through its public API (numpy in, numpy out, validation
included) and, for pairs, also with inputs already on the device (JAX arrays; the same public
call, without the host-to-device copy of the inputs). Each
time is the median of at least 5 repeats after a warm-up; the first call (compilation
included) is reported apart. The floor of scattered evaluation is the larger of bytes over
measured memory bandwidth and transcendentals (2 log + 2 exp per point) over the measured
rate of XLA's vectorised log/exp.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.setup()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jscaling as js  # noqa: E402
from jscaling import _runtime  # noqa: E402

PARAMS = js.get_preset("hoffmann2022").params
E, A, B, ALPHA, BETA = PARAMS
QUICK = _common.QUICK
REPEATS = 3 if QUICK else 5


def numpy_naive(N: np.ndarray, D: np.ndarray, dtype: np.dtype) -> np.ndarray:
    e, a, b, al, be = (dtype.type(v) for v in (E, A, B, ALPHA, BETA))
    return e + a * N**-al + b * D**-be


def inputs(n: int, dtype: np.dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    N = (10.0 ** rng.uniform(6, 12, n)).astype(dtype)
    D = (10.0 ** rng.uniform(8, 13, n)).astype(dtype)
    return N, D


def measure_floor(dtype: np.dtype) -> dict[str, float]:
    """Memory bandwidth (numpy copy, read + write) and XLA's reduction-path log/exp rate."""
    n = 20_000_000
    x = np.full(n, 1.5, dtype)
    y = np.empty_like(x)
    y[:] = 0
    t = _common.time_call(lambda: np.copyto(y, x), repeats=REPEATS)
    bandwidth = 2 * x.nbytes / t["median_s"]
    with _runtime.dtype_scope(dtype):
        xd = jnp.asarray(x)
        f = jax.jit(lambda v: jnp.sum(jnp.log(v)) + jnp.sum(jnp.exp(-v)))
        r = _common.time_call(lambda: f(xd).block_until_ready(), repeats=REPEATS)
    return {"bandwidth_Bps": bandwidth, "transcendentals_per_s": 2 * n / r["median_s"]}


def bench_pairs(n: int, dtype: np.dtype, floor: dict[str, float]) -> dict:
    N, D = inputs(n, dtype)
    base = _common.time_call(lambda: numpy_naive(N, D, dtype), repeats=REPEATS)
    api = _common.time_call(lambda: js.evaluate(js.laws.CHINCHILLA, PARAMS, N, D, dtype=dtype), repeats=REPEATS)
    with _runtime.dtype_scope(dtype):
        Nd, Dd = jnp.asarray(N), jnp.asarray(D)
        device = _common.time_call(lambda: js.evaluate(js.laws.CHINCHILLA, PARAMS, Nd, Dd, dtype=dtype), repeats=REPEATS)
    # Check the answer while we are here.
    got = js.evaluate(js.laws.CHINCHILLA, PARAMS, N[:100_000], D[:100_000], dtype=dtype)
    ref = numpy_naive(N[:100_000].astype(np.float64), D[:100_000].astype(np.float64), np.dtype(np.float64))
    err = float(np.max(np.abs(got - ref) / ref))
    item = dtype.itemsize
    floor_s = max(3 * item * n / floor["bandwidth_Bps"], 4 * n / floor["transcendentals_per_s"])
    row = {
        "case": f"pairs {n:.0e} {dtype.name}", "numpy_s": base["median_s"], "jax_api_s": api["median_s"],
        "jax_first_s": api["first_s"], "speedup_api": base["median_s"] / api["median_s"],
        "points_per_s_api": n / api["median_s"], "floor_s": floor_s, "api_over_floor": api["median_s"] / floor_s,
        "max_rel_err": err,
    }
    row.update(jax_device_s=device["median_s"], speedup_device=base["median_s"] / device["median_s"], device_over_floor=device["median_s"] / floor_s)
    return row


def bench_grid(n: int, dtype: np.dtype) -> dict:
    N = np.logspace(6, 12, n).astype(dtype)
    D = np.logspace(8, 13, n).astype(dtype)
    e, a, b, al, be = (dtype.type(v) for v in (E, A, B, ALPHA, BETA))
    base = _common.time_call(lambda: e + a * N[:, None] ** -al + b * D[None, :] ** -be, repeats=REPEATS)
    api = _common.time_call(lambda: js.evaluate("chinchilla", PARAMS, N, D, grid=True, dtype=dtype), repeats=REPEATS)
    return {"case": f"grid {n:.0e}x{n:.0e} {dtype.name}", "numpy_s": base["median_s"], "jax_api_s": api["median_s"],
            "jax_first_s": api["first_s"], "speedup_api": base["median_s"] / api["median_s"], "points_per_s_api": n * n / api["median_s"]}


def bench_param_batch(P: int, n: int, dtype: np.dtype) -> dict:
    rng = np.random.default_rng(1)
    N, D = inputs(n, dtype)
    batch = js.ChinchillaParams(
        E=rng.uniform(1.6, 1.9, P), A=rng.uniform(300, 600, P), B=rng.uniform(300, 3000, P),
        alpha=rng.uniform(0.3, 0.4, P), beta=rng.uniform(0.25, 0.4, P),
    )
    out = np.empty((P, n), dtype)
    out[...] = 0

    def numpy_loop() -> None:
        for i in range(P):
            out[i] = dtype.type(batch.E[i]) + dtype.type(batch.A[i]) * N ** -dtype.type(batch.alpha[i]) + dtype.type(batch.B[i]) * D ** -dtype.type(batch.beta[i])

    base = _common.time_call(numpy_loop, repeats=REPEATS)
    api = _common.time_call(lambda: js.evaluate("chinchilla", batch, N, D, dtype=dtype), repeats=REPEATS)
    got = js.evaluate("chinchilla", batch, N, D, dtype=dtype)
    numpy_loop()
    err = float(np.max(np.abs(got - out) / out))
    return {"case": f"params {P} x {n:.0e} {dtype.name}", "numpy_s": base["median_s"], "jax_api_s": api["median_s"],
            "jax_first_s": api["first_s"], "speedup_api": base["median_s"] / api["median_s"],
            "points_per_s_api": P * n / api["median_s"], "max_rel_err": err}


def numpy_isoflop_argmin(C: np.ndarray, N: np.ndarray, scratch: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The loop people write: chunks of budgets x all candidates, argmin per chunk."""
    e, a, b, al, be = (dtype.type(v) for v in (E, A, B, ALPHA, BETA))
    term_N = e + a * N**-al  # per candidate, hoisted
    rows = max(1, scratch // (3 * N.size * dtype.itemsize))  # D, its power, the loss
    index = np.empty(C.size, np.int64)
    best = np.empty(C.size, dtype)
    six_N = dtype.type(6) * N
    for s in range(0, C.size, rows):
        loss = term_N + b * (C[s : s + rows, None] / six_N) ** -be
        index[s : s + rows] = np.argmin(loss, axis=1)
        best[s : s + rows] = loss[np.arange(loss.shape[0]), index[s : s + rows]]
    return best, index


def bench_isoflop(K: int, M: int, dtype: np.dtype, scratch: int = 64 * 2**20) -> dict:
    C = np.logspace(18, 25, K).astype(dtype)
    N = np.logspace(6, 13, M).astype(dtype)
    base = _common.time_call(lambda: numpy_isoflop_argmin(C, N, scratch, dtype), repeats=REPEATS)
    api = _common.time_call(lambda: js.isoflop_min("chinchilla", PARAMS, C, N, dtype=dtype, scratch_bytes=scratch), repeats=REPEATS)
    ref_best, ref_index = numpy_isoflop_argmin(C, N, scratch, dtype)
    got = js.isoflop_min("chinchilla", PARAMS, C, N, dtype=dtype, scratch_bytes=scratch)
    return {"case": f"isoflop argmin {K:.0e} x {M:.0e} {dtype.name}", "numpy_s": base["median_s"], "jax_api_s": api["median_s"],
            "jax_first_s": api["first_s"], "speedup_api": base["median_s"] / api["median_s"],
            "points_per_s_api": K * M / api["median_s"], "scratch_bytes": scratch,
            "index_agreement": float(np.mean(got.index == ref_index)),
            "max_rel_loss_diff": float(np.max(np.abs(got.loss - ref_best) / ref_best))}


def main() -> None:
    rows = []
    floors = {}
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        floors[dtype.name] = measure_floor(dtype)
    sizes = (10**6, 10**7) if QUICK else (10**6, 10**7, 10**8)
    for n in sizes:
        for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
            rows.append(bench_pairs(n, dtype, floors[dtype.name]))
            print(rows[-1], flush=True)
    rows.append(bench_grid(3000 if QUICK else 10_000, np.dtype(np.float32)))
    print(rows[-1], flush=True)
    rows.append(bench_param_batch(100 if QUICK else 1000, 10**5, np.dtype(np.float32)))
    print(rows[-1], flush=True)
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        rows.append(bench_isoflop(2000 if QUICK else 10_000, 10_000, dtype))
        print(rows[-1], flush=True)
    print()
    _common.print_table(rows, ["case", "numpy_s", "jax_api_s", "speedup_api", "jax_device_s", "speedup_device", "api_over_floor", "device_over_floor", "jax_first_s"])
    if not QUICK:
        path = _common.write_results("surface", {"rows": rows, "floors": floors})
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
