"""The `jscaling` command: subcommands that parse, call the public API, and write files.

Exit codes: 0 success; 1 a result was written but a fit did not converge; 2 bad input or
usage (one line on stderr naming what and where, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from jscaling.cli._common import EXIT_USAGE

__all__ = ["main"]

# Each module defines `register(subparsers)`, adding one subcommand whose parser sets
# `run=callable(args) -> exit code`.
_COMMANDS = (
    "jscaling.cli._study",
    "jscaling.cli._fit",
    "jscaling.cli._allocate",
    "jscaling.cli._surface",
    "jscaling.cli._presets",
)



class _Parser(argparse.ArgumentParser):
    # Before Python 3.13 argparse reads "-1e20" as an option; treat it as a (negative) number,
    # so that a bad value is reported as a bad value.
    # Every parser, subcommands included (argparse builds them with this class), takes options
    # only by their full names: `--boot` is an error, not `--bootstrap`.
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str) -> None:  # one line, exit 2, as argparse does, plus a hint
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from jscaling import __version__

    parser = _Parser(
        prog="jscaling",
        description="Neural scaling laws of language models: fit, allocate compute, evaluate surfaces.",
    )
    parser.add_argument("--version", action="version", version=f"jscaling {__version__}")
    parser.add_argument(
        "--distributed", action="store_true",
        help="join a multi-host JAX job first (jax.distributed; see jscaling.distributed): every "
        "host runs the same command, work splits over all devices, host 0 writes the outputs",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a subcommand not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    from jscaling._cache import enable_compilation_cache
    from jscaling._xla import enable_fast_cpu_kernels

    enable_fast_cpu_kernels()  # before JAX starts; see jscaling/_xla.py
    enable_compilation_cache()  # before the first compilation; see jscaling/_cache.py
    from jscaling.cli._common import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.distributed or os.environ.get("JSCALING_DISTRIBUTED") == "1":
        from jscaling import distributed

        try:
            distributed.initialize()
        except (ValueError, RuntimeError) as exc:
            print(f"jscaling: error: --distributed: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_command(args)
