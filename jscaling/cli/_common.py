"""Helpers shared by the subcommands: errors to one line, ranges, parameter sources, progress."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from jscaling import _io
from jscaling.laws import Law, get_law
from jscaling.presets import get_preset, preset_names

__all__: list[str] = []

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_USAGE = 0, 1, 2
MAX_POINTS = 10**9  # values on one log-spaced axis (8 GB in float64)


class UsageError(ValueError):
    """Bad arguments: reported on one line, exit code 2."""


def run_command(args: argparse.Namespace) -> int:
    """Runs `args.run(args)`, turning expected failures into one line on stderr and exit 2.

    Bad input (ValueError, TypeError), files that cannot be read or written (OSError: missing,
    a folder, no permission, disk full), an existing output without --force, and running out
    of memory (host or device) are all reported as `jscaling COMMAND: error: ...` on one line,
    exit code 2.
    Ctrl-C and SIGTERM end the command with exit code 130 after the outputs' temporary files
    are removed (finished outputs are whole, unfinished ones absent).
    """
    with _io.interrupt_guard():
        try:
            code = int(args.run(args))
            _io.raise_if_interrupted()  # an interrupt lost in a callback: report it
            return code
        except (ValueError, TypeError, OSError, _io.OutputExistsError) as exc:
            _error(args.command, _one_line(exc))
            return EXIT_USAGE
        except MemoryError:
            _error(args.command, "out of memory; make the job smaller (fewer points, budgets or resamples) or lower --max-memory")
            return EXIT_USAGE
        except RecursionError:
            _error(args.command, "an input is nested too deeply")
            return EXIT_USAGE
        except RuntimeError as exc:  # an accelerator out of memory: XLA's RESOURCE_EXHAUSTED
            if "RESOURCE_EXHAUSTED" not in str(exc):
                raise
            _error(args.command, "out of device memory; make the job smaller or lower --max-memory")
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"jscaling {args.command}: interrupted; finished files are whole, unfinished ones were not written", file=sys.stderr)
            return 130


def _error(command: str, text: str) -> None:
    print(f"jscaling {command}: error: {text}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line (an OSError without one gets its type and errno)."""
    text = str(exc).strip()
    if isinstance(exc, OSError) and not isinstance(exc, _io.OutputExistsError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename is not None else ""
        text = f"{exc.strerror}{where}"
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text or type(exc).__name__


def _number(kind: type, ok: Any, expected: str) -> Any:
    """An argparse type: `text` parsed as `kind`, accepted when `ok(value)`."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
"""argparse type: a finite positive number."""
nonnegative_float = _number(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
"""argparse type: a finite number >= 0."""
percentile = _number(float, lambda v: 0 <= v <= 100, "a percentile in [0, 100]")
"""argparse type: a percentile."""
positive_int = _number(int, lambda v: v >= 1, "a positive integer")
"""argparse type: an integer >= 1."""
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
"""argparse type: an integer >= 0."""
seed_int = _number(int, lambda v: 0 <= v < 2**32, "a seed in [0, 2**32)")
"""argparse type: a PRNG seed, an integer in [0, 2**32)."""


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
    if num > MAX_POINTS:
        raise UsageError(f"{name}: {num} points is more than one axis may hold ({MAX_POINTS:.0e}); use fewer")
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


def add_run_columns(parser: argparse.ArgumentParser) -> None:
    """The runs file's column options, shared by `fit` and `study`."""
    parser.add_argument("--n-col", metavar="COL", help="column of parameters N (default: a common name such as N or params)")
    parser.add_argument("--d-col", metavar="COL", help="column of training tokens D")
    parser.add_argument("--c-col", metavar="COL", help="column of training FLOPs C; without a tokens column, D = C / (6 N)")
    parser.add_argument("--loss-col", metavar="COL", help="column of final losses (nats per token)")


def output_path(args: argparse.Namespace, suffixes: tuple[str, ...]) -> Path | None:
    """`--output`, checked: one of `suffixes`, not an input (`--params`), replaced only with `--force`."""
    if args.output is None:
        return None
    if Path(args.output).suffix.lower() not in suffixes:
        raise UsageError(f"--output must end in {' or '.join(suffixes)}, got {args.output!r}")
    return _io.check_output_path(args.output, force=args.force, inputs=[args.params])


def add_law_source(parser: argparse.ArgumentParser) -> None:
    """`--preset NAME | --params FILE.json`, with `--law` and `--unique-tokens`."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--preset", metavar="NAME", help=f"published parameters: {', '.join(preset_names())}")
    group.add_argument("--params", metavar="FILE.json", help="parameters from a JSON file (the output of `jscaling fit`)")
    parser.add_argument("--law", metavar="NAME", default=None, help="law form, when the parameters do not say (chinchilla, kaplan-joint, kaplan-n, kaplan-d, data-constrained)")
    parser.add_argument("--unique-tokens", type=positive_float, default=None, metavar="U", help="cap on unique training tokens (data-constrained law)")


def law_source(args: argparse.Namespace) -> tuple[Law, Any, Any | None, str]:
    """`(law, params, bootstrap samples or None, description)` from `--preset`/`--params`.

    The parameters (and every bootstrap sample) are checked against the law here, so that a
    bad value is reported with the file, and the sample, it came from.
    """
    if args.preset is not None:
        preset = get_preset(args.preset, unique_tokens=args.unique_tokens)
        law = preset.law if args.law is None else get_law(args.law, unique_tokens=args.unique_tokens)
        _checked(law, preset.params, f"--preset {args.preset}")
        return law, preset.params, None, f"preset {preset.name}"
    name, params, samples = _io.load_params_file(args.params)
    law_name = args.law or name
    law = get_law(law_name, unique_tokens=args.unique_tokens) if law_name == "data-constrained" else get_law(law_name)
    if args.unique_tokens is not None and law_name != "data-constrained":
        raise UsageError(f"--unique-tokens applies to the data-constrained law, not {law_name!r}")
    _checked(law, params, f"{args.params}: params")
    if samples is not None:
        _checked(law, samples, f"{args.params}: bootstrap.samples")
    return law, params, samples, f"params {args.params}"


def _checked(law: Law, params: Any, where: str) -> None:
    """`law.validate(params)`, the error prefixed with `where` and, for a batch, the sample."""
    try:
        law.validate(params)
    except (ValueError, TypeError) as exc:
        leaves = [np.asarray(v) for v in params]
        size = max((v.size for v in leaves if v.ndim == 1), default=0)
        for i in range(size):  # name the first bad sample
            try:
                law.validate(type(params)(*[v[i] if v.ndim == 1 else v for v in leaves]))
            except (ValueError, TypeError) as one:
                raise type(exc)(f"{where}: sample {i}: {one}") from None
        raise type(exc)(f"{where}: {exc}") from None


class Progress:
    """A live status line on stderr (only when it is a terminal, or when forced)."""

    def __init__(self, label: str, *, enabled: bool | None = None, min_interval: float = 0.2) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval

    def __call__(self, done: int, total: int) -> None:
        _io.raise_if_interrupted()
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
        _io.raise_if_interrupted()
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {text}\033[K")
            sys.stderr.flush()

    def done(self, text: str = "done") -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {text}\033[K\n")
            sys.stderr.flush()
