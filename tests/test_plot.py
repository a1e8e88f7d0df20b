"""Tests of jscaling.plot: artists, axes, labels, no global matplotlib state, atomic files.

Numbers drawn are checked against plain numpy references (jscaling.testing) and the closed
form of the Chinchilla frontier, `N_opt = G (C/6)^(beta/(alpha+beta))`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jscaling import plot  # noqa: E402
from jscaling._io import OutputExistsError  # noqa: E402
from jscaling.laws import CHINCHILLA, ChinchillaLogParams, ChinchillaParams  # noqa: E402
from jscaling.presets import get_preset  # noqa: E402
from jscaling.testing import chinchilla_np  # noqa: E402

TRUE = get_preset("besiroglu2024").params
BUDGETS = np.array([6e18, 3e19, 1e20, 6e20, 3e21])


def _np_loss(p: ChinchillaParams, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    return chinchilla_np(float(p.E), float(p.A), float(p.B), float(p.alpha), float(p.beta), N, D)


def _closed_form_N_opt(p: ChinchillaParams, C: np.ndarray) -> np.ndarray:
    alpha, beta, A, B = (float(v) for v in (p.alpha, p.beta, p.A, p.B))
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    return G * (C / 6) ** (beta / (alpha + beta))


@pytest.fixture(scope="module")
def sweep() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    N_opt = _closed_form_N_opt(TRUE, BUDGETS)
    N = np.concatenate([n * np.geomspace(1 / 6, 6, 7) for n in N_opt])
    C = np.repeat(BUDGETS, 7)
    D = C / (6 * N)
    true = _np_loss(TRUE, N, D)
    loss = true * np.exp(rng.normal(0.0, 0.01, N.shape))
    return {"N": N, "D": D, "C": C, "loss": loss, "true": true}


@pytest.fixture(scope="module")
def samples() -> ChinchillaParams:
    rng = np.random.default_rng(99)
    P = 200
    return ChinchillaParams(
        E=TRUE.E + rng.normal(0, 0.02, P), A=TRUE.A * np.exp(rng.normal(0, 0.1, P)),
        B=TRUE.B * np.exp(rng.normal(0, 0.1, P)), alpha=TRUE.alpha + rng.normal(0, 0.01, P),
        beta=TRUE.beta + rng.normal(0, 0.01, P),
    )


@pytest.fixture(autouse=True)
def global_state(monkeypatch: pytest.MonkeyPatch):
    """No plt.show, no rcParams change, no new pyplot figure, in every test."""
    def no_show(*args, **kwargs):
        raise AssertionError("jscaling.plot called plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    rc_before = dict(matplotlib.rcParams)
    figs_before = plt.get_fignums()
    yield
    assert dict(matplotlib.rcParams) == rc_before
    assert plt.get_fignums() == figs_before


def _axes() -> tuple[Figure, Axes]:
    fig = Figure()
    return fig, fig.add_subplot()


# --------------------------------------------------------------------------- isoflop_curves


def test_isoflop_curves_draws_runs_curves_and_minima(sweep):
    fig, ax = _axes()
    res = plot.isoflop_curves(sweep["N"], sweep["loss"], sweep["C"], law=CHINCHILLA, params=TRUE, ax=ax)
    assert res.ax is ax and res.figure is fig
    assert isinstance(res.runs, PathCollection) and res.runs in ax.collections
    np.testing.assert_array_equal(np.sort(res.runs.get_offsets()[:, 0]), np.sort(sweep["N"]))
    np.testing.assert_array_equal(res.budgets, BUDGETS)
    assert len(res.curves) == BUDGETS.size
    for C, line in zip(BUDGETS, res.curves):
        x, y = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(y, _np_loss(TRUE, x, C / (6 * x)), rtol=1e-9)
        runs = sweep["N"][sweep["C"] == C]
        assert x.min() <= runs.min() and x.max() >= runs.max()
    minima = res.fitted_minima.get_offsets()
    np.testing.assert_allclose(minima[:, 0], _closed_form_N_opt(TRUE, BUDGETS), rtol=1e-4)
    np.testing.assert_allclose(minima[:, 1], _np_loss(TRUE, minima[:, 0], BUDGETS / (6 * minima[:, 0])), rtol=1e-9)
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == plot.LABEL_N and "(nats/token)" in ax.get_ylabel()
    assert res.colorbar.ax.get_ylabel() == "compute C (FLOPs)"
    assert res.legend is not None and "IsoflopPlot(budgets=5" in repr(res)


def test_isoflop_curves_without_law_and_with_given_minima(sweep):
    N_min = _closed_form_N_opt(TRUE, BUDGETS) * 1.1
    L_min = np.linspace(3.0, 2.2, BUDGETS.size)
    res = plot.isoflop_curves(sweep["N"], sweep["loss"], sweep["C"], minima=(N_min, L_min), colorbar=False, legend=False)
    assert isinstance(res.figure, Figure) and res.figure.canvas.manager is None
    assert res.curves == () and res.fitted_minima is None and res.colorbar is None and res.legend is None
    np.testing.assert_allclose(res.minima.get_offsets(), np.column_stack([N_min, L_min]))
    # sizes alone are placed on the fitted curve
    res = plot.isoflop_curves(sweep["N"], sweep["loss"], sweep["C"], law="chinchilla", params=TRUE, minima=N_min)
    np.testing.assert_allclose(res.minima.get_offsets()[:, 1], _np_loss(TRUE, N_min, BUDGETS / (6 * N_min)), rtol=1e-9)


def test_isoflop_curves_validates(sweep):
    N, loss, C = sweep["N"], sweep["loss"], sweep["C"]
    with pytest.raises(ValueError, match="N has 35 entries but loss has 34"):
        plot.isoflop_curves(N, loss[:-1], C)
    with pytest.raises(ValueError, match="loss must be positive; found -1.0 at index 3"):
        plot.isoflop_curves(N, np.where(np.arange(N.size) == 3, -1.0, loss), C)
    with pytest.raises(ValueError, match="law and params go together"):
        plot.isoflop_curves(N, loss, C, law=CHINCHILLA)
    with pytest.raises(ValueError, match="one entry per distinct budget \\(5 budgets\\), got 4"):
        plot.isoflop_curves(N, loss, C, minima=(N[:4], loss[:4]))
    with pytest.raises(ValueError, match="need law and params"):
        plot.isoflop_curves(N, loss, C, minima=N[:5])
    with pytest.raises(ValueError, match="not a batch"):
        plot.isoflop_curves(N, loss, C, law=CHINCHILLA, params=ChinchillaParams(*(np.array([v, v]) for v in TRUE)))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.isoflop_curves(N, loss, C, ax="left")


def test_pyplot_axes_are_drawn_on_without_new_figures(sweep):
    fig, ax = plt.subplots()
    try:
        figs = plt.get_fignums()
        res = plot.isoflop_curves(sweep["N"], sweep["loss"], sweep["C"], ax=ax, colorbar=False)
        plot.residuals(sweep["N"], sweep["D"], sweep["loss"], sweep["true"],
                       axes=[fig.add_subplot(2, 2, i + 1) for i in range(4)], colorbar=False)
        assert plt.get_fignums() == figs
        assert res.figure is fig
        assert res._repr_png_() is None  # pyplot's backend displays its own figures
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- loss_contours


def test_loss_contours_surface_isoflop_lines_and_frontier():
    fig, ax = _axes()
    res = plot.loss_contours(CHINCHILLA, TRUE, N_range=(1e7, 1e12), D_range=(1e9, 1e13), n_grid=48, ax=ax)
    assert res.ax is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "parameters N" and ax.get_ylabel() == "training tokens D"
    assert res.colorbar.ax.get_ylabel() == "loss (nats/token)"
    Ns, Ds = np.geomspace(1e7, 1e12, 48), np.geomspace(1e9, 1e13, 48)
    L = _np_loss(TRUE, Ns[:, None], Ds[None, :])
    np.testing.assert_allclose([res.filled.levels[0], res.filled.levels[-1]], [L.min(), L.max()], rtol=1e-9)
    assert res.budgets.size >= 2 and len(res.isoflop_lines) == res.budgets.size == len(res.isoflop_labels)
    for C, line in zip(res.budgets, res.isoflop_lines):
        np.testing.assert_allclose(6 * line.get_xdata() * line.get_ydata(), C, rtol=1e-12)
    fN, fD = res.frontier.get_xdata(), res.frontier.get_ydata()
    assert fN.size > 50
    np.testing.assert_allclose(fN, _closed_form_N_opt(TRUE, 6 * fN * fD), rtol=1e-4)
    assert res.frontier_points is not None and len(res.line_labels) >= 3
    assert [t.get_text() for t in res.isoflop_labels][0].endswith("FLOPs")


def test_loss_contours_given_frontier_budgets_and_levels():
    N = np.geomspace(1e8, 1e11, 5)
    res = plot.loss_contours(CHINCHILLA, TRUE.to_log(), frontier=(N, 20 * N), budgets=[1e21, 1e23],
                             levels=[2.0, 2.5, 3.0], n_grid=32, colorbar=False, legend=False)
    np.testing.assert_array_equal(res.frontier.get_xdata(), N)
    np.testing.assert_array_equal(res.frontier.get_ydata(), 20 * N)
    np.testing.assert_array_equal(res.budgets, [1e21, 1e23])
    np.testing.assert_array_equal(res.filled.levels, [2.0, 2.5, 3.0])
    assert res.colorbar is None and res.legend is None and res.frontier_points is None
    with pytest.raises(ValueError, match="N_range must be increasing"):
        plot.loss_contours(CHINCHILLA, TRUE, N_range=(1e9, 1e8))
    with pytest.raises(TypeError, match="frontier must be a pair"):
        plot.loss_contours(CHINCHILLA, TRUE, frontier=N)


# --------------------------------------------------------------------------- frontier_bands


def test_frontier_bands_two_panels_with_references():
    C = np.geomspace(1e18, 1e24, 30)
    N_opt = _closed_form_N_opt(TRUE, C)
    band = (N_opt / 1.5, N_opt * 1.5)
    res = plot.frontier_bands(C, N_opt, N_band=band, points=(BUDGETS, _closed_form_N_opt(TRUE, BUDGETS)))
    assert len(res.axes) == 2 and isinstance(res.figure, Figure)
    for ax in res.axes:
        assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_xlabel() == "compute C (FLOPs)"
    assert "parameters N" in res.axes[0].get_ylabel() and "training tokens D" in res.axes[1].get_ylabel()
    np.testing.assert_allclose(res.lines[0].get_ydata(), N_opt)
    np.testing.assert_allclose(res.lines[1].get_ydata(), C / (6 * N_opt))
    assert len(res.bands) == 2 and len(res.points) == 2
    hoffmann = get_preset("hoffmann2022").params
    lines = res.references["Hoffmann et al. 2022"]
    np.testing.assert_allclose(lines[0].get_ydata(), _closed_form_N_opt(hoffmann, C), rtol=1e-4)
    np.testing.assert_allclose(lines[1].get_ydata(), C / (6 * _closed_form_N_opt(hoffmann, C)), rtol=1e-4)
    assert set(res.references) == {"Hoffmann et al. 2022", "Besiroglu et al. 2024"}
    texts = [t.get_text() for t in res.legend.get_texts()]
    assert texts[0] == "this fit" and "Hoffmann et al. 2022" in texts


def test_frontier_bands_on_one_axes_and_custom_reference():
    fig, ax = _axes()
    C = np.geomspace(1e19, 1e23, 10)
    ref = ("truth", CHINCHILLA, TRUE)
    res = plot.frontier_bands(C, _closed_form_N_opt(TRUE, C), presets=[ref], axes=ax)
    assert res.axes == (ax,) and res.bands == ()
    np.testing.assert_allclose(res.references["truth"][0].get_ydata(), _closed_form_N_opt(TRUE, C), rtol=1e-4)
    with pytest.raises(ValueError, match="axes must hold 1 or 2 Axes, got 3"):
        plot.frontier_bands(C, C, axes=[ax, ax, ax])
    with pytest.raises(ValueError, match="N_band arrays must have one entry per budget"):
        plot.frontier_bands(C, C, N_band=(C[:-1], C))
    with pytest.raises(ValueError, match="unknown preset"):
        plot.frontier_bands(C, C, presets=["nobody2021"])


# --------------------------------------------------------------------------- residuals


def test_residuals_panels(sweep):
    res = plot.residuals(sweep["N"], sweep["D"], sweep["loss"], sweep["true"], C=sweep["C"])
    r = np.log(sweep["true"] / sweep["loss"])
    assert res.rms == pytest.approx(float(np.sqrt(np.mean(r**2))), rel=1e-12)
    for ax, x, label in zip(res.axes[:3], (sweep["N"], sweep["D"], sweep["C"]), ("parameters N", "training tokens D", "compute C (FLOPs)")):
        assert ax.get_xscale() == "log" and ax.get_xlabel() == label
        assert "log(predicted / observed)" in ax.get_ylabel()
    for scatter, x in zip(res.scatters[:3], (sweep["N"], sweep["D"], sweep["C"])):
        np.testing.assert_allclose(scatter.get_offsets(), np.column_stack([x, r]))
    np.testing.assert_allclose(res.scatters[3].get_offsets(), np.column_stack([sweep["loss"], sweep["true"]]))
    assert "(nats/token)" in res.axes[3].get_xlabel() and "(nats/token)" in res.axes[3].get_ylabel()
    assert res.colorbar.ax.get_ylabel() == "compute C (FLOPs)"
    with pytest.raises(ValueError, match="axes must hold 4 Axes"):
        plot.residuals(sweep["N"], sweep["D"], sweep["loss"], sweep["true"], axes=_axes()[1])
    with pytest.raises(ValueError, match="N has 35 entries but D has 3"):
        plot.residuals(sweep["N"], sweep["D"][:3], sweep["loss"], sweep["true"])


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_pairs_scatter_and_histogram(samples):
    fig, ax = _axes()
    res = plot.bootstrap_pairs(samples, point=TRUE, references=("hoffmann2022",), ax=ax)
    assert res.ax is ax and res.names == ("alpha", "beta")
    np.testing.assert_allclose(res.samples.get_offsets(), np.column_stack([samples.alpha, samples.beta]))
    np.testing.assert_allclose(res.point.get_offsets(), [[TRUE.alpha, TRUE.beta]])
    np.testing.assert_allclose(res.references["Hoffmann et al. 2022"].get_offsets(), [[0.34, 0.28]])
    assert "alpha" in ax.get_xlabel() and "beta" in ax.get_ylabel()
    many = {"alpha": np.repeat(samples.alpha, 30), "beta": np.repeat(samples.beta, 30)}
    res = plot.bootstrap_pairs(many, hist_threshold=1000)
    assert isinstance(res.samples, QuadMesh)
    assert np.nansum(res.samples.get_array()) == 6000


def test_bootstrap_pairs_validates(samples):
    with pytest.raises(ValueError, match="samples have no parameter 'gamma'"):
        plot.bootstrap_pairs(samples, names=("alpha", "gamma"))
    with pytest.raises(TypeError, match="samples must be a NamedTuple or a mapping"):
        plot.bootstrap_pairs(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="point has no parameter 'alpha'"):
        plot.bootstrap_pairs(samples, point={"beta": 0.3})
    with pytest.raises(ValueError, match=r"samples\['alpha'\] must be finite"):
        plot.bootstrap_pairs({"alpha": [0.3, np.nan], "beta": [0.3, 0.3]})


def test_bootstrap_corner(samples):
    res = plot.bootstrap_corner(samples, point=TRUE)
    K = 5
    assert len(res.axes) == K and all(len(row) == K for row in res.axes) and res.names == ChinchillaParams._fields
    assert len(res.histograms) == K and len(res.pairs) == K * (K - 1) // 2
    for i in range(K):
        for j in range(K):
            assert res.axes[i][j].get_visible() == (j <= i)
    assert res.axes[4][1].get_xscale() == "log" and res.axes[1][0].get_yscale() == "log"  # A
    assert res.axes[4][3].get_xscale() == "linear"  # alpha
    assert "nats/token" in res.axes[4][0].get_xlabel()
    np.testing.assert_allclose(res.pairs[(4, 3)].get_offsets(), np.column_stack([samples.alpha, samples.beta]))
    # log-form samples, a subset, drawn on a given figure
    fig = Figure()
    logs = ChinchillaLogParams(a=np.log(samples.A), b=np.log(samples.B), e=np.log(samples.E), alpha=samples.alpha, beta=samples.beta)
    res = plot.bootstrap_corner(logs, names=("a", "alpha"), figure=fig)
    assert res.figure is fig and len(fig.axes) == 4
    with pytest.raises(ValueError, match="figure must be empty"):
        plot.bootstrap_corner(logs, figure=fig)


# --------------------------------------------------------------------------- files


def test_save_figure_png_and_svg_atomically(tmp_path, sweep):
    res = plot.isoflop_curves(sweep["N"], sweep["loss"], sweep["C"])
    written = plot.save_figure(res, tmp_path / "iso.png", formats=("png", "svg"))
    assert [p.name for p in written] == ["iso.png", "iso.svg"]
    assert (tmp_path / "iso.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "iso.svg").read_bytes()[:1000]
    assert sorted(os.listdir(tmp_path)) == ["iso.png", "iso.svg"]
    # PNG is always written; a bare name gets the suffixes
    assert [p.name for p in plot.save_figure(res.figure, tmp_path / "bare", formats="svg")] == ["bare.png", "bare.svg"]
    with pytest.raises(OutputExistsError):
        plot.save_figure(res, tmp_path / "iso", force=False)
    with pytest.raises(ValueError, match=r"formats\[0\] is 'jpg'"):
        plot.save_figure(res, tmp_path / "x", formats=("jpg",))
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plot.save_figure("figure", tmp_path / "x")
    assert sorted(os.listdir(tmp_path)) == ["bare.png", "bare.svg", "iso.png", "iso.svg"]


def test_save_figure_failure_leaves_no_files(tmp_path, monkeypatch):
    fig = Figure()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plot.save_figure(fig, tmp_path / "f.png")
    assert os.listdir(tmp_path) == []


def test_notebook_display_png(samples):
    res = plot.bootstrap_pairs(samples)
    assert res._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- module


def test_public_names_have_docstrings():
    for name in plot.__all__:
        obj = getattr(plot, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_import_jscaling_does_not_import_matplotlib():
    code = (
        "import sys, jscaling; assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
        "import jscaling.plot; assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)  # one interpreter: both checks
