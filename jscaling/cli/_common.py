"""Helpers shared by the subcommands: errors to one line, ranges, parameter sources, progress."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from jscaling import _io
from jscaling.laws import Law, get_law
from jscaling.presets import get_preset, preset_names

__all__: list[str] = []

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad arguments: reported on one line, exit code 2."""


def run_command(args: argparse.Namespace) -> int:
    """Runs `args.run(args)`, turning expected failures into one line on stderr and exit 2."""
    try:
        return int(args.run(args))
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError, _io.OutputExistsError) as exc:
        print(f"jscaling {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"jscaling {args.command}: interrupted; finished files are whole, unfinished ones were not written", file=sys.stderr)
        return 130


def positive_float(text: str) -> float:
    """argparse type: a finite positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def log_range(name: str, lo: float, hi: float, num: int) -> np.ndarray:
    """`num` log-spaced values from `lo` to `hi`, endpoints included."""
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
        raise UsageError(f"{name}: bounds must be positive and finite, got {lo:g} and {hi:g}")
    if hi < lo:
        raise UsageError(f"{name}: reversed range, {lo:g} > {hi:g}")
    if num < 1:
        raise UsageError(f"{name}: the number of points must be at least 1, got {num}")
    if num > 1 and hi == lo:
        raise UsageError(f"{name}: {num} points need distinct bounds, got {lo:g} twice")
    return np.logspace(math.log10(lo), math.log10(hi), num)


def parse_range(name: str, text: str) -> np.ndarray:
    """`LO:HI:NUM` to a log-spaced array."""
    parts = text.split(":")
    if len(parts) != 3:
        raise UsageError(f"{name} must look like LO:HI:NUM (e.g. 1e18:1e24:7), got {text!r}")
    try:
        lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UsageError(f"{name} must look like LO:HI:NUM with numbers, got {text!r}") from None
    return log_range(name, lo, hi, num)


def add_law_source(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """`--preset NAME | --params FILE.json`, with `--law` and `--unique-tokens`."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--preset", metavar="NAME", help=f"published parameters: {', '.join(preset_names())}")
    group.add_argument("--params", metavar="FILE.json", help="parameters from a JSON file (the output of `jscaling fit`)")
    parser.add_argument("--law", metavar="NAME", default=None, help="law form, when the parameters do not say (chinchilla, kaplan-joint, kaplan-n, kaplan-d, data-constrained)")
    parser.add_argument("--unique-tokens", type=positive_float, default=None, metavar="U", help="cap on unique training tokens (data-constrained law)")


def law_source(args: argparse.Namespace) -> tuple[Law, Any, Any | None, str]:
    """`(law, params, bootstrap samples or None, description)` from `--preset`/`--params`."""
    if args.preset is not None:
        preset = get_preset(args.preset, unique_tokens=args.unique_tokens)
        law = preset.law if args.law is None else get_law(args.law, unique_tokens=args.unique_tokens)
        return law, preset.params, None, f"preset {preset.name}"
    name, params, samples = _io.load_params_file(args.params)
    law_name = args.law or name
    law = get_law(law_name, unique_tokens=args.unique_tokens) if law_name == "data-constrained" else get_law(law_name)
    if args.unique_tokens is not None and law_name != "data-constrained":
        raise UsageError(f"--unique-tokens applies to the data-constrained law, not {law_name!r}")
    return law, params, samples, f"params {args.params}"


class Progress:
    """A live status line on stderr (only when it is a terminal, or when forced)."""

    def __init__(self, label: str, *, enabled: bool | None = None, min_interval: float = 0.2) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self.last < self.min_interval:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else float("inf")
        eta = (total - done) / rate if rate > 0 and math.isfinite(rate) else float("nan")
        width = 28
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {100 * done / max(total, 1):5.1f}%  {rate:.3g}/s  eta {eta:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def status(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {text}\033[K")
            sys.stderr.flush()

    def done(self, text: str = "done") -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {text}\033[K\n")
            sys.stderr.flush()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0
