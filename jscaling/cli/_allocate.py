"""`jscaling allocate`: the compute-optimal model size and tokens for budgets, or the budget for a loss."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from jscaling import _io, allocate
from jscaling.cli._common import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Progress,
    UsageError,
    add_law_source,
    law_source,
    nonnegative_float,
    output_path,
    parse_range,
    percentile,
    positive_float,
)

__all__: list[str] = []

_SHOWN = 12  # rows printed to stdout before eliding


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "allocate",
        help="compute-optimal model size and training tokens for FLOP budgets",
        description="For each budget C (FLOPs, C = 6 N D), the compute-optimal parameters N and tokens D, "
        "with tokens per parameter and the loss; or, with --target-loss, the smallest budget reaching each "
        "target. The Chinchilla law without constraints uses the closed form; anything else a batched "
        "search over log N. Parameters with bootstrap samples (jscaling fit) add percentile columns.",
    )
    add_law_source(parser)
    parser.add_argument("--budget", type=positive_float, nargs="+", metavar="C", help="budgets in FLOPs")
    parser.add_argument("--budgets", metavar="LO:HI:NUM", help="log-spaced budgets in FLOPs, e.g. 1e18:1e26:9")
    parser.add_argument("--target-loss", type=positive_float, nargs="+", metavar="L",
                        help="instead of budgets: report the smallest budget reaching each loss")
    parser.add_argument("--max-tokens", type=positive_float, default=None, metavar="U",
                        help="cap on unique training tokens; more tokens repeat epochs (data-constrained law)")
    parser.add_argument("--inference-tokens", type=nonnegative_float, default=None, metavar="T",
                        help="tokens served at inference: the budget pays 6 N D + 2 N T (Sardana et al. 2024)")
    parser.add_argument("--n-range", metavar="LO:HI", help="allowed parameters N (default 1:1e30)")
    parser.add_argument("--d-range", metavar="LO:HI", help="allowed training tokens D (default 1:1e30)")
    parser.add_argument("--percentiles", type=percentile, nargs="+", metavar="Q",
                        help="percentiles of the bootstrap bands (default 2.5 50 97.5)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write .json ({'rows': [...], ...}) or .csv")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--progress", action="store_true", help="show progress even when stderr is not a terminal")
    parser.set_defaults(run=run)


def _pair(name: str, text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"{name} must look like LO:HI (e.g. 1e6:1e12), got {text!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(f"{name} must look like LO:HI with numbers, got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
        raise UsageError(f"{name}: bounds must be positive and finite, got {lo:g} and {hi:g}")
    if hi <= lo:
        raise UsageError(f"{name}: {'reversed' if hi < lo else 'empty'} range, {lo:g} >= {hi:g}")
    return lo, hi


def run(args: argparse.Namespace) -> int:
    # Everything is checked before any work, so that an error leaves nothing behind.
    budgets_given = args.budget is not None or args.budgets is not None
    if args.budget is not None and args.budgets is not None:
        raise UsageError("give --budget or --budgets, not both")
    if budgets_given and args.target_loss is not None:
        raise UsageError("give budgets (--budget/--budgets) or --target-loss, not both")
    if not budgets_given and args.target_loss is None:
        raise UsageError("give budgets (--budget C ... or --budgets LO:HI:NUM) or --target-loss L ...")
    if args.unique_tokens is not None:
        if args.max_tokens is not None:
            raise UsageError("give --max-tokens or --unique-tokens (the same cap), not both")
        args.max_tokens, args.unique_tokens = args.unique_tokens, None
    C = None
    if args.budgets is not None:
        C = parse_range("--budgets", args.budgets)
    elif args.budget is not None:
        C = np.asarray(args.budget, dtype=np.float64)
    N_bounds = _pair("--n-range", args.n_range)
    D_bounds = _pair("--d-range", args.d_range)
    output = output_path(args, (".json", ".csv"))
    law, params, samples, source = law_source(args)
    if args.percentiles is not None and samples is None:
        raise UsageError("--percentiles applies when the parameters carry bootstrap samples (jscaling fit --bootstrap)")
    percentiles = tuple(args.percentiles) if args.percentiles is not None else (2.5, 50.0, 97.5)

    progress = Progress("allocate", enabled=True if args.progress else None)

    def solve(p: Any) -> allocate.Allocation:
        return allocate.solve(
            law, p, C=C, target_loss=None if C is not None else args.target_loss, N_bounds=N_bounds, D_bounds=D_bounds,
            max_unique_tokens=args.max_tokens, inference_tokens=args.inference_tokens, progress=progress,
        )

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):  # checked below
        result = solve(params)
        columns = result._columns()
        bands = None
        if samples is not None:
            bands = solve(samples).bands(percentiles)
            key = "target_loss" if C is None else "C"
            for name, values in bands._columns().items():
                if name not in (key, "at_edge", "inference_tokens"):
                    columns[name] = values
    _check_finite_rows(columns, budgets=C is not None)
    _print(result, columns, law.name, source, bands)
    if output is not None:
        meta = {
            "law": law.name,
            "source": source,
            "method": result.method,
            "mode": "budgets" if C is not None else "target_loss",
            "flops_per_param_token": 6.0,
            "max_unique_tokens": args.max_tokens,
            "inference_tokens": args.inference_tokens,
            "n_range": list(N_bounds) if N_bounds else None,
            "d_range": list(D_bounds) if D_bounds else None,
            "bootstrap_samples": None if bands is None else bands.batch_size,
            "percentiles": None if bands is None else list(bands.percentiles),
            "at_edge": int(np.count_nonzero(result.at_edge)),
            "not_converged": int(np.count_nonzero(~result.converged)),
        }
        _write(output, columns, meta)
        print(f"wrote {output}")
    if not np.all(result.converged):
        print(f"jscaling allocate: {int(np.count_nonzero(~result.converged))} row(s) did not converge; "
              "their values are the best point of the coarse scan", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _check_finite_rows(columns: dict[str, np.ndarray], *, budgets: bool) -> None:
    """Refuses an allocation that left float64's range (inf, NaN, or a quantity that underflowed to 0)."""
    key = "C" if budgets else "target_loss"
    for name, values in columns.items():
        if values.dtype == bool or name in ("inference_tokens", "param_set", key):
            continue
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            request = f"budget C[{i}] = {float(columns[key][i]):g} FLOPs" if budgets else f"target loss {float(columns[key][i]):g} (index {i})"
            raise UsageError(
                f"{request}: the result's {name} is {float(values[i]):g}, outside float64's range; the parameters or "
                "the request are too extreme (check A, B and the exponents, or the budget or target)"
            )


