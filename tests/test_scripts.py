"""The example studies under scripts/ run end to end through the public API (small settings)."""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import REPO, run_python, subprocess_env

from jscaling._io import load_params_file
from jscaling.data import simulate_isoflop_sweep
from jscaling.presets import get_preset

SCRIPTS = REPO / "scripts"


def _run(name: str, *args: str, cwd: Path) -> str:
    return run_python([str(SCRIPTS / name), *args], env=subprocess_env(), cwd=cwd)


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory) -> Path:
    runs = simulate_isoflop_sweep("chinchilla", get_preset("besiroglu2024").params, key=jax.random.key(0))
    path = tmp_path_factory.mktemp("scripts") / "runs.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["params", "tokens", "flops", "final_loss"])
        for row in zip(runs.N, runs.D, 6.0 * runs.N * runs.D, runs.loss):
            w.writerow([repr(float(v)) for v in row])
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in SCRIPTS.glob("*.py")))
def test_help(name, tmp_path):
    assert "usage:" in _run(name, "--help", cwd=tmp_path)


def test_reproduce_chinchilla(runs_csv, tmp_path):
    out = _run("reproduce_chinchilla.py", str(runs_csv), "--n-col", "params", "--c-col", "flops", "--loss-col", "final_loss",
               "--drop-highest", "0", "--bootstrap", "20", "--output", "fit.json", cwd=tmp_path)
    assert "exponents: a = " in out and "95% interval of a" in out
    # The JSON is what `--params` reads: the bootstrap samples come back, for bands.
    law, params, samples = load_params_file(tmp_path / "fit.json")
    assert law == "chinchilla" and samples is not None and 0 < len(samples.E) <= 20


def test_delta_and_starts_sweep(runs_csv, tmp_path):
    out = _run("delta_and_starts_sweep.py", str(runs_csv), "--n-col", "params", "--d-col", "tokens", "--loss-col", "final_loss",
               "--deltas", "1e-3,1e-2", "--output", "sweep.csv", cwd=tmp_path)
    assert "spread of the exponent a" in out
    with (tmp_path / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 2 and {r["delta"] for r in rows} >= {"0.001", "0.01"}


def test_budget_grid_with_data_cap(tmp_path):
    _run("budget_grid_with_data_cap.py", "--preset", "hoffmann2022", "--budgets", "1e20:1e24:50", "--caps", "1e10,1e11",
         "--output", "grid.csv", cwd=tmp_path)
    with (tmp_path / "grid.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    # A cap on unique tokens never lowers the loss, and the tighter cap costs at least as much.
    by_cap = {}
    for r in rows:
        by_cap.setdefault(float(r["cap"]), []).append(float(r["loss"]))
    tight, loose = np.array(by_cap[1e10]), np.array(by_cap[1e11])
    assert np.all(tight >= loose - 1e-12)
    assert all(float(r["loss"]) >= float(r["loss_unconstrained"]) - 1e-12 for r in rows)


def test_runs_for_interval_width(tmp_path):
    out = _run("runs_for_interval_width.py", "--sizes", "5,8", "--budgets", "4", "--repeats", "2", "--bootstrap", "20", cwd=tmp_path)
    assert "median width" in out
