"""Every bad input of tests/BAD_INPUTS.md, run through the command line in-process.

Each row of the table is one case here. A refused input must give exit code 2, exactly one
line on stderr naming what and where, no traceback, and leave the folder exactly as it was
(no output, no temporary file, no study folder). Inputs that are legal but cannot identify the
law give a warning; extreme values that are legal give finite outputs. Interrupts (SIGINT to a
running `jscaling study` or `jscaling surface`) leave every finished file whole and nothing
half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import subprocess_env
from jscaling import _io, config, data, fit, identify
from jscaling.cli import main

TABLE = Path(__file__).with_name("BAD_INPUTS.md")

# --------------------------------------------------------------------------- inputs


def _law(N: np.ndarray, D: np.ndarray) -> np.ndarray:
    return 1.8 + 480.0 / N**0.35 + 2000.0 / D**0.37


def _csv(N, D, loss=None, *, header: str = "N,D,loss", extra: list[str] | None = None) -> str:
    N, D = np.asarray(N, float), np.asarray(D, float)
    loss = _law(N, D) if loss is None else np.broadcast_to(np.asarray(loss, float), N.shape)
    rows = [f"{n!r},{d!r},{l!r}" for n, d, l in zip(N.tolist(), D.tolist(), loss.tolist())]
    return "\n".join([header, *rows, *(extra or [])]) + "\n"


GRID_N = np.repeat(np.logspace(7.5, 9.5, 6), 5)
GRID_D = np.tile(np.logspace(9, 11, 5), 6)
GOOD = _csv(GRID_N, GRID_D)  # 30 runs, 6 sizes x 5 token counts: identifies the law
GOOD_ROWS = GOOD.splitlines()
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _with_row(text: str, row: str, at: int = 3) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:at] + [row] + lines[at:]) + "\n"


def _params(params=None, law="chinchilla", **extra) -> str:
    body = {"law": law, "params": CHINCHILLA if params is None else params, **extra}
    return json.dumps(body)


def _samples(**override) -> dict:
    base = {k: [v, v * 1.01] for k, v in CHINCHILLA.items()}
    base.update(override)
    return {"samples": base}


@dataclasses.dataclass(frozen=True)
class _Row:
    """One row of tests/BAD_INPUTS.md: its id (the pytest id), the files to write, the argv."""

    id: str
    files: dict
    argv: tuple

    def __str__(self) -> str:
        return self.id


@dataclasses.dataclass(frozen=True)
class Case(_Row):
    """A refused input: the message it gets."""

    message: str


def _runs_cases() -> list[Case]:
    """A bad runs file, given to both commands that read runs (fit and study)."""
    one_budget = _csv(np.logspace(8, 9, 6), 1e20 / 6 / np.logspace(8, 9, 6))
    rows = [
        ("empty file", "", (), "runs.csv: the file is empty"),
        ("whitespace only", "  \n\n \n", (), "runs.csv: the file is empty"),
        ("separators only", ",,\n,,\n", (), "runs.csv: the file holds no header and no data"),
        ("header only", "N,D,loss\n", (), "runs.csv: the file has a header but no data rows"),
        ("not UTF-8", b"N,D,loss\n\xff\xfe,1,2\n", (), "runs.csv: not a UTF-8 text file (byte"),
        ("NUL byte", "N,D,loss\n1e8,1e9\x00,3\n", (), "runs.csv, line 2 (row 1), column 'D': '1e9\\x00' is not a number"),
        ("header names a column twice", "N,N,loss\n1e8,1e9,3\n", (), "runs.csv: the header names column 'N' twice"),
        ("missing loss column", _csv(GRID_N, GRID_D, header="N,D,value"), (), "runs.csv: no column for loss; the columns are 'N', 'D', 'value'"),
        ("missing tokens and FLOPs columns", "N,loss\n1e8,3\n1e9,2.5\n", (), "runs.csv: no column for C"),
        ("misspelt --n-col", GOOD, ("--n-col", "n_parms"), "runs.csv: no column 'n_parms' (for N)"),
        ("misspelt column, close match", GOOD.replace("N,D,loss", "Model Size,D,loss", 1), ("--n-col", "Model Sise"), "did you mean 'Model Size'?"),
        ("row with too few fields", _with_row(GOOD, "1e8,1e9"), (), "runs.csv, line 4 (row 3): 2 fields, but the header has 3"),
        ("row with too many fields", _with_row(GOOD, "1e8,1e9,3,4"), (), "runs.csv, line 4 (row 3): 4 fields, but the header has 3"),
        ("non-numeric cell", _with_row(GOOD, "1e8,abc,3"), (), "runs.csv, line 4 (row 3), column 'D': 'abc' is not a number"),
        ("empty cell", _with_row(GOOD, "1e8,,3"), (), "runs.csv, line 4 (row 3), column 'D': '' is not a number"),
        ("NaN cell", _with_row(GOOD, "1e8,nan,3"), (), "runs.csv, line 4 (row 3), column 'D': must be finite, found 'nan'"),
        ("inf cell", _with_row(GOOD, "inf,1e9,3"), (), "runs.csv, line 4 (row 3), column 'N': must be finite, found 'inf'"),
        ("1e400 overflows to inf", _with_row(GOOD, "1e8,1e9,1e400"), (), "column 'loss': must be finite, found '1e400'"),
        ("zero N", _with_row(GOOD, "0,1e9,3"), (), "runs.csv, line 4 (row 3), column 'N': must be positive, found '0'"),
        ("negative D", _with_row(GOOD, "1e8,-1e9,3"), (), "runs.csv, line 4 (row 3), column 'D': must be positive, found '-1e9'"),
        ("zero loss", _with_row(GOOD, "1e8,1e9,0"), (), "runs.csv, line 4 (row 3), column 'loss': must be positive, found '0'"),
        ("negative loss", _with_row(GOOD, "1e8,1e9,-2.5"), (), "column 'loss': must be positive, found '-2.5'"),
        ("negative C", "N,C,loss\n1e8,-6e17,3\n", (), "runs.csv, line 2 (row 1), column 'C': must be positive, found '-6e17'"),
        ("N in billions (below 1)", _with_row(GOOD, "0.07,1e9,3"), (), "column 'N': N counts parameters and must be at least 1, found 0.07"),
        ("1e-300 tokens", _with_row(GOOD, "1e8,1e-300,3"), (), "column 'D': D counts tokens and must be at least 1, found 1e-300"),
        ("1e300 N and D: C = 6ND overflows", _with_row(GOOD, "1e300,1e300,3"), (), "runs.csv, row 3: C = 6 N D overflows float64 (N = 1e+300, D = 1e+300)"),
        ("1e-300 FLOPs: D = C/(6N) underflows", "N,C,loss\n1e8,6e17,3\n1e10,1e-300,3\n", (), "runs.csv, row 2: D = C / (6 N) underflows float64 (C = 1e-300, N = 1e+10)"),
        ("duplicate run (row pasted twice)", GOOD + GOOD_ROWS[5] + "\n", (), "runs.csv, line 32 (row 31) repeats line 6 (row 5) exactly"),
        ("one N for every run", _csv(np.full(8, 1e8), np.logspace(9, 11, 8)), (), "runs.csv: every run has N = 1e+08: the N term (A, alpha) cannot be fitted"),
        ("one D for every run", _csv(np.logspace(7, 9, 8), np.full(8, 2e10)), (), "runs.csv: every run has D = 2e+10: the D term (B, beta) cannot be fitted"),
        ("one loss for every run", _csv(GRID_N, GRID_D, 2.5), (), "runs.csv: every run has the same loss (2.5): there is nothing to fit"),
        ("fewer runs than parameters", "\n".join([GOOD_ROWS[0], *GOOD_ROWS[1::6]]) + "\n", (), "runs.csv: 5 runs are too few to fit the"),
        ("--drop-highest drops every run", GOOD, ("--drop-highest", "30"), "cannot drop the 30 highest losses of only 30 runs"),
    ]
    cases = []
    for name, text, extra, message in rows:
        files = {"runs.csv": text}
        cases.append(Case(f"fit: {name}", files, ("fit", "runs.csv", "-o", "fit.json", *extra), message))
        cases.append(Case(f"study: {name}", files, ("study", "runs.csv", "-o", "out", "--bootstrap", "0", *extra), message))
    cases += [
        Case("fit: runs file missing", {}, ("fit", "nope.csv"), "runs file 'nope.csv' does not exist"),
        Case("fit: runs file is a folder", {"sub/x": ""}, ("fit", "sub"), "runs file 'sub' is a folder"),
        Case("fit: --weight-col all zero", {"runs.csv": "N,D,loss,w\n" + "".join(f"{r},0\n" for r in GOOD_ROWS[1:])},
             ("fit", "runs.csv", "--weight-col", "w"), "runs.csv, column 'w': every weight is 0: nothing to fit"),
        Case("fit: --weight-col negative", {"runs.csv": "N,D,loss,w\n1e8,1e9,3,-1\n"}, ("fit", "runs.csv", "--weight-col", "w"), "runs.csv, line 2 (row 1), column 'w': must be >= 0, found '-1'"),
        Case("study: --group-col misspelt", {"runs.csv": one_budget.replace("N,D,loss", "N,D,loss,budget", 1)}, ("study", "runs.csv", "--group-col", "budgett", "-o", "out"),
             "runs.csv: no column 'budgett' (for group)"),
        Case("study: empty group label", {"runs.csv": "N,D,loss,g\n1e8,1e9,3,a\n2e8,1e9,2.9,\n"}, ("study", "runs.csv", "--group-col", "g", "-o", "out"),
             "runs.csv, line 3 (row 2), column 'g': the group label is empty"),
    ]
    return cases


def _fit_cases() -> list[Case]:
    runs = {"runs.csv": GOOD}
    fit = ("fit", "runs.csv")
    return [
        Case("fit: --fix without a value", runs, (*fit, "--fix", "alpha"), "--fix takes NAME=VALUE (e.g. E=1.69), got 'alpha'"),
        Case("fit: --fix not a number", runs, (*fit, "--fix", "E=abc"), "--fix E: 'abc' is not a number"),
        Case("fit: --fix not finite", runs, (*fit, "--fix", "E=inf"), "--fix E: the value must be finite"),
        Case("fit: --fix unknown symbol", runs, (*fit, "--fix", "Z=1"), "'Z'"),
        Case("fit: --tie one name", runs, (*fit, "--tie", "alpha"), "--tie takes two or more comma-separated names"),
        Case("fit: --tie across scales", runs, (*fit, "--tie", "alpha,A"), "tie: alpha, A are not on the same scale"),
        Case("fit: --starts unknown", runs, (*fit, "--starts", "best"), "--starts must be 'grid', 'random:N' or 'screen:K' with N, K >= 1, got 'best'"),
        Case("fit: --starts random:0", runs, (*fit, "--starts", "random:0"), "--starts must be 'grid', 'random:N' or 'screen:K' with N, K >= 1, got 'random:0'"),
        Case("fit: --starts too many", runs, (*fit, "--starts", "random:999999999"), "--starts = 999999999 is more than a study allows"),
        Case("fit: --bootstrap 1", runs, (*fit, "--bootstrap", "1"), "--bootstrap needs at least 2 resamples"),
        Case("fit: --bootstrap too many", runs, (*fit, "--bootstrap", "10000000"), "--bootstrap 10000000 is more resamples than allowed"),
        Case("fit: --seed out of range", runs, (*fit, "--seed", str(2**64)), "argument --seed: expected a seed in [0, 2**32)"),
        Case("fit: --holdout leaves no test runs", runs, (*fit, "--holdout", "1e30"), "--holdout 1e+30 must leave runs on both sides; C spans"),
        Case("fit: --delta zero", runs, (*fit, "--delta", "0"), "argument --delta: expected a positive finite number, got '0'"),
        Case("fit: --delta nan", runs, (*fit, "--delta", "nan"), "argument --delta: expected a positive finite number, got 'nan'"),
        Case("fit: unknown --law", runs, (*fit, "--law", "nope"), "argument --law: invalid choice: 'nope'"),
        Case("fit: unknown option", runs, (*fit, "--nope"), "unrecognized arguments: --nope"),
        Case("fit: output exists, no --force", {**runs, "fit.json": "{}"}, (*fit, "-o", "fit.json"), "output file 'fit.json' exists; pass --force"),
        Case("fit: output is the input", runs, (*fit, "-o", "runs.csv", "--force"), "refusing to write the output over the input file 'runs.csv'"),
        Case("fit: output is a hard link to the input", {**runs, "@link": ("runs.csv", "copy.json")}, (*fit, "-o", "copy.json", "--force"),
             "refusing to write the output over the input file 'runs.csv'"),
        Case("fit: output folder missing", runs, (*fit, "-o", "no/fit.json"), "the folder of the output 'no/fit.json' does not exist"),
        Case("fit: output is a folder", {**runs, "sub/x": ""}, (*fit, "-o", "sub"), "output path 'sub' is a folder, not a file"),
    ]


def _params_cases() -> list[Case]:
    """A bad parameter JSON, given to both commands that read one (allocate and surface)."""
    rows = [
        ("params file missing", None, "params file 'p.json' does not exist"),
        ("params file empty", "", "params file 'p.json' is not valid JSON: line 1, column 1"),
        ("malformed JSON", "{not json", "params file 'p.json' is not valid JSON: line 1, column 2"),
        ("binary params file", b"\xff\xfe\x00\x01", "params file 'p.json' is not a text file"),
        ("JSON nested too deeply", "[" * 100_000, "params file 'p.json': the JSON is nested too deeply"),
        ("JSON not an object", "[1, 2]", "params file 'p.json' must hold a JSON object"),
        ("empty object", "{}", "p.json must be a non-empty object of parameter values"),
        ("unknown law", _params(law="foo"), "p.json: params: unknown law 'foo'"),
        ("law not a string", _params(law=3), "params file 'p.json': 'law' must be a string"),
        ("parameter missing", _params({k: v for k, v in CHINCHILLA.items() if k != "beta"}), "p.json: params: law 'chinchilla' needs the parameters"),
        ("unknown parameter", _params({**CHINCHILLA, "Z": 1.0}), "p.json: params: law 'chinchilla' needs the parameters"),
        ("symbols of no law", json.dumps({"E": 1.0, "A": 2.0}), "p.json: cannot tell the law from the symbols ['A', 'E']"),
        ("parameter is a string", _params({**CHINCHILLA, "A": "400"}), "p.json: params: parameter 'A' is not a number: '400'"),
        ("parameter is true", _params({**CHINCHILLA, "A": True}), "p.json: params: parameter 'A' must be a number, got True"),
        ("parameter is null", _params({**CHINCHILLA, "E": None}), "p.json: params: parameter 'E' is null"),
        ("parameter is NaN", _params({**CHINCHILLA, "E": float("nan")}), "p.json: params: parameter 'E' must be finite, got nan"),
        ("parameter is Infinity", _params({**CHINCHILLA, "B": float("inf")}), "p.json: params: parameter 'B' must be finite, got inf"),
        ("parameter is a list", _params({**CHINCHILLA, "A": [400.0, 410.0]}), "p.json: params: parameter 'A' must be a single number, got list"),
        ("integer too large for float64", _params({**CHINCHILLA, "A": 10**400}), "p.json: params: parameter 'A' = 1000000000000000000"),
        ("negative A", _params({**CHINCHILLA, "A": -1.0}), "p.json: params: parameter A must be positive; found -1.0"),
        ("negative E", _params({**CHINCHILLA, "E": -0.5}), "p.json: params: parameter E must be >= 0 (an irreducible loss)"),
        ("bootstrap not an object", _params(bootstrap=[1]), "params file 'p.json': 'bootstrap' must be an object"),
        ("bootstrap samples of unequal length", _params(bootstrap=_samples(A=[400.0])), "p.json: bootstrap.samples: the parameter lists differ in length"),
        ("bootstrap samples empty", _params(bootstrap={"samples": {k: [] for k in CHINCHILLA}}), "p.json: bootstrap.samples: the lists are empty"),
        ("bootstrap sample is null", _params(bootstrap=_samples(E=[1.69, None])), "p.json: bootstrap.samples: parameter 'E'[1] is null"),
        ("bootstrap sample out of domain", _params(bootstrap=_samples(E=[1.69, -2.0])), "p.json: bootstrap.samples: sample 1: parameter E must be >= 0"),
        ("no bootstrap resample converged", _params(bootstrap={**_samples(), "converged": [False, False]}), "p.json: bootstrap: none of the 2 bootstrap resamples converged"),
        ("bootstrap converged flags malformed", _params(bootstrap={**_samples(), "converged": [True]}), "p.json: bootstrap.converged must be a list of 2 true/false values"),
    ]
    cases = []
    for name, text, message in rows:
        files = {} if text is None else {"p.json": text}
        cases.append(Case(f"allocate: {name}", files, ("allocate", "--params", "p.json", "--budget", "1e21", "-o", "a.json"), message))
        cases.append(Case(f"surface: {name}", files, ("surface", "--params", "p.json", "--n", "1e8", "1e9", "2", "--d", "1e9", "1e10", "2", "-o", "s.npz"), message))
    return cases


def _allocate_surface_cases() -> list[Case]:
    alloc = ("allocate", "--preset", "hoffmann2022")
    surf = ("surface", "--preset", "hoffmann2022")
    grid = ("--n", "1e8", "1e9", "3", "--d", "1e9", "1e10", "3")
    huge = {"p.json": _params({**CHINCHILLA, "A": 1e300})}
    return [
        Case("allocate: unknown preset", {}, ("allocate", "--preset", "nope", "--budget", "1e21"), "unknown preset 'nope'; known presets: hoffmann2022"),
        Case("surface: unknown preset", {}, ("surface", "--preset", "nope", *grid), "unknown preset 'nope'; known presets: hoffmann2022"),
        Case("allocate: unknown --law", {}, (*alloc, "--law", "nope", "--budget", "1e21"), "unknown law 'nope'; known laws"),
        Case("surface: unknown --law", {}, (*surf, "--law", "nope", *grid), "unknown law 'nope'; known laws"),
        Case("allocate: --law does not fit the parameters", {}, (*alloc, "--law", "kaplan-n", "--budget", "1e21"), "--preset hoffmann2022: law 'kaplan-n' takes PowerLawParams, got ChinchillaParams"),
        Case("surface: --unique-tokens on a Chinchilla params file", {"p.json": _params()}, ("surface", "--params", "p.json", "--unique-tokens", "1e10", *grid),
             "--unique-tokens applies to the data-constrained law, not 'chinchilla'"),
        Case("allocate: no budgets or targets", {}, alloc, "give budgets (--budget C ... or --budgets LO:HI:NUM) or --target-loss L"),
        Case("allocate: budgets and targets", {}, (*alloc, "--budget", "1e21", "--target-loss", "2.0"), "give budgets (--budget/--budgets) or --target-loss, not both"),
        Case("allocate: zero budget", {}, (*alloc, "--budget", "0"), "argument --budget: expected a positive finite number, got '0'"),
        Case("allocate: negative budget", {}, (*alloc, "--budget", "-1e20"), "argument --budget: expected a positive finite number, got '-1e20'"),
        Case("allocate: budget 1e400 (inf)", {}, (*alloc, "--budget", "1e400"), "argument --budget: expected a positive finite number, got '1e400'"),
        Case("allocate: reversed --budgets", {}, (*alloc, "--budgets", "1e22:1e20:3"), "--budgets: reversed range, 1e+22 > 1e+20"),
        Case("allocate: malformed --budgets", {}, (*alloc, "--budgets", "1e20-1e22"), "--budgets must look like LO:HI:NUM"),
        Case("allocate: --budgets NUM not an integer", {}, (*alloc, "--budgets", "1e20:1e22:x"), "--budgets must look like LO:HI:NUM with numbers"),
        Case("allocate: --budgets NUM too large", {}, (*alloc, "--budgets", "1e20:1e22:99999999999999999999"), "--budgets: 99999999999999999999 points is more than one axis may hold"),
        Case("allocate: reversed --n-range", {}, (*alloc, "--budget", "1e21", "--n-range", "1e9:1e6"), "--n-range: reversed range, 1e+09 >= 1e+06"),
        Case("allocate: --n-range with inf", {}, (*alloc, "--budget", "1e21", "--n-range", "1:1e400"), "--n-range: bounds must be positive and finite"),
        Case("allocate: budget unspendable in bounds", {}, (*alloc, "--budget", "1e24", "--n-range", "1e6:1e9", "--d-range", "1:1e10"), "C[0]=1e+24 FLOPs cannot be spent within the bounds"),
        Case("allocate: target loss at E", {}, (*alloc, "--target-loss", "1.69"), "target loss 1.69 (index 0) is at or below the irreducible loss E = 1.69"),
        Case("allocate: target loss below E", {}, (*alloc, "--target-loss", "2.5", "1.5"), "target loss 1.5 (index 1) is at or below the irreducible loss E = 1.69"),
        Case("allocate: target loss 1e300 (budget underflows)", {}, (*alloc, "--target-loss", "1e300"), "target loss 1e+300 (index 0): the result's C is 0, outside float64's range"),
        Case("allocate: A = 1e300 (N overflows)", huge, ("allocate", "--params", "p.json", "--budget", "1e21", "-o", "a.json"), "budget C[0] = 1e+21 FLOPs: the result's N is inf, outside float64's range"),
        Case("allocate: --percentiles without samples", {}, (*alloc, "--budget", "1e21", "--percentiles", "5", "95"), "--percentiles applies when the parameters carry bootstrap samples"),
        Case("allocate: percentile over 100", {}, (*alloc, "--budget", "1e21", "--percentiles", "101"), "argument --percentiles: expected a percentile in [0, 100], got '101'"),
        Case("allocate: --max-tokens and --unique-tokens", {}, (*alloc, "--budget", "1e21", "--max-tokens", "1e10", "--unique-tokens", "1e10"), "give --max-tokens or --unique-tokens (the same cap), not both"),
        Case("allocate: output suffix", {}, (*alloc, "--budget", "1e21", "-o", "a.txt"), "--output must end in .json or .csv, got 'a.txt'"),
        Case("allocate: output exists, no --force", {"a.json": "{}"}, (*alloc, "--budget", "1e21", "-o", "a.json"), "output file 'a.json' exists; pass --force"),
        Case("allocate: output is the params file", {"p.json": _params()}, ("allocate", "--params", "p.json", "--budget", "1e21", "-o", "p.json", "--force"), "refusing to write the output over the input file 'p.json'"),
        Case("surface: no --preset or --params", {}, ("surface", *grid), "one of the arguments --preset --params is required"),
        Case("surface: reversed --n", {}, (*surf, "--n", "1e9", "1e8", "3", "--d", "1e9", "1e10", "3"), "--n: reversed range, 1e+09 > 1e+08"),
        Case("surface: --n NUM zero", {}, (*surf, "--n", "1e8", "1e9", "0", "--d", "1e9", "1e10", "3"), "--n: the number of points must be at least 1, got 0"),
        Case("surface: --n NUM too large", {}, (*surf, "--n", "1e8", "1e9", "99999999999999999999", "--d", "1e9", "1e10", "3"), "--n: 99999999999999999999 points is more than one axis may hold"),
        Case("surface: --n not numbers", {}, (*surf, "--n", "1e8", "x", "3", "--d", "1e9", "1e10", "3"), "--n takes LO HI NUM (numbers, NUM an integer), got '1e8 x 3'"),
        Case("surface: --n bound zero", {}, (*surf, "--n", "0", "1e9", "3", "--d", "1e9", "1e10", "3"), "--n: bounds must be positive and finite, got 0 and 1e+09"),
        Case("surface: no --d or --budgets", {}, (*surf, "--n", "1e8", "1e9", "3"), "give --d LO HI NUM (grid mode) or --budgets LO:HI:NUM (iso-FLOP mode)"),
        Case("surface: --d and --budgets", {}, (*surf, *grid, "--budgets", "1e20:1e21:2"), "give --d (grid mode) or --budgets/--budget (iso-FLOP mode), not both"),
        Case("surface: reversed --budgets", {}, (*surf, "--n", "1e8", "1e9", "3", "--budgets", "1e21:1e20:2"), "--budgets: reversed range, 1e+21 > 1e+20"),
        Case("surface: grid over the memory bound", {}, (*surf, "--n", "1e6", "1e12", "100000", "--d", "1e6", "1e12", "100000", "--max-memory", "1G"), "over the memory bound"),
        Case("surface: --max-memory malformed", {}, (*surf, *grid, "--max-memory", "lots"), "argument --max-memory: expected a size like 512M or 8G, got 'lots'"),
        Case("surface: --max-memory 1e400G", {}, (*surf, *grid, "--max-memory", "1e400G"), "argument --max-memory: expected a size below 4 EiB, got '1e400G'"),
        Case("surface: --max-memory zero", {}, (*surf, *grid, "--max-memory", "0"), "argument --max-memory: expected a positive size, got '0'"),
        Case("surface: unknown --dtype", {}, (*surf, *grid, "--dtype", "float16"), "argument --dtype: invalid choice: 'float16'"),
        Case("surface: N = 1e300 in float32", {}, (*surf, "--n", "1e300", "1e301", "2", "--d", "1e9", "1e10", "2"), "N must be finite in float32; found inf at index 0"),
        Case("surface: N = 1e-300 in float32", {}, (*surf, "--n", "1e-300", "1e-299", "2", "--d", "1e9", "1e10", "2"), "N must be positive in float32; found 0.0 at index 0"),
        Case("surface: A = 1e300 in float32", huge, ("surface", "--params", "p.json", *grid), "parameter A = 1e+300 overflows float32; use --dtype float64"),
        Case("surface: D = C/(6N) underflows", {}, (*surf, "--dtype", "float64", "--n", "1", "1e30", "3", "--budget", "1e-300"), "the budget C = 1e-300 with N up to 1e+30 gives D = C / (6 N) = 1.67e-331 tokens, below float64's range"),
        Case("surface: --min-only without budgets", {}, (*surf, *grid, "--min-only"), "--min-only applies to iso-FLOP mode"),
        Case("surface: output suffix", {}, (*surf, *grid, "-o", "s.txt"), "--output must end in .npz or .csv, got 's.txt'"),
        Case("surface: output exists, no --force", {"s.npz": "x"}, (*surf, *grid, "-o", "s.npz"), "output file 's.npz' exists; pass --force"),
        Case("jscaling: unknown command", {}, ("nope",), "argument COMMAND: invalid choice: 'nope'"),
    ]


def _study_cases() -> list[Case]:
    study = ("study", "--bootstrap", "0")

    def toml(text: str) -> dict:
        return {"study.toml": text}

    return [
        Case("study: config missing", {}, ("study", "--config", "none.toml"), "config file 'none.toml' does not exist"),
        Case("study: config is a folder", {"cfg/x": ""}, ("study", "--config", "cfg"), "config file 'cfg' is a folder"),
        Case("study: config not TOML", toml("[data\npath = 1"), ("study", "--config", "study.toml"), "study.toml: not valid TOML"),
        Case("study: config nested too deeply", toml("a = " + "[" * 5000 + "]" * 5000), ("study", "--config", "study.toml"), "study.toml: not valid TOML"),
        Case("study: config not UTF-8", {"study.toml": b"\xff\xfe[data]"}, ("study", "--config", "study.toml"), "study.toml: not a UTF-8 text file"),
        Case("study: config unknown section", toml("[dat]\npath = 'x.csv'\n"), ("study", "--config", "study.toml"), "study.toml: unknown section [dat]; did you mean [data]?"),
        Case("study: config unknown key", toml("[data]\npth = 'x.csv'\n"), ("study", "--config", "study.toml"), "study.toml: [data] has no key 'pth'; did you mean 'path'?"),
        Case("study: config wrong type", toml("[bootstrap]\nsamples = 'many'\n"), ("study", "--config", "study.toml"), "study.toml: [bootstrap] samples must be an integer, got 'many'"),
        Case("study: config section not a table", toml("fit = 3\n"), ("study", "--config", "study.toml"), "study.toml: [fit] must be a table"),
        Case("study: config integer too large", toml("[fit]\ndelta = 1" + "0" * 400 + "\n"), ("study", "--config", "study.toml"), "study.toml: [fit] delta = 1000000000000000"),
        Case("study: config quantile out of range", toml("[holdout]\nquantile = 1.5\n"), ("study", "--config", "study.toml"), "[holdout] quantile must be in (0, 1), got 1.5"),
        Case("study: config budgets malformed", toml("[allocate]\nbudgets = '1e18-1e26'\n"), ("study", "--config", "study.toml"), "[allocate] budgets must look like LO:HI:NUM"),
        Case("study: config budgets reversed", toml("[allocate]\nbudgets = '1e26:1e18:9'\n"), ("study", "--config", "study.toml"), "[allocate] budgets: reversed range '1e26:1e18:9'"),
        Case("study: config table with inf", toml("[allocate]\ntable = [1e21, inf]\n"), ("study", "--config", "study.toml"), "[allocate] table must be a non-empty list of positive, finite budgets"),
        Case("study: config negative token cap", toml("[allocate]\nmax_unique_tokens = -1.0\n"), ("study", "--config", "study.toml"), "[allocate] max_unique_tokens must be a finite number of tokens >= 1"),
        Case("study: config unknown preset", toml("[compare]\npresets = ['nope']\n"), ("study", "--config", "study.toml"), "[compare] presets: unknown preset 'nope'"),
        Case("study: config unknown simulate preset", toml("[simulate]\npreset = 'nope'\n"), ("study", "--config", "study.toml"), "[simulate] preset: unknown preset 'nope'"),
        Case("study: config simulate preset not chinchilla", toml("[simulate]\npreset = 'kaplan2020'\n"), ("study", "--config", "study.toml"), "[simulate] preset: 'kaplan2020' is a kaplan-joint law; the study simulates and compares Chinchilla-form laws"),
        Case("study: config compare preset not chinchilla", toml("[compare]\npresets = ['muennighoff2023']\n"), ("study", "--config", "study.toml"), "[compare] presets: 'muennighoff2023' is a data-constrained law"),
        Case("study: config starts malformed", toml("[fit]\nstarts = 'random'\n"), ("study", "--config", "study.toml"), "[fit] starts must be 'grid', 'random:N' or 'screen:K'"),
        Case("study: config seed out of range", toml(f"[bootstrap]\nseed = {2**40}\n"), ("study", "--config", "study.toml"), "[bootstrap] seed must be in [0, 2**32)"),
        Case("study: config one bootstrap sample", toml("[bootstrap]\nsamples = 1\n"), ("study", "--config", "study.toml"), "[bootstrap] samples must be 0 (none) or at least 2"),
        Case("study: config too many sizes", toml("[simulate]\nsizes_per_budget = 100000000\n"), ("study", "--config", "study.toml"), "[simulate] sizes_per_budget = 100000000 is more than a study allows"),
        Case("study: config empty output dir", toml("[output]\ndir = ''\n"), ("study", "--config", "study.toml"), "[output] dir is empty"),
        Case("study: config data path missing", toml("[data]\npath = 'runs.csv'\n"), ("study", "--config", "study.toml", "-o", "out"), "runs.csv' does not exist"),
        Case("study: --seed out of range", {}, (*study, "--seed", str(2**32)), "argument --seed: expected a seed in [0, 2**32)"),
        Case("study: --bootstrap 1", {}, ("study", "--bootstrap", "1"), "[bootstrap] samples must be 0 (none) or at least 2"),
        Case("study: column options without runs", {}, (*study, "--n-col", "N"), "column options (--n-col, ...) need a runs file"),
        Case("study: output exists, no --force", {"out/results.json": "{}"}, (*study, "-o", "out"), "output folder 'out' exists and is not empty; pass --force"),
        Case("study: output holds the runs", {"keep/runs.csv": GOOD}, ("study", "keep/runs.csv", "-o", "keep", "--force"), "the output folder 'keep' holds the input 'keep/runs.csv'"),
        Case("study: output holds the config", {"keep/study.toml": "[bootstrap]\nsamples = 0\n"}, ("study", "--config", "keep/study.toml", "-o", "keep", "--force"),
             "the output folder 'keep' holds the input 'keep/study.toml'"),
        Case("study: output is the current folder", {"notes.txt": "mine"}, (*study, "-o", ".", "--force"), "the output folder '.' is the current folder or holds it"),
        Case("study: output holds the current folder", {"notes.txt": "mine"}, (*study, "-o", "..", "--force"), "the output folder '..' is the current folder or holds it"),
        Case("study: --force on a folder that is not a study", {"mine/notes.txt": "mine"}, (*study, "-o", "mine", "--force"), "output folder 'mine' is not empty and holds no previous study"),
        Case("study: output is a file", {"out": "x"}, (*study, "-o", "out"), "output 'out' exists and is not a folder"),
        Case("study: output parent missing", {}, (*study, "-o", "no/out"), "the parent folder of the output 'no/out' does not exist"),
    ]


CASES = _runs_cases() + _fit_cases() + _params_cases() + _allocate_surface_cases() + _study_cases()


# --------------------------------------------------------------------------- helpers


def _write_files(folder: Path, files: dict) -> None:
    for name, content in files.items():
        if name == "@link":
            source, link = content
            os.link(folder / source, folder / link)
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` (hidden ones too), with a hash of each file."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _run(argv) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code)


# --------------------------------------------------------------------------- refused inputs


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_is_refused_in_one_line_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _write_files(work, case.files)
    before = _snapshot(tmp_path)
    code = _run(case.argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err, out)
    assert "Traceback" not in err and "Warning" not in err
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert case.message in err, err
    assert _snapshot(tmp_path) == before  # nothing written, nothing left behind


def test_every_case_is_in_the_table():
    text = TABLE.read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and not line.startswith("| input")}
    ids = {c.id for c in CASES} | {c.id for c in WARNING_CASES} | {c.id for c in LEGAL_EXTREMES}
    assert len(ids) == len(CASES) + len(WARNING_CASES) + len(LEGAL_EXTREMES), "case ids must be unique"
    assert not ids - rows, f"cases missing from {TABLE.name}: {sorted(ids - rows)}"
    assert not rows - ids, f"rows of {TABLE.name} without a test: {sorted(rows - ids)}"


# --------------------------------------------------------------------------- warnings


@dataclasses.dataclass(frozen=True)
class Warned(_Row):
    code: int
    messages: tuple


# Sixteen runs in most cases, so that the fits share one compiled program.
_N16 = np.logspace(7, 10, 16)
_NB = np.logspace(7.5, 9.5, 16)
_SEEDS = GOOD + GOOD_ROWS[1] + "\n" + f"{float(GRID_N[0])!r},{float(GRID_D[0])!r},3.1\n"
FAST = ("--starts", "random:64")
WARNING_CASES = [
    Warned("fit: one D per N (D = 20 N)", {"runs.csv": _csv(_N16, 20 * _N16)}, ("fit", "runs.csv", *FAST, "-o", "fit.json"), 0,
           ("the N and D terms can trade places", "not identified by the runs")),
    Warned("fit: a single compute budget", {"runs.csv": _csv(_NB, 1e20 / (6 * _NB))}, ("fit", "runs.csv", *FAST, "-o", "fit.json"), 0,
           ("every run has the same compute C = 1e+20 FLOPs (one IsoFLOP budget)", "scaled Hessian condition number")),
    Warned("fit: two model sizes", {"runs.csv": _csv(np.repeat([1e8, 1e9], 8), np.tile(np.logspace(9, 11, 8), 2))}, ("fit", "runs.csv", *FAST, "-o", "fit.json"), 0,
           ("only 2 distinct N values (1e+08, 1e+09): E, A and alpha are not identified",)),
    Warned("fit: N spans a fifth of a decade", {"runs.csv": _csv(np.repeat(np.logspace(8, 8.2, 4), 4), np.tile(np.logspace(9, 11, 4), 4))}, ("fit", "runs.csv", *FAST, "-o", "fit.json"), 0,
           ("N spans only 0.2 decades",)),
    Warned("fit: few runs for five parameters", {"runs.csv": "\n".join(GOOD_ROWS[:9]) + "\n"}, ("fit", "runs.csv", *FAST, "-o", "fit.json"), 0,
           ("only 8 runs for 5 free parameters",)),
    Warned("fit: repeated seeds, and a duplicate row with --allow-duplicates", {"runs.csv": _SEEDS}, ("fit", "runs.csv", *FAST, "--allow-duplicates", "-o", "fit.json"), 0,
           ("2 duplicate (N, D) run(s) kept: row 31 repeats row 1; row 32 repeats row 1",)),
    Warned("fit: no start converges (--max-steps 1)", {"runs.csv": _SEEDS}, ("fit", "runs.csv", *FAST, "--allow-duplicates", "--max-steps", "1", "-o", "fit.json"), 1,
           ("the best start did not converge",)),
]


@pytest.mark.parametrize("case", WARNING_CASES, ids=str)
def test_unidentifiable_or_unconverged_fit_says_so(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write_files(tmp_path, case.files)
    code = _run(case.argv)
    out, err = capsys.readouterr()
    assert code == case.code, (code, err)
    assert "Traceback" not in err
    written = json.loads((tmp_path / "fit.json").read_text())
    recorded = " ".join(written["warnings"] + written["notes"] + [written["message"]])
    for message in case.messages:
        assert message in out + err, (message, out, err)
        assert message in recorded
    assert written["converged"] is (case.code == 0)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- extreme but legal


@dataclasses.dataclass(frozen=True)
class Legal(_Row):
    output: str


_N4, _D4 = np.repeat(np.logspace(7.5, 9.5, 4), 4), np.tile(np.logspace(9, 11, 4), 4)  # 16 runs
LEGAL_EXTREMES = [
    Legal("allocate: budget 1e300 FLOPs", {}, ("allocate", "--preset", "hoffmann2022", "--budget", "1e300", "-o", "a.json"), "a.json"),
    Legal("allocate: budget 1e-300 FLOPs", {}, ("allocate", "--preset", "hoffmann2022", "--budget", "1e-300", "-o", "a.json"), "a.json"),
    Legal("allocate: target just above E", {}, ("allocate", "--preset", "hoffmann2022", "--target-loss", "1.6900001", "-o", "a.json"), "a.json"),
    Legal("surface: N from 1e300 in float64", {}, ("surface", "--preset", "hoffmann2022", "--dtype", "float64", "--n", "1e300", "1e305", "3", "--d", "1e9", "1e300", "3", "-o", "s.csv"), "s.csv"),
    Legal("surface: budget 1e-300 in float64", {}, ("surface", "--preset", "hoffmann2022", "--dtype", "float64", "--n", "1", "1e6", "3", "--budget", "1e-300", "-o", "s.csv"), "s.csv"),
    Legal("fit: N near 1e294 with a FLOPs column", {"runs.csv": "N,C,loss\n" + "".join(
        f"{n!r},{c!r},{l!r}\n" for n, c, l in zip(
            (_N4 * 1e285).tolist(), (6 * _N4 * 1e285 * _D4).tolist(), _law(_N4, _D4).tolist()))},
          ("fit", "runs.csv", *FAST, "-o", "fit.json"), "fit.json"),
]


@pytest.mark.parametrize("case", LEGAL_EXTREMES, ids=str)
def test_extreme_but_legal_values_give_finite_outputs(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write_files(tmp_path, case.files)
    code = _run(case.argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err and "Warning" not in err
    path = tmp_path / case.output
    if path.suffix == ".csv":
        values = np.genfromtxt(path, delimiter=",", skip_header=1)
        assert np.isfinite(values).all() and (values > 0).all(), path.read_text()
        return
    data = json.loads(path.read_text())
    if "rows" in data:  # allocate
        numbers = [v for row in data["rows"] for k, v in row.items() if k != "at_edge"]
    else:  # fit
        numbers = [*data["params"].values(), data["a"], data["b"], data["G"], data["objective"]]
    assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in numbers), data


# --------------------------------------------------------------------------- library calls


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: data.Runs.from_arrays([1e8, 2e8], [1e9], [3.0, 2.9]), ValueError, "D has 1 values but N has 2: lengths must match"),
        (lambda: data.Runs.from_arrays([1e8, np.nan], [1e9, 1e9], [3.0, 2.9]), ValueError, "arrays, row 2, column 'N': must be finite, found nan"),
        (lambda: data.Runs.from_arrays([1e300], [1e300], [3.0]), ValueError, "arrays, row 1: C = 6 N D overflows float64"),
        (lambda: data.Runs.from_arrays([1e20], None, [3.0], C=[1e-300]), ValueError, "arrays, row 1: D = C / (6 N) underflows float64"),
        (lambda: data.Runs.from_arrays(["a"], [1e9], [3.0]), TypeError, "N must be an array of numbers"),
        (lambda: identify.require_variation(data.Runs.from_arrays([1e8] * 6, np.logspace(9, 10, 6), np.linspace(3, 2, 6))), ValueError, "every run has N = 1e+08"),
        (lambda: _io.params_from_mapping({"E": 1.0, "A": 1.0}), ValueError, "cannot tell the law from the symbols"),
        (lambda: config.parse_budgets("1e20:1e18:3"), ValueError, "[allocate] budgets: reversed range"),
        (lambda: config.parse_starts("screen:0"), ValueError, "[fit] starts must be 'grid', 'random:N' or 'screen:K'"),
        (lambda: config.StudyConfig().replace(holdout={"quantile": 2.0}).validate(), ValueError, "[holdout] quantile must be in (0, 1)"),
        (lambda: fit.holdout(data.Runs.from_arrays(np.logspace(7, 9, 8), np.logspace(9, 11, 8), np.linspace(3, 2, 8)), 1e18, weights=[1.0, 2.0]), ValueError, "weights must have one value per run, shape (8,); got shape (2,)"),
    ],
)
def test_library_calls_raise_one_line(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_load_params_file_keeps_converged_samples_only(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(_params(bootstrap={**_samples(E=[1.7, 1.8]), "converged": [False, True]}))
    name, params, samples = _io.load_params_file(path)
    assert name == "chinchilla" and float(params.E) == 1.69
    np.testing.assert_array_equal(samples.E, [1.8])


# --------------------------------------------------------------------------- interrupts


def test_lost_interrupt_still_stops_the_commit(tmp_path):
    """An interrupt swallowed by a callback (it happens inside JAX's GC hook) is remembered."""
    out = tmp_path / "out.json"
    out.write_text("old")
    with _io.interrupt_guard():
        _io._INTERRUPT["requested"] = True  # what the signal handler records
        with pytest.raises(KeyboardInterrupt):
            _io.write_json_atomic(out, {"new": 1})
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    _io.write_json_atomic(out, {"new": 1})  # outside a command nothing is remembered
    assert json.loads(out.read_text()) == {"new": 1}


def test_interrupt_during_a_commit_waits_for_it():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with _io.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            done.append(True)
    assert done == [True]


def _interrupt_when(argv: list[str], marker: str, cwd: Path, *, timeout: float = 240.0) -> tuple[int, str]:
    """Runs `python -m jscaling ARGV` in `cwd`, sends SIGINT once stderr shows `marker`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jscaling", *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=subprocess_env(PYTHONPATH=str(Path(__file__).resolve().parents[1])),
    )
    buffer = bytearray()

    def pump() -> None:
        while chunk := proc.stderr.read1(4096):
            buffer.extend(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    start = time.monotonic()
    try:
        while marker.encode() not in buffer:
            assert proc.poll() is None, f"ended before {marker!r}: {bytes(buffer).decode(errors='replace')}"
            assert time.monotonic() - start < timeout, f"no {marker!r} within {timeout} s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    proc.stderr.close()
    return code, bytes(buffer).decode(errors="replace")


def _entries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("phase", ["fitting", "drawing figures"])
def test_ctrl_c_during_a_study_leaves_the_old_output_whole_and_no_temporary_folder(tmp_path, phase):
    (tmp_path / "study.toml").write_text('[fit]\nstarts = "random:64"\n[bootstrap]\nsamples = 0\n[holdout]\nquantile = 0.01\n[compare]\npresets = ["hoffmann2022"]\n')
    old = tmp_path / "out"
    old.mkdir()
    (old / "results.json").write_text('{"previous": true}')
    (old / "summary.md").write_text("previous study")
    before = _snapshot(tmp_path)
    code, err = _interrupt_when(["study", "--config", "study.toml", "-o", "out", "--force", "--progress"], phase, tmp_path)
    assert code == 130, err
    assert "interrupted; finished files are whole" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before, _entries(tmp_path)  # old output untouched, no .partial, no .old


def test_ctrl_c_during_a_surface_sweep_leaves_the_existing_output_unchanged(tmp_path):
    out = tmp_path / "s.npz"
    out.write_bytes(b"previous result")
    # 2e9 evaluations in chunks of 4% (about 20 s uninterrupted): the interrupt lands mid-sweep.
    argv = ["surface", "--preset", "hoffmann2022", "--n", "1e6", "1e12", "5000", "--budgets", "1e18:1e24:400000",
            "--min-only", "--progress", "-o", "s.npz", "--force"]
    code, err = _interrupt_when(argv, "surface [", tmp_path)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous result"
    assert _entries(tmp_path) == ["s.npz"]  # no temporary file left


def test_study_on_one_budget_warns_and_skips_approach_2(tmp_path):
    """One IsoFLOP budget: Approach 2 needs two, so it is skipped with a note; the fit warns."""
    from jscaling import _report, study

    runs = tmp_path / "runs.csv"  # 16 runs and 64 starts: the fit program of the cases above
    runs.write_text("N,D,loss,budget\n" + "".join(f"{row},1e20\n" for row in _csv(_NB, 1e20 / (6 * _NB)).splitlines()[1:]))
    cfg = config.StudyConfig().replace(
        data={"path": str(runs), "group_col": "budget"}, fit={"starts": "random:64"}, bootstrap={"samples": 0}, compare={"presets": []},
        holdout={"quantile": 0.1},  # too few runs below the cut: the held-out check is skipped
    )
    result = study.run_study(cfg)
    assert result.approach2 is None and "Approach 2 needs at least 2 usable budgets" in result.approach2_note
    assert any("one IsoFLOP budget" in w for w in result.warnings)
    summary = _report.summary_markdown(result, [])
    assert "one IsoFLOP budget" in summary and "Approach 2 needs at least 2 usable budgets" in summary
    assert any("one IsoFLOP budget" in w for w in _report.results_dict(result)["warnings"])
