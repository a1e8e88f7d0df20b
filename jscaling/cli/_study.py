"""`jscaling study`: the main job, end to end (see jscaling.study)."""

from __future__ import annotations

import argparse
import sys
import time

from jscaling.cli._common import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Progress,
    add_run_columns,
    nonnegative_int,
    seed_int,
)

__all__: list[str] = []


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "study",
        help="the whole study: fit, bootstrap, Approach 2, held-out check, allocation, figures",
        description="Run a scaling-law study end to end and write summary.md, results.json, CSV "
        "tables and figures to --output. With no runs file it studies a built-in simulated "
        "IsoFLOP sweep (9 budgets from 6e18 to 3e21 FLOPs, 15 sizes each, the besiroglu2024 law, "
        "log-normal noise 0.01), so it needs no data of yours.",
    )
    parser.add_argument("runs", nargs="?", metavar="RUNS.csv", help="training runs (CSV with a header row); omit for the built-in default")
    parser.add_argument("--config", metavar="STUDY.toml", help="a study configuration file (see jscaling.config)")
    add_run_columns(parser)
    parser.add_argument("--group-col", metavar="COL", help="column of IsoFLOP budget labels (for Approach 2)")
    parser.add_argument("--drop-highest", type=nonnegative_int, metavar="K", help="drop the K highest losses first")
    parser.add_argument("--allow-duplicates", action="store_true", help="keep rows that repeat another row exactly (by default an error)")
    parser.add_argument("--bootstrap", type=nonnegative_int, metavar="B", help="bootstrap resamples (default 1000; 0 to skip)")
    parser.add_argument("--seed", type=seed_int, metavar="S", help="seed of the bootstrap (and of the simulated data), in [0, 2**32)")
    parser.add_argument("--output", "-o", metavar="DIR", help="output folder (default study-output)")
    parser.add_argument("--svg", action="store_true", help="write SVG figures beside the PNGs")
    parser.add_argument("--force", action="store_true", help="replace an existing, non-empty output folder")
    parser.add_argument("--progress", action="store_true", help="show progress even when stderr is not a terminal")
    parser.set_defaults(run=run)


def resolve_config(args: argparse.Namespace):  # noqa: ANN201
    from jscaling.config import StudyConfig, load_config

    config = load_config(args.config) if args.config else StudyConfig()
    data = {k: v for k, v in {
        "path": args.runs, "n_col": args.n_col, "d_col": args.d_col, "c_col": args.c_col,
        "loss_col": args.loss_col, "group_col": args.group_col, "drop_highest": args.drop_highest,
        "allow_duplicates": True if args.allow_duplicates else None,
    }.items() if v is not None}
    if args.runs is None and any(k not in ("drop_highest", "allow_duplicates") for k in data):
        raise ValueError("column options (--n-col, ...) need a runs file")
    updates: dict[str, dict] = {}
    if data:
        updates["data"] = data
    if args.bootstrap is not None:
        updates["bootstrap"] = {"samples": args.bootstrap}
    if args.seed is not None:
        updates.setdefault("bootstrap", {})["seed"] = args.seed
        updates["simulate"] = {"seed": args.seed}
    output = {}
    if args.output is not None:
        output["dir"] = args.output
    if args.svg:
        output["svg"] = True
    if output:
        updates["output"] = output
    config = config.replace(**updates) if updates else config
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    from jscaling import _report, study

    config = resolve_config(args)
    # Refuse a bad output folder before any work.
    study.check_output_folder(config.output.dir, force=args.force, inputs=(config.data.path, config.source))
    progress = Progress("study", enabled=True if args.progress else None)
    t0 = time.perf_counter()
    result = study.run_study(config, status=progress.status)
    out = study.write_study(result, config.output.dir, force=args.force, status=progress.status)
    progress.done(f"finished in {time.perf_counter() - t0:.1f} s")
    print(f"jscaling study: {result.data_description}")
    print(_report.terminal_summary(result))
    for warning in result.warnings:
        print(f"jscaling study: warning: {warning}", file=sys.stderr)
    print(f"\nwrote {out}/summary.md, results.json, tables and figures")
    if not result.converged:
        print(f"jscaling study: the best fit did not converge ({result.fit.message}); results written with converged: false", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


