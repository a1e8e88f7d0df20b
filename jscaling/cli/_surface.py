"""`jscaling surface`: a law on a log-spaced (N, D) grid, or along iso-FLOP lines."""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jscaling import _io, surface
from jscaling.cli._common import (
    EXIT_OK,
    Progress,
    UsageError,
    add_law_source,
    law_source,
    log_range,
    output_path,
    parse_range,
    positive_float,
)

__all__: list[str] = []

_SIZE = re.compile(r"^\s*([0-9.]+(?:e[0-9]+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def memory_size(text: str) -> int:
    """argparse type: bytes, with an optional K/M/G/T suffix (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 512M or 8G, got {text!r}")
    try:
        value = float(match.group(1)) * 1024 ** "_KMGT".index(match.group(2).upper() or "_")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 512M or 8G, got {text!r}") from None
    if not math.isfinite(value) or value > 2**62:
        raise argparse.ArgumentTypeError(f"expected a size below 4 EiB, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return int(value)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "surface",
        help="evaluate a law on an (N, D) grid or along iso-FLOP lines",
        description="Evaluate a law on log-spaced grids (endpoints included) and write the arrays. "
        "Grid mode: --n and --d give N (NUM), D (NUM) and loss (NUM_N x NUM_D). "
        "Iso-FLOP mode: --budgets (or --budget) with --n as candidate sizes gives C, N, "
        "loss (budgets x candidates), and the best N per budget.",
    )
    add_law_source(parser)
    parser.add_argument("--n", nargs=3, metavar=("LO", "HI", "NUM"), required=True, help="parameters: log-spaced from LO to HI, NUM values")
    parser.add_argument("--d", nargs=3, metavar=("LO", "HI", "NUM"), help="training tokens: log-spaced from LO to HI, NUM values (grid mode)")
    parser.add_argument("--budgets", metavar="LO:HI:NUM", help="iso-FLOP mode: log-spaced budgets in FLOPs")
    parser.add_argument("--budget", type=positive_float, nargs="+", metavar="C", help="iso-FLOP mode: budgets in FLOPs")
    parser.add_argument("--min-only", action="store_true", help="iso-FLOP mode: keep only the best N per budget (no budgets x candidates array)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--max-memory", type=memory_size, default=None, metavar="SIZE", help="bound on the result's memory, e.g. 8G (default: half the host's memory)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write .npz or .csv (CSV: one row per point)")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--progress", action="store_true", help="show progress even when stderr is not a terminal")
    parser.set_defaults(run=run)


def _axis(name: str, values: list[str]) -> np.ndarray:
    try:
        lo, hi, num = float(values[0]), float(values[1]), int(values[2])
    except ValueError:
        raise UsageError(f"{name} takes LO HI NUM (numbers, NUM an integer), got {' '.join(values)!r}") from None
    return log_range(name, lo, hi, num)


def run(args: argparse.Namespace) -> int:
    law, params, _, source = law_source(args)
    N = _axis("--n", args.n)
    isoflop = args.budgets is not None or args.budget is not None
    if isoflop and args.d is not None:
        raise UsageError("give --d (grid mode) or --budgets/--budget (iso-FLOP mode), not both")
    if not isoflop and args.d is None:
        raise UsageError("give --d LO HI NUM (grid mode) or --budgets LO:HI:NUM (iso-FLOP mode)")
    if args.budgets is not None and args.budget is not None:
        raise UsageError("give --budgets or --budget, not both")
    if args.min_only and not isoflop:
        raise UsageError("--min-only applies to iso-FLOP mode")
    output = output_path(args, (".npz", ".csv"))
    dtype = np.dtype(args.dtype)
    _check_params_fit(params, dtype)
    progress = Progress("surface", enabled=True if args.progress else None)
    arrays: dict[str, np.ndarray]
    t0 = time.perf_counter()
    if isoflop:
        C = parse_range("--budgets", args.budgets) if args.budgets is not None else np.asarray(args.budget, dtype=np.float64)
        _check_tokens(C, N)
        best = surface.isoflop_min(law, params, C, N, dtype=dtype, progress=progress)
        arrays = {"C": C, "N": N, "N_opt": best.N, "D_opt": best.D, "loss_opt": best.loss}
        if not args.min_only:
            arrays["loss"] = surface.isoflop(law, params, C, N, dtype=dtype, max_memory=args.max_memory, progress=progress)
        points = C.size * N.size
    else:
        D = _axis("--d", args.d)
        arrays = {"N": N, "D": D, "loss": surface.evaluate(law, params, N, D, grid=True, dtype=dtype, max_memory=args.max_memory, progress=progress)}
        points = N.size * D.size
    elapsed = time.perf_counter() - t0
    device = jax.devices()[0]
    print(f"law {law.name} ({source}), {args.dtype}, {jax.device_count()} x {device.platform} device(s)")
    print(f"evaluated {points:,} points in {elapsed:.3f} s ({points / max(elapsed, 1e-9):.3g} points/s, compilation included)")
    if isoflop:
        for c, n, l in list(zip(arrays["C"], arrays["N_opt"], arrays["loss_opt"]))[:10]:
            print(f"  C={c:.3g} FLOPs: best N={n:.4g}, D={c / (6 * n):.4g}, loss={l:.5f}")
        if arrays["C"].size > 10:
            print(f"  ... {arrays['C'].size - 10} more budgets")
    if output is not None:
        _write(output, arrays, isoflop)
        print(f"wrote {output}")
    return EXIT_OK


def _check_tokens(C: np.ndarray, N: np.ndarray) -> None:
    """Iso-FLOP mode: every D = C / (6 N) the outputs hold must lie in float64's normal range."""
    info = np.finfo(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        low, high = C.min() / (6.0 * N.max()), C.max() / (6.0 * N.min())
    if not low >= info.tiny:
        e = math.log10(C.min()) - math.log10(6.0) - math.log10(N.max())
        shown = f"{10 ** (e - math.floor(e)):.3g}e{math.floor(e):+d}"
        raise UsageError(f"the budget C = {C.min():g} with N up to {N.max():g} gives D = C / (6 N) = {shown} tokens, "
                         "below float64's range; raise the budget or lower the largest N")
    if not high <= info.max:
        raise UsageError(f"the budget C = {C.max():g} with N down to {N.min():g} gives D = C / (6 N) above float64's range; "
                         "lower the budget or raise the smallest N")


def _check_params_fit(params: Any, dtype: np.dtype) -> None:
    """Every parameter must survive the cast to `dtype` (1e300 is fine in float64, inf in float32)."""
    info = np.finfo(dtype)
    for name, value in params._asdict().items():
        values = np.asarray(value, dtype=np.float64)
        big = np.abs(values) > info.max
        if big.any():
            raise UsageError(f"parameter {name} = {values[big].flat[0]:g} overflows {dtype}; use --dtype float64")
        small = (values != 0) & (np.abs(values) < info.tiny)
        if small.any():
            raise UsageError(f"parameter {name} = {values[small].flat[0]:g} underflows {dtype}; use --dtype float64")


def _write(path: Path, arrays: dict[str, np.ndarray], isoflop: bool) -> None:
    if path.suffix.lower() == ".npz":
        _io.write_npz_atomic(path, **arrays)
        return
    if isoflop and "loss" not in arrays:
        rows = [{"C": c, "N": n, "D": c / (6 * n), "loss": l} for c, n, l in zip(arrays["C"], arrays["N_opt"], arrays["loss_opt"])]
        _io.write_csv_atomic(path, rows, ["C", "N", "D", "loss"])
        return
    if isoflop:
        C, N = np.meshgrid(arrays["C"], arrays["N"], indexing="ij")
        columns = {"C": C.ravel(), "N": N.ravel(), "D": (C / (6 * N)).ravel(), "loss": arrays["loss"].ravel()}
    else:
        Ng, Dg = np.meshgrid(arrays["N"], arrays["D"], indexing="ij")
        columns = {"N": Ng.ravel(), "D": Dg.ravel(), "loss": arrays["loss"].ravel()}
    _write_columns_csv(path, columns)


def _write_columns_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    with _io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(",".join(names) + "\n")
            stacked = np.column_stack([columns[k].astype(np.float64) for k in names])
            np.savetxt(f, stacked, delimiter=",", fmt="%.9g")