def _print(result: allocate.Allocation, columns: dict[str, np.ndarray], law: str, source: str, bands: allocate.AllocationBands | None) -> None:
    n = columns["N"].shape[0]
    print(f"law {law} ({source}), {result.method}, {n} {'budget' if result.target_loss is None else 'target'}{'s' if n != 1 else ''}")
    shown = ["target_loss"] if "target_loss" in columns else []
    shown += ["inference_tokens"] if "inference_tokens" in columns else []
    shown += ["C", "N", "D", "tokens_per_param", "loss"]
    heads = {"target_loss": "target", "inference_tokens": "T_inf", "tokens_per_param": "D/N"}
    if bands is not None:
        lo, hi = bands.percentiles[0], bands.percentiles[-1]
        for name in ("N", "D"):
            shown += [f"{name}_p{lo:g}", f"{name}_p{hi:g}"]
    indices = list(range(n)) if n <= _SHOWN else list(range(_SHOWN - 2)) + [-1, n - 1]
    table = [[heads.get(c, c) for c in shown]]
    for i in indices:
        table.append(["..." for _ in shown] if i < 0 else [_fmt(c, columns[c][i]) for c in shown])
    widths = [max(len(row[j]) for row in table) for j in range(len(shown))]
    for row in table:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)).rstrip())
    edges = int(np.count_nonzero(result.at_edge))
    if edges:
        print(f"note: {edges} optimum(s) sit on a bound of N or D (column at_edge); the unconstrained optimum lies outside --n-range/--d-range")


def _fmt(name: str, value: Any) -> str:
    loss = name in ("loss", "target_loss") or name.startswith("loss_p")
    return f"{float(value):.5f}" if loss else f"{float(value):.4g}"


def _write(path: Path, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    if path.suffix.lower() == ".csv":
        _write_csv(path, columns)
    else:
        _write_json(path, columns, meta)


def _cells(values: np.ndarray, *, json: bool) -> list[str]:
    """Column values as text: shortest round-trip floats; JSON gets true/false and null for NaN."""
    if values.dtype == bool:
        return ["true" if v else "false" for v in values.tolist()] if json else ["True" if v else "False" for v in values.tolist()]
    cells = [repr(v) for v in values.astype(np.float64).tolist()]
    if json and not np.isfinite(values).all():
        cells = [c if c not in ("nan", "inf", "-inf") else "null" for c in cells]
    return cells


def _write_json(path: Path, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """`{"rows": [{...}, ...], ...meta}` with sorted keys, one row per line (fast for 1e6 rows)."""
    names = sorted(columns)
    cells = [[f'"{name}": {c}' for c in _cells(columns[name], json=True)] for name in names]
    rows = ",\n".join("    {" + ", ".join(row) + "}" for row in zip(*cells))
    placeholder = "@@rows@@"
    text = _io.dumps_json({**meta, "columns": list(columns), "rows": placeholder})
    text = text.replace(f'"{placeholder}"', "[\n" + rows + "\n  ]" if rows else "[]", 1)
    _io.write_text_atomic(path, text)


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    cells = [_cells(columns[name], json=False) for name in names]
    with _io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(",".join(names) + "\n")
            f.writelines(",".join(row) + "\n" for row in zip(*cells))
