"""Compute-optimal allocation over many budgets with a cap on unique training tokens.

    python scripts/budget_grid_with_data_cap.py [--preset besiroglu2024 | --params FIT.json]
        [--budgets 1e20:1e26:200000] [--caps 1e11,1e12,1e13] [--output grid.csv]

For each cap on unique tokens U, a batched search over every budget (200,000 by default, one
compiled program) on the data-constrained law (Muennighoff et al. 2023, repetitions decaying
with R_D* = 15.4), beside the unconstrained closed form: how the best model size changes
(Muennighoff et al. find repeated data worth more than excess parameters, R_D* > R_N*, so a
cap shrinks the model and repeats the data), how many epochs, and how much loss the cap
costs. Public API only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import jscaling as js
from jscaling import allocate
from jscaling._io import load_params_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None)
    src.add_argument("--params", help="a fit JSON from `jscaling fit`")
    parser.add_argument("--budgets", default="1e20:1e26:200000", help="LO:HI:NUM, log-spaced")
    parser.add_argument("--caps", default="1e11,1e12,1e13", help="comma-separated caps on unique tokens")
    parser.add_argument("--output", help="write all rows as CSV")
    args = parser.parse_args()
    js.enable_fast_cpu_kernels()

    if args.params:
        _, params, _ = load_params_file(args.params)
    else:
        params = js.get_preset(args.preset or "besiroglu2024").params
    lo, hi, num = args.budgets.split(":")
    C = np.logspace(math.log10(float(lo)), math.log10(float(hi)), int(num))
    free = allocate.compute_optimal(params, C)
    rows = []
    show = np.unique(np.linspace(0, C.size - 1, 7).astype(int))
    for cap in (float(c) for c in args.caps.split(",")):
        t0 = time.perf_counter()
        capped = allocate.optimal_allocation(js.laws.CHINCHILLA, params, C, max_unique_tokens=cap)
        elapsed = time.perf_counter() - t0
        epochs = capped.D / cap
        print(f"\ncap U = {cap:.3g} unique tokens: {C.size:,} budgets searched in {elapsed:.2f} s")
        print(f"{'C':>9} {'N free':>10} {'N capped':>10} {'D capped':>10} {'epochs':>7} {'loss free':>9} {'loss capped':>11}")
        for k in show:
            print(f"{C[k]:>9.2e} {free.N[k]:>10.3g} {capped.N[k]:>10.3g} {capped.D[k]:>10.3g} {max(epochs[k], 1.0):>7.2f} {free.loss[k]:>9.4f} {capped.loss[k]:>11.4f}")
        first = np.argmax(capped.D > cap)
        if capped.D[first] > cap:
            print(f"repetition starts near C = {C[first]:.3g} FLOPs")
        rows += [{"cap": cap, "C": C[k], "N": capped.N[k], "D": capped.D[k], "epochs": epochs[k], "loss": capped.loss[k],
                  "N_unconstrained": free.N[k], "loss_unconstrained": free.loss[k]} for k in range(C.size)]
    if args.output:
        from jscaling import _io

        _io.write_csv_atomic(args.output, rows)
        print(f"\nwrote {args.output} ({len(rows):,} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
