"""`jscaling fit`: Approach 3 on a CSV of runs, with bootstrap and a held-out check."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from jscaling import _io, identify
from jscaling.cli._common import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Progress,
    UsageError,
    add_run_columns,
    nonnegative_int,
    positive_float,
    positive_int,
    seed_int,
)
from jscaling.config import LIMITS, parse_starts

__all__: list[str] = []

_LAWS = ("chinchilla", "kaplan-n", "kaplan-d")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "fit",
        help="fit a scaling law to training runs (Chinchilla Approach 3)",
        description="Fit a law to the runs in a CSV file by minimising the sum of Huber losses of log "
        "residuals from Hoffmann et al.'s 4,500-start grid, every start in one compiled program. Writes "
        "JSON (params, objective, converged, n_points, n_starts, a, b, G; with --bootstrap, stderr and "
        "interval_95) that `--params` of the other commands reads. Exit 0 on success, 1 when the best "
        "start did not converge (the JSON is still written), 2 on bad input.",
    )
    parser.add_argument("runs", metavar="RUNS.csv", help="CSV with a header row, one run per row")
    add_run_columns(parser)
    parser.add_argument("--weight-col", metavar="COL", help="column of per-run weights in the objective")
    parser.add_argument("--law", choices=_LAWS, default="chinchilla", help="law to fit (default chinchilla; kaplan-n/-d are single-variable power laws)")
    parser.add_argument("--drop-highest", type=nonnegative_int, default=0, metavar="K", help="drop the K highest losses first (Besiroglu et al. drop 5)")
    parser.add_argument("--delta", type=positive_float, default=1e-3, metavar="X", help="Huber delta (default 1e-3)")
    parser.add_argument("--residuals", choices=("log", "raw"), default="log", help="residuals on log loss (default) or raw loss")
    parser.add_argument("--asymmetry", type=positive_float, default=1.0, metavar="K", help="factor on the loss of over-predictions (>1: lower-envelope fit)")
    parser.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="hold a parameter fixed, e.g. --fix E=1.69 (repeatable)")
    parser.add_argument("--tie", action="append", default=[], metavar="A,B", help="constrain parameters equal, e.g. --tie alpha,beta (repeatable)")
    parser.add_argument("--starts", default="grid", metavar="SPEC", help="grid (Hoffmann et al.'s, default), random:N, or screen:K (screen 2^20 random candidates, refine the best K)")
    parser.add_argument("--max-steps", type=positive_int, default=1000, metavar="N", help="evaluations per start before it stops unconverged (default 1000)")
    parser.add_argument("--bootstrap", type=nonnegative_int, default=0, metavar="B", help="refit on B resamples of the runs: standard errors and 95%% intervals")
    parser.add_argument("--bootstrap-starts", type=positive_int, default=1, metavar="K", help="starts per resample: the full-data optimum plus K-1 grid starts (default 1)")
    parser.add_argument("--seed", type=seed_int, default=0, metavar="S", help="seed of the bootstrap resamples, in [0, 2**32) (default 0)")
    parser.add_argument("--holdout", type=positive_float, default=None, metavar="CUT", help="also fit on the runs with C <= CUT (or N, see --holdout-by) and report the error on the rest")
    parser.add_argument("--holdout-by", choices=("C", "N"), default="C", help="quantity the held-out cut applies to (default C)")
    parser.add_argument("--allow-duplicates", action="store_true", help="keep rows that repeat another row exactly (genuine repeats); by default they are an error")
    parser.add_argument("--per-start", action="store_true", help="include every start's objective, code and steps in the JSON")
    parser.add_argument("--output", "-o", metavar="FILE.json", help="write the result as JSON")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--progress", action="store_true", help="show the status line even when stderr is not a terminal")
    parser.set_defaults(run=run)


def _fixed(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--fix takes NAME=VALUE (e.g. E=1.69), got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--fix {name.strip()}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise UsageError(f"--fix {name.strip()}: the value must be finite, got {value!r}")
        out[name.strip()] = number
    return out


def _ties(items: list[str]) -> list[tuple[str, ...]] | None:
    groups = []
    for item in items:
        names = tuple(n.strip() for n in item.split(",") if n.strip())
        if len(names) < 2:
            raise UsageError(f"--tie takes two or more comma-separated names (e.g. alpha,beta), got {item!r}")
        groups.append(names)
    return groups or None


def run(args: argparse.Namespace) -> int:
    from jscaling import fit as fitting
    from jscaling.data import load_runs

    fixed = _fixed(args.fix)
    tie = _ties(args.tie)
    if args.bootstrap == 1:
        raise UsageError("--bootstrap needs at least 2 resamples")
    if args.bootstrap > LIMITS["samples"]:
        raise UsageError(f"--bootstrap {args.bootstrap} is more resamples than allowed ({LIMITS['samples']:,})")
    parse_starts(args.starts, label="--starts")
    if args.bootstrap_starts > 1 and not args.bootstrap:
        raise UsageError("--bootstrap-starts applies with --bootstrap B")
    output = _io.check_output_path(args.output, force=args.force, inputs=[args.runs]) if args.output else None
    runs = load_runs(
        args.runs, n_col=args.n_col, d_col=args.d_col, c_col=args.c_col, loss_col=args.loss_col,
        weight_col=args.weight_col, drop_highest=args.drop_highest, allow_duplicates=args.allow_duplicates,
    )
    # Checks that need the runs, before any fitting: a column the law needs never changes; a
    # held-out cut that leaves one side empty.
    identify.require_variation(runs, law=args.law, fixed=fixed)
    if args.holdout is not None:
        values = runs.C if args.holdout_by == "C" else runs.N
        if not ((values <= args.holdout).any() and (values > args.holdout).any()):
            raise UsageError(f"--holdout {args.holdout:g} must leave runs on both sides; {args.holdout_by} spans [{values.min():.4g}, {values.max():.4g}]")
    options: dict[str, Any] = dict(delta=args.delta, residuals=args.residuals, asymmetry=args.asymmetry, fixed=fixed or None, tie=tie, max_steps=args.max_steps)
    progress = Progress("fit", enabled=True if args.progress else None)

    progress.status(f"{len(runs)} runs, starts: {args.starts}: compiling and fitting")
    t0 = time.perf_counter()
    result = fitting.fit(runs, args.law, starts=args.starts, **options)
    t_fit = time.perf_counter() - t0
    data = result.to_dict(per_start=args.per_start)  # its warnings include the design and curvature checks
    data["runs"] = {"source": runs.source, "notes": list(runs.notes)}
    data["seconds"] = {"fit": t_fit}

    boot = None
    if args.bootstrap:
        from jax import random

        from jscaling.bootstrap import bootstrap

        progress.status(f"bootstrap: {args.bootstrap} resamples x {args.bootstrap_starts} start(s)")
        t0 = time.perf_counter()
        boot = bootstrap(
            runs, args.law, key=random.key(args.seed), n_resamples=args.bootstrap, fit_result=result,
            starts=args.bootstrap_starts, **options,
        )
        data.update(boot.to_dict())
        data["bootstrap"]["seed"] = args.seed
        data["seconds"]["bootstrap"] = time.perf_counter() - t0

    held = None
    if args.holdout is not None:
        progress.status(f"held-out check: fitting the runs with {args.holdout_by} <= {args.holdout:g}")
        held = fitting.holdout(runs, args.holdout, args.law, by=args.holdout_by, starts=args.starts, **options)
        data["holdout"] = held.to_dict()
    progress.done(f"done in {sum(data['seconds'].values()):.2f} s")

    if output is not None:
        _io.write_json_atomic(output, data)
    _summary(result, boot, held, output, t_fit)
    return EXIT_OK if result.best_converged else EXIT_NOT_CONVERGED


def _summary(result: Any, boot: Any, held: Any, output: Any, seconds: float) -> None:
    from jscaling.fit import _fmt

    status = "converged" if result.best_converged else "NOT converged"
    print(f"{result.law} fit to {result.n_points} runs from {result.n_starts} starts in {seconds:.2f} s: best start {status}")
    for note in result.notes:
        print(f"  note: {note}")
    for name, value in result.params._asdict().items():
        extra = ""
        if boot is not None and name in boot.stderr:
            lo, hi = boot.intervals[name]
            extra = f"  +- {_fmt(boot.stderr[name], 2)}  [{_fmt(lo, 4)}, {_fmt(hi, 4)}]"
        print(f"  {name:>6} = {_fmt(value)}{extra}")
    print(f"  objective = {result.objective:.10g}; {int(result.converged.sum())} of {result.n_starts} starts converged")
    if result.a is not None:
        print(f"  compute-optimal: N_opt ~ C^{_fmt(result.a, 4)}, D_opt ~ C^{_fmt(result.b, 4)}, G = {_fmt(result.G, 4)}")
    if held is not None:
        print(f"  held out ({held.by} > {held.cut:.3g}, {held.n_test} runs): mean |error| {100 * held.mean_abs_relative_error:.3g}%, max {100 * held.max_abs_relative_error:.3g}%")
    for w in result.warnings + (boot.warnings if boot is not None else ()):
        print(f"  warning: {w}", file=sys.stderr)
    if not result.best_converged:
        print(f"  {result.message}", file=sys.stderr)
    if output is not None:
        print(f"wrote {output}")
