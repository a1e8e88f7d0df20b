"""How many runs does a target interval width on the exponent a need? Simulate, fit, bootstrap, repeat.

    python scripts/runs_for_interval_width.py [--sizes 5,8,12,16] [--budgets 9] [--noise 0.01]
        [--repeats 4] [--bootstrap 300] [--target 0.05] [--preset besiroglu2024]

For each number of model sizes per IsoFLOP budget, simulates `--repeats` independent sweeps
from the preset (known truth), fits each from the 4,500-start grid, bootstraps it, and reports
the median width of the 95% interval of a = beta / (alpha + beta) and how often the interval
covers the truth; then the smallest design that meets `--target`. Public API only.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np

import jscaling as js
from jscaling.bootstrap import bootstrap
from jscaling.config import DEFAULT_BUDGETS
from jscaling.data import simulate_isoflop_sweep
from jscaling.fit import fit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,8,12,16", help="model sizes per budget to try (comma-separated)")
    parser.add_argument("--budgets", type=int, default=9, help="number of IsoFLOP budgets, log-spaced over 6e18..3e21")
    parser.add_argument("--noise", type=float, default=0.01, help="log-normal noise sigma on the loss")
    parser.add_argument("--repeats", type=int, default=4, help="independent simulated sweeps per design")
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--target", type=float, default=0.05, help="target width of the 95%% interval of a")
    parser.add_argument("--preset", default="besiroglu2024")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    js.enable_fast_cpu_kernels()

    preset = js.get_preset(args.preset)
    p = preset.params
    truth_a = float(p.beta / (p.alpha + p.beta))
    budgets = np.geomspace(min(DEFAULT_BUDGETS), max(DEFAULT_BUDGETS), args.budgets)
    key = jax.random.key(args.seed)
    print(f"truth: {args.preset}, a = {truth_a:.4f}; {args.budgets} budgets, noise {args.noise}, {args.repeats} sweeps per design")
    print(f"{'sizes':>6} {'runs':>5} {'median width':>13} {'coverage':>9} {'median |a - truth|':>19} {'time':>7}")
    best = None
    for sizes in (int(s) for s in args.sizes.split(",")):
        widths, covered, errors = [], 0, []
        t0 = time.perf_counter()
        for r in range(args.repeats):
            key, k_sim, k_boot = jax.random.split(key, 3)
            runs = simulate_isoflop_sweep(preset.law, p, key=k_sim, budgets=budgets, sizes_per_budget=sizes, noise=args.noise)
            result = fit(runs)
            boot = bootstrap(runs, fit_result=result, n_resamples=args.bootstrap, key=k_boot)
            lo, hi = boot.intervals["a"]
            widths.append(hi - lo)
            covered += lo <= truth_a <= hi
            errors.append(abs(result.a - truth_a))
        width = float(np.median(widths))
        print(f"{sizes:>6} {sizes * args.budgets:>5} {width:>13.4f} {covered / args.repeats:>9.0%} {np.median(errors):>19.4f} {time.perf_counter() - t0:>6.1f}s")
        if best is None and width <= args.target:
            best = sizes
    if best is None:
        print(f"\nno design tried reaches a width of {args.target}: add sizes or budgets, or reduce noise")
    else:
        print(f"\nsmallest design reaching width {args.target}: {best} sizes x {args.budgets} budgets = {best * args.budgets} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
