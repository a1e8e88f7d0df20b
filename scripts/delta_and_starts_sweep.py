"""How the Approach 3 estimates and the allocation move with the Huber delta and the start grid.

    python scripts/delta_and_starts_sweep.py [RUNS.csv --n-col ... --c-col ... --loss-col ...]
        [--deltas 1e-4,1e-3,1e-2,1e-1] [--budget 1e23] [--output sweep.csv]

Without a runs file it uses the built-in simulated IsoFLOP sweep (known truth: besiroglu2024).
For each delta it fits from three start sets (the full Hoffmann grid, a coarse grid, and
random starts) and reports E, A, B, alpha, beta, the exponent a, the objective, and N_opt and
tokens per parameter at the budget. Public API only.
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

import jscaling as js
from jscaling import allocate
from jscaling import fit as fitting
from jscaling.data import load_runs, simulate_isoflop_sweep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", help="runs CSV (default: the built-in simulated sweep)")
    parser.add_argument("--n-col"), parser.add_argument("--d-col"), parser.add_argument("--c-col"), parser.add_argument("--loss-col")
    parser.add_argument("--drop-highest", type=int, default=0)
    parser.add_argument("--deltas", default="1e-4,1e-3,1e-2,1e-1", help="comma-separated Huber deltas")
    parser.add_argument("--budget", type=float, default=1e23, help="budget (FLOPs) for N_opt and tokens per parameter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the table as CSV")
    args = parser.parse_args()
    js.enable_fast_cpu_kernels()

    if args.runs:
        runs = load_runs(args.runs, n_col=args.n_col, d_col=args.d_col, c_col=args.c_col, loss_col=args.loss_col, drop_highest=args.drop_highest)
    else:
        preset = js.get_preset("besiroglu2024")
        runs = simulate_isoflop_sweep(preset.law, preset.params, key=jax.random.key(args.seed))
    deltas = [float(d) for d in args.deltas.split(",")]
    start_sets = {
        "hoffmann grid (4500)": None,
        "coarse grid (243)": fitting.grid_starts(alpha=[0.0, 1.0, 2.0], beta=[0.0, 1.0, 2.0], e=[-1.0, 0.0, 1.0], a=[0.0, 10.0, 20.0], b=[0.0, 10.0, 20.0]),
        "random (512)": fitting.random_starts(jax.random.key(args.seed), 512),
    }
    rows = []
    print(f"{len(runs)} runs; budget {args.budget:.3g} FLOPs")
    header = f"{'delta':>7}  {'starts':<21} {'E':>7} {'A':>9} {'B':>9} {'alpha':>7} {'beta':>7} {'a':>7} {'N_opt':>10} {'D/N':>6} {'objective':>11} conv"
    print(header)
    for delta in deltas:
        for label, starts in start_sets.items():
            result = fitting.fit(runs, delta=delta, starts=starts)
            p = result.params
            alloc = allocate.compute_optimal(p, args.budget)
            row = {
                "delta": delta, "starts": label, "E": float(p.E), "A": float(p.A), "B": float(p.B), "alpha": float(p.alpha),
                "beta": float(p.beta), "a": result.a, "N_opt": float(alloc.N), "tokens_per_param": float(alloc.D / alloc.N),
                "objective": result.objective, "converged": result.best_converged,
            }
            rows.append(row)
            print(f"{delta:>7.0e}  {label:<21} {row['E']:>7.4f} {row['A']:>9.1f} {row['B']:>9.1f} {row['alpha']:>7.4f} {row['beta']:>7.4f} "
                  f"{row['a']:>7.4f} {row['N_opt']:>10.3g} {row['tokens_per_param']:>6.1f} {row['objective']:>11.5g} {row['converged']}")
    if args.output:
        from jscaling import _io

        _io.write_csv_atomic(args.output, rows)
        print(f"wrote {args.output}")
    spread = np.ptp([r["a"] for r in rows])
    print(f"\nspread of the exponent a over all settings: {spread:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
