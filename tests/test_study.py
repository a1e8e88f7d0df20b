"""`jscaling study`: the main job end to end, its files, its config, its refusals."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from jscaling.cli import main
from jscaling.config import StudyConfig, load_config

FIGURES = ("isoflop.png", "contours.png", "frontier.png", "residuals.png", "bootstrap.png")
TABLES = ("allocation.csv", "compute_optimal_table.csv", "runs.csv", "bootstrap_samples.csv", "approach2_budgets.csv")


@pytest.fixture(scope="module")
def default_study(tmp_path_factory) -> tuple[Path, str, int]:
    """The README's main job, with fewer bootstrap resamples to keep the test quick."""
    out = tmp_path_factory.mktemp("study") / "out"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["study", "--bootstrap", "40", "--output", str(out)])
    return out, buffer.getvalue(), code


def test_default_study_writes_everything(default_study):
    out, printed, code = default_study
    assert code == 0
    names = {p.name for p in out.iterdir()}
    for name in ("summary.md", "results.json", "config.toml", *FIGURES, *TABLES):
        assert name in names, name
    assert not [n for n in names if n.endswith((".tmp", ".partial"))]
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The terminal ends with the compact summary.
    assert "alpha =" in printed and "C (FLOPs)" in printed and "1e+23" in printed


def test_default_study_recovers_the_simulated_truth(default_study):
    out, _, _ = default_study
    results = json.loads((out / "results.json").read_text())
    assert results["converged"] is True
    truth, params = results["truth"], results["params"]
    # 135 runs with 1% noise: exponents within a few hundredths, E within a few percent.
    assert params["alpha"] == pytest.approx(truth["alpha"], abs=0.03)
    assert params["beta"] == pytest.approx(truth["beta"], abs=0.03)
    assert params["E"] == pytest.approx(truth["E"], rel=0.03)
    lo, hi = results["bootstrap"]["interval_95"]["alpha"]
    assert lo < params["alpha"] < hi
    a_true = truth["beta"] / (truth["alpha"] + truth["beta"])
    assert results["a"] == pytest.approx(a_true, abs=0.02)
    # The compute-optimal table spans 1e19..1e25 with bands, on the frontier 6ND = C.
    rows = results["compute_optimal"]
    assert [r["C"] for r in rows] == pytest.approx([1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25])
    for r in rows:
        assert 6 * r["N"] * r["D"] == pytest.approx(r["C"], rel=1e-10)
        assert r["N_p2.5"] <= r["N"] <= r["N_p97.5"]
    assert "approach2" in results and results["approach2"]["a"] == pytest.approx(a_true, abs=0.06)
    assert results["holdout"]["n_test"] > 0
    assert {c["preset"] for c in results["comparisons"]} == {"hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024"}


def test_summary_reads_like_a_report(default_study):
    out, _, _ = default_study
    text = (out / "summary.md").read_text()
    for heading in ("## Fit (Approach 3)", "## Compute-optimal allocation", "## Approach 2", "## Held-out check", "## Published laws", "## Figures"):
        assert heading in text
    for name in FIGURES:
        assert f"]({name})" in text
    assert "| 1e+23 |" in text and "95% interval" in text
    assert "nan" not in text.lower().replace("nans", "")


def test_resolved_config_round_trips(default_study):
    out, _, _ = default_study
    written = tomllib.loads((out / "config.toml").read_text())
    assert written["bootstrap"]["samples"] == 40
    config = load_config(out / "config.toml")
    assert config.to_dict() == StudyConfig().replace(bootstrap={"samples": 40}, output={"dir": config.output.dir}).to_dict()


def test_study_from_a_config_file_with_a_runs_file(tmp_path):
    rng = np.random.default_rng(3)
    N = np.repeat(np.logspace(7.5, 9.5, 6), 5)
    D = np.tile(np.logspace(9, 11, 5), 6)
    loss = (1.8 + 480 / N**0.35 + 2000 / D**0.37) * np.exp(0.005 * rng.normal(size=N.size))
    runs = tmp_path / "data" / "runs.csv"
    runs.parent.mkdir()
    runs.write_text("params,tokens,final_loss\n" + "\n".join(f"{n},{d},{l}" for n, d, l in zip(N, D, loss)))
    config = tmp_path / "data" / "study.toml"
    config.write_text(
        '[data]\npath = "runs.csv"\nn_col = "params"\nd_col = "tokens"\nloss_col = "final_loss"\n'
        "[bootstrap]\nsamples = 20\nseed = 7\n[holdout]\nquantile = 0.75\n[allocate]\ntable = [1e21, 1e23]\n"
    )
    out = tmp_path / "result"
    assert main(["study", "--config", str(config), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["n_runs"] == 30
    assert results["params"]["alpha"] == pytest.approx(0.35, abs=0.05)
    assert "Approach 2 skipped" in results["approach2_note"]
    assert not (out / "isoflop.png").exists()  # no IsoFLOP groups, no IsoFLOP figure
    assert load_config(out / "config.toml").data.path == str(runs)
    assert [r["C"] for r in results["compute_optimal"]] == [1e21, 1e23]


def test_existing_output_needs_force_and_input_is_never_replaced(default_study, tmp_path, capsys):
    out, _, _ = default_study
    before = sorted(p.name for p in out.iterdir())
    assert main(["study", "--bootstrap", "0", "--output", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
    runs = tmp_path / "keep" / "runs.csv"
    runs.parent.mkdir()
    runs.write_text("N,D,loss\n1e8,1e9,3.0\n")
    assert main(["study", str(runs), "--output", str(runs.parent), "--force"]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert runs.read_text() == "N,D,loss\n1e8,1e9,3.0\n"


def test_readme_first_command_runs_twice(tmp_path, capsys):
    """README's main job passes --force to a folder that may not exist yet, and may be rerun."""
    out = tmp_path / "study-output"
    for _ in range(2):
        assert main(["study", "--bootstrap", "0", "--output", str(out), "--force"]) == 0
        assert (out / "summary.md").exists() and (out / "results.json").exists()
    assert "wrote" in capsys.readouterr().out


def test_bad_runs_file_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    assert main(["study", "empty.csv", "--output", "out"]) == 2
    err = capsys.readouterr().err
    assert "empty.csv: the file is empty" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv"]
