"""`jscaling surface` and `jscaling presets`, run in-process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from jscaling import testing
from jscaling.cli import main
from jscaling.presets import get_preset


def test_grid_npz(tmp_path, capsys):
    out = tmp_path / "s.npz"
    code = main(["surface", "--preset", "hoffmann2022", "--n", "1e6", "1e12", "7", "--d", "1e8", "1e13", "5", "--dtype", "float64", "--output", str(out)])
    assert code == 0
    data = np.load(out)
    np.testing.assert_allclose(data["N"], np.logspace(6, 12, 7), rtol=1e-15)
    np.testing.assert_allclose(data["D"], np.logspace(8, 13, 5), rtol=1e-15)
    assert data["loss"].shape == (7, 5)
    p = get_preset("hoffmann2022").params
    np.testing.assert_allclose(data["loss"], testing.chinchilla_np(*p, data["N"][:, None], data["D"][None, :]), rtol=1e-12)
    printed = capsys.readouterr().out
    assert "evaluated 35 points" in printed and "points/s" in printed


def test_grid_csv_and_force(tmp_path):
    out = tmp_path / "s.csv"
    args = ["surface", "--preset", "besiroglu2024", "--n", "1e6", "1e9", "3", "--d", "1e9", "1e10", "2", "-o", str(out)]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "N,D,loss" and len(lines) == 7
    assert main(args) == 2  # exists: refused without --force
    assert main(args + ["--force"]) == 0


def test_isoflop_mode(tmp_path, capsys):
    out = tmp_path / "iso.npz"
    assert main(["surface", "--preset", "hoffmann2022-unrounded", "--n", "1e9", "1e12", "3001", "--budget", "5.76e23", "--dtype", "float64", "-o", str(out)]) == 0
    data = np.load(out)
    assert data["loss"].shape == (1, 3001)
    assert data["N_opt"][0] == pytest.approx(40.4e9, rel=0.01)
    assert "best N=4.0" in capsys.readouterr().out
    out2 = tmp_path / "iso.csv"
    assert main(["surface", "--preset", "besiroglu2024", "--n", "1e7", "1e12", "1001", "--budgets", "1e19:1e22:4", "--min-only", "-o", str(out2)]) == 0
    assert out2.read_text().splitlines()[0] == "C,N,D,loss"


def test_params_file(tmp_path):
    params = tmp_path / "fit.json"
    params.write_text(json.dumps({"law": "chinchilla", "params": {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}}))
    out = tmp_path / "s.npz"
    assert main(["surface", "--params", str(params), "--n", "1e8", "1e9", "2", "--d", "1e10", "1e11", "2", "--dtype", "float64", "-o", str(out)]) == 0
    loss = np.load(out)["loss"]
    assert loss[0, 0] == pytest.approx(1.8 + 400 / 1e8**0.34 + 2000 / 1e10**0.37, rel=1e-12)
    # The output may not overwrite an input.
    assert main(["surface", "--params", str(params), "--n", "1e8", "1e9", "2", "--d", "1e10", "1e11", "2", "-o", str(params), "--force"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "nope", "--n", "1", "10", "2", "--d", "1", "10", "2"], "unknown preset 'nope'"),
        (["--preset", "hoffmann2022", "--n", "10", "1", "2", "--d", "1", "10", "2"], "reversed range"),
        (["--preset", "hoffmann2022", "--n", "-1", "10", "2", "--d", "1", "10", "2"], "must be positive"),
        (["--preset", "hoffmann2022", "--n", "1", "10", "x", "--d", "1", "10", "2"], "LO HI NUM"),
        (["--preset", "hoffmann2022", "--n", "1", "10", "2"], "give --d"),
        (["--preset", "hoffmann2022", "--n", "1", "10", "2", "--budgets", "1e20:1e19:3"], "reversed range"),
        (["--preset", "hoffmann2022", "--n", "1", "10", "2", "--budgets", "1e20"], "LO:HI:NUM"),
        (["--preset", "hoffmann2022", "--n", "1e6", "1e12", "100000", "--d", "1e6", "1e12", "100000", "--max-memory", "1G"], "over the memory bound"),
        (["--preset", "hoffmann2022", "--n", "1", "10", "2", "--d", "1", "10", "2", "-o", "x.txt"], ".npz or .csv"),
        (["--params", "/nonexistent/fit.json", "--n", "1", "10", "2", "--d", "1", "10", "2"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["surface", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["surface", "--n", "1", "10", "2"])
    assert exc.value.code == 2
    assert "one of the arguments --preset --params is required" in capsys.readouterr().err
    assert main([]) == 2


def test_malformed_params_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["surface", "--params", str(bad), "--n", "1", "10", "2", "--d", "1", "10", "2"]) == 2
    assert "is not valid JSON: line 1" in capsys.readouterr().err
    bad.write_text(json.dumps({"params": {"E": 1.0, "A": 1.0}}))
    assert main(["surface", "--params", str(bad), "--n", "1", "10", "2", "--d", "1", "10", "2"]) == 2
    assert "cannot tell the law" in capsys.readouterr().err


def test_presets_listing(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    for name in ("hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024", "kaplan2020", "muennighoff2023"):
        assert name in text
    assert "arXiv:2203.15556" in text
    assert main(["presets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["besiroglu2024"]["params"]["A"] == 482.01


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "jscaling", "presets"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "besiroglu2024" in proc.stdout
