"""A 1e10-point iso-FLOP sweep in bounded memory: the best N for 1e5 budgets out of 1e5 sizes.

    python benchmarks/bench_sweep.py [--quick] [--points 1e10]

Streams `jscaling.isoflop_min` with a live progress line and records wall time, points per
second, and the process's peak resident memory before and after (it must stay near the
scratch bound, not grow with the 1e10 points). A numpy reference is timed on a slice of the
budgets (the same loop people write, chunked to 64 MiB) and scaled up, since running it on
all 1e10 points would take far longer than the sweep itself; the slice's answers are compared
with jscaling's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.setup()

import numpy as np  # noqa: E402

import jscaling as js  # noqa: E402
from jscaling.cli._common import Progress  # noqa: E402

QUICK = _common.QUICK


def numpy_slice(C: np.ndarray, N: np.ndarray, p: js.ChinchillaParams) -> tuple[np.ndarray, np.ndarray]:
    term_N = p.E + p.A * N ** -p.alpha
    rows = max(1, 64 * 2**20 // (3 * N.size * 4))
    index = np.empty(C.size, np.int64)
    best = np.empty(C.size, np.float32)
    for s in range(0, C.size, rows):
        loss = (term_N + p.B * (C[s : s + rows, None] / (6 * N)) ** -p.beta).astype(np.float32)
        index[s : s + rows] = np.argmin(loss, axis=1)
        best[s : s + rows] = loss[np.arange(loss.shape[0]), index[s : s + rows]]
    return best, index


def main() -> None:
    points = 1e9 if QUICK else 1e10
    if "--points" in sys.argv:
        points = float(sys.argv[sys.argv.index("--points") + 1])
    side = int(round(points**0.5))
    preset = js.get_preset("besiroglu2024")
    C = np.logspace(18, 26, side)
    N = np.logspace(6, 14, side)
    rss_before = _common.peak_rss_mib() * 2**20
    progress = Progress("sweep", enabled=True)
    t0 = time.perf_counter()
    best = js.isoflop_min(preset.law, preset.params, C, N, progress=progress)
    elapsed = time.perf_counter() - t0
    rss_after = _common.peak_rss_mib() * 2**20
    # numpy on a slice of budgets, scaled.
    k = max(1, side // 200)
    t1 = time.perf_counter()
    ref_best, ref_index = numpy_slice(C[:k].astype(np.float32), N.astype(np.float32), preset.params)
    numpy_slice_s = time.perf_counter() - t1
    numpy_est = numpy_slice_s * side / k
    agree = float(np.mean(np.abs(best.loss[:k] - ref_best) <= 1e-5 * ref_best))
    row = {
        "case": f"isoflop_min {side}x{side} float32", "points": side * side, "jax_s": elapsed,
        "points_per_s": side * side / elapsed, "numpy_estimated_s": numpy_est, "speedup_vs_numpy_estimate": numpy_est / elapsed,
        "peak_rss_before_MiB": rss_before / 2**20, "peak_rss_after_MiB": rss_after / 2**20,
        "rss_growth_MiB": (rss_after - rss_before) / 2**20, "slice_loss_agreement": agree,
    }
    _common.print_table([row], list(row))
    if not QUICK:
        path = _common.write_results("sweep", {"rows": [row]}, notes="numpy time estimated from a slice of budgets, scaled linearly")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
