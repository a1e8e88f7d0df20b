"""Fuzzing (hypothesis, bounded in time): the runs loader and the command line never crash.

Every input either works or fails with one clear line (ValueError/TypeError in the library,
exit code 2 from the command): no traceback, no hang.
"""

from __future__ import annotations

import contextlib
import io
import string

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jscaling.cli import main
from jscaling.data import Runs, load_runs

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10, 10**15).map(str),
    st.text(string.printable, max_size=6),
    st.sampled_from(["", " ", "nan", "inf", "-1", "0", "1e400", "1e-400", "abc", '"1,5"', "1e9"]),
)
header = st.lists(st.sampled_from(["N", "D", "C", "loss", "Model Size", "Training FLOP", "x", "", "N"]), min_size=0, max_size=6)


@FUZZ
@given(header, st.lists(st.lists(cell, min_size=0, max_size=7), max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_loader_fails_cleanly_or_loads(tmp_path_factory, head, rows, newline):
    path = tmp_path_factory.mktemp("fuzz") / "runs.csv"
    path.write_text(newline.join([",".join(head)] + [",".join(r) for r in rows]), encoding="utf-8")
    try:
        runs = load_runs(path)
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert isinstance(runs, Runs) and len(runs) >= 1
    assert np.isfinite(runs.N).all() and (runs.N > 0).all() and (runs.D > 0).all() and (runs.loss > 0).all()


@FUZZ
@given(st.binary(max_size=200))
def test_loader_survives_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "runs.csv"
    path.write_bytes(blob)
    try:
        load_runs(path)
    except ValueError as exc:
        assert str(exc)


TOKENS = [
    "surface", "presets", "fit", "allocate", "study", "--preset", "hoffmann2022", "besiroglu2024", "nope",
    "--n", "--d", "1e6", "1e12", "3", "0", "-1", "nan", "inf", "1e400", "abc", "--budgets", "1e19:1e21:3",
    "1e21:1e19:3", "--budget", "--dtype", "float64", "float16", "--min-only", "--json", "--help-not",
    "--params", "missing.json", "--law", "chinchilla", "kaplan-joint", "--unique-tokens", "--max-memory", "1K", "5G",
    "--bootstrap", "--seed", "--target-loss", "1.5", "--max-tokens", "--inference-tokens", "--config", "none.toml",
]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=9))
def test_cli_never_crashes(tmp_path_factory, argv):
    folder = tmp_path_factory.mktemp("cli")
    with contextlib.chdir(folder), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
            code = exc.code
    assert code in (0, 1, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
