"""Fuzzing (hypothesis, bounded in time): the loaders and the command line never crash.

The runs loader (CSV), the study configuration loader (TOML), the parameter file loader
(JSON) and the command line: every input either works or fails with one clear line
(ValueError/TypeError in the library, exit code 2 from the command): no traceback, no hang.
The command-line fuzz stops a study before its work starts (the heavy part is not what is
fuzzed), so a random argv never runs for minutes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import string
import tomllib
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jscaling import _io
from jscaling.cli import main
from jscaling.config import StudyConfig, load_config
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
    # flags that take files, counts and seeds, and values at the edges
    "runs.csv", "params.json", "study.toml", "-o", "out", "out.json", "--force", "--allow-duplicates", "--fix", "E=1",
    "alpha", "--tie", "alpha,beta", "--starts", "random:0", "screen:5", "--holdout", "1e30", "99999999999999999999",
    "1e400G", "--n-range", "1e9:1e6", "--percentiles", "101", "--group-col", "--drop-highest", "1e-300", "1e300",
]


class _StudyReached(Exception):
    """Raised in place of a study's work: the arguments got through every check."""


def _cli_files(folder) -> None:
    (folder / "runs.csv").write_text("N,D,loss\n1e8,1e9,3.0\n2e8,1e9,2.9\n", encoding="utf-8")
    (folder / "params.json").write_text(json.dumps({"law": "chinchilla", "params": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}}))
    (folder / "study.toml").write_text("[bootstrap]\nsamples = 0\n", encoding="utf-8")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=9))
def test_cli_never_crashes(tmp_path_factory, argv):
    folder = tmp_path_factory.mktemp("cli")
    _cli_files(folder)
    stub = mock.patch("jscaling.study.run_study", side_effect=_StudyReached)
    with stub, contextlib.chdir(folder), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
            code = exc.code
        except _StudyReached:
            code = 0
    assert code in (0, 1, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2 and not err.getvalue().startswith("usage:"):  # `jscaling` alone prints its help
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


# --------------------------------------------------------------------------- study TOML

_SECTIONS = ["data", "simulate", "fit", "bootstrap", "holdout", "allocate", "compare", "output", "dat", "extra"]
_KEYS = [
    "path", "n_col", "d_col", "c_col", "loss_col", "group_col", "drop_highest", "allow_duplicates", "preset", "budgets",
    "sizes_per_budget", "noise", "seed", "law", "delta", "starts", "max_steps", "samples", "by", "quantile", "table",
    "max_unique_tokens", "presets", "dir", "svg", "pth",
]
_scalar = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(string.printable, max_size=12),
    st.sampled_from(["grid", "random:4", "screen:0", "1e18:1e26:3", "1e26:1e18:3", "hoffmann2022", "size", "runs.csv"]),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=4), st.dictionaries(st.sampled_from(_KEYS), _scalar, max_size=2))


def _toml(value) -> str:
    """A TOML literal for a Python value (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


toml_doc = st.dictionaries(
    st.sampled_from(_SECTIONS), st.one_of(_scalar, st.dictionaries(st.sampled_from(_KEYS), _value, max_size=4)), max_size=4,
)
_PIECES = ["[data]", "[fit]", "[bootstrap]", "[[data]]", "[", "]", "=", "path = ", "samples = 1", "a.b = 2", '"', "'''", "#", "x = [[[", "y = {"]
toml_text = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(string.printable, max_size=10)), max_size=12).map("\n".join)


def _load_config_cleanly(path):
    try:
        config = load_config(path)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return None
    assert isinstance(config, StudyConfig)
    return config


@FUZZ
@given(toml_doc)
def test_config_loader_on_valid_toml_with_wrong_types(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("toml")
    tables, top = [], []
    for section, body in doc.items():
        if isinstance(body, dict):
            tables.append(f"[{section}]")
            tables += [f"{k} = {_toml(v)}" for k, v in body.items()]
        else:
            top.append(f"{section} = {_toml(body)}")
    path = folder / "study.toml"
    path.write_text("\n".join(top + tables) + "\n", encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))  # the generator writes valid TOML
    config = _load_config_cleanly(path)
    if config is not None:  # a valid config writes itself back as TOML that reads back equal
        again = folder / "again.toml"
        again.write_text(config.to_toml(), encoding="utf-8")
        assert load_config(again).to_dict() == config.to_dict()


@FUZZ
@given(toml_text)
def test_config_loader_on_toml_ish_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "study.toml"
    path.write_text(text, encoding="utf-8")
    _load_config_cleanly(path)


@FUZZ
@given(st.binary(max_size=200))
def test_config_loader_survives_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("toml") / "study.toml"
    path.write_bytes(blob)
    _load_config_cleanly(path)


# --------------------------------------------------------------------------- parameter JSON

_SYMBOLS = ["E", "A", "B", "alpha", "beta", "a", "b", "e", "x_c", "N_c", "D_c", "alpha_N", "alpha_D", "R_D_star", "R_N_star", "Z"]
_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**400), st.just(None), st.booleans(),
    st.text(max_size=5), st.floats(0.01, 3000.0),
)
_json_value = st.recursive(
    _number, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8,
)
_param_map = st.dictionaries(st.sampled_from(_SYMBOLS), st.one_of(_number, st.lists(_number, max_size=3)), max_size=7)
_bootstrap = st.one_of(
    _json_value,
    st.fixed_dictionaries(
        {"samples": st.one_of(_param_map, _json_value)},
        optional={"converged": st.one_of(st.lists(st.booleans(), max_size=4), _json_value)},
    ),
)
params_doc = st.one_of(
    _param_map,
    st.fixed_dictionaries(
        {"params": st.one_of(_param_map, _json_value)},
        optional={
            "law": st.one_of(st.sampled_from(["chinchilla", "kaplan-n", "kaplan-d", "kaplan-joint", "data-constrained", "nope"]), _number),
            "bootstrap": _bootstrap,
        },
    ),
    _json_value,
)


def _load_params_cleanly(path) -> None:
    try:
        name, params, samples = _io.load_params_file(path)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return
    assert isinstance(name, str) and hasattr(params, "_fields")
    for v in params:  # the point estimate: one finite number per symbol
        assert np.ndim(v) == 0 and np.isfinite(v)
    if samples is not None:  # equal-length lists of finite numbers
        shapes = {np.shape(v) for v in samples}
        assert len(shapes) == 1 and len(next(iter(shapes))) == 1
        assert all(np.isfinite(v).all() for v in samples)


@FUZZ
@given(params_doc)
def test_params_loader_on_random_json(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("params") / "p.json"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    _load_params_cleanly(path)


@FUZZ
@given(st.binary(max_size=200))
def test_params_loader_survives_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("params") / "p.json"
    path.write_bytes(blob)
    _load_params_cleanly(path)
