"""Reproduce the Chinchilla Approach 3 replication (Besiroglu et al. 2024) on a CSV of runs.

    python scripts/reproduce_chinchilla.py ../shared/data/svg_extracted_data.csv
        [--bootstrap 4000] [--seed 0] [--output replication.json]

Reads the digitised Chinchilla runs (columns `Model Size`, `Training FLOP`, `loss`; tokens
D = C / 6N), drops the 5 highest losses (240 runs remain), fits from Hoffmann et al.'s
4,500-start grid, bootstraps, and prints the estimates beside the published ones (Hoffmann
et al. 2022 and the replication), with the compute-optimal model at the Gopher budget.
Public API only.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax

import jscaling as js
from jscaling import allocate
from jscaling.bootstrap import bootstrap
from jscaling.data import load_runs
from jscaling.fit import fit

PUBLISHED = {  # Besiroglu et al. 2024, eq. 4 and the replication's notebook
    "E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658,
}
GOPHER = 5.76e23


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="CSV of runs, e.g. ../shared/data/svg_extracted_data.csv")
    parser.add_argument("--n-col", default="Model Size")
    parser.add_argument("--c-col", default="Training FLOP")
    parser.add_argument("--loss-col", default="loss")
    parser.add_argument("--drop-highest", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the fit (with bootstrap samples) as JSON for `jscaling allocate --params`")
    args = parser.parse_args()
    js.enable_fast_cpu_kernels()

    runs = load_runs(args.runs, n_col=args.n_col, c_col=args.c_col, loss_col=args.loss_col, drop_highest=args.drop_highest)
    print(runs)
    for note in runs.notes:
        print(f"  note: {note}")
    t0 = time.perf_counter()
    result = fit(runs)
    print(f"\nfit from {result.n_starts:,} starts in {time.perf_counter() - t0:.2f} s (compilation included): {result.message}")
    boot = None
    if args.bootstrap:
        t0 = time.perf_counter()
        boot = bootstrap(runs, fit_result=result, n_resamples=args.bootstrap, key=jax.random.key(args.seed))
        print(f"bootstrap of {args.bootstrap:,} refits in {time.perf_counter() - t0:.2f} s")
    print(f"\n{'':>6} {'this run':>10} {'std. err.':>10} {'replication':>12} {'Hoffmann 2022':>14}")
    hoffmann = js.get_preset("hoffmann2022").values()
    for name in ("E", "A", "B", "alpha", "beta"):
        se = f"{boot.stderr[name]:.4g}" if boot is not None else "-"
        print(f"{name:>6} {float(getattr(result.params, name)):>10.5g} {se:>10} {PUBLISHED[name]:>12.5g} {hoffmann[name]:>14.5g}")
    gopher = allocate.compute_optimal(result.params, GOPHER)
    print(f"\nexponents: a = {result.a:.4f}, b = {result.b:.4f} (Hoffmann et al. report 0.46 / 0.54; the replication 0.51 / 0.49)")
    print(f"at the Gopher budget {GOPHER:.3g} FLOPs: N_opt = {float(gopher.N):.3g}, D_opt = {float(gopher.D):.3g}, "
          f"{float(gopher.D / gopher.N):.1f} tokens per parameter")
    if boot is not None:
        lo, hi = boot.intervals["a"]
        print(f"95% interval of a: [{lo:.4f}, {hi:.4f}]")
    if args.output:
        from jscaling import _io

        data = result.to_dict(per_start=False)
        if boot is not None:
            data.update(boot.to_dict())  # bootstrap samples, stderr, interval_95: what --params reads
            data["bootstrap"]["seed"] = args.seed
        _io.write_json_atomic(args.output, data)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
