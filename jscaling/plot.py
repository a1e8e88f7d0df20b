"""Figures for scaling-law studies: the only module of jscaling that imports matplotlib.

`import jscaling` does not import it (matplotlib stays out of the package import); use
`from jscaling import plot`. The functions take plain arrays and the library's law and
parameter objects, so they work with results from any fitting code:

- `isoflop_curves`: loss against N for each compute budget, runs, fitted curves, minima;
- `loss_contours`: the loss surface over (N, D), iso-FLOP lines, the compute-optimal frontier;
- `frontier_bands`: N_opt and D_opt against C with bootstrap bands, beside published laws;
- `residuals`: residuals of a fit against N, D and C, and predicted against observed loss;
- `bootstrap_pairs`, `bootstrap_corner`: bootstrap distributions of the parameters;
- `save_figure`: atomic PNG (and SVG or PDF) files.

Conventions: every plotting function draws on the `ax` (or `axes`, or `figure`) it is given,
or else on a new `matplotlib.figure.Figure` that pyplot does not know about (nothing is shown
and pyplot's figure list is left alone; the result displays itself in a notebook, and
`save_figure` writes it). Each returns a frozen dataclass of the artists it made. Nothing here
calls `plt.show()`, imports pyplot, or changes `rcParams` or any other global style: styling
is passed to each artist. N, D and C axes are logarithmic; loss axes are
linear (losses span less than a decade); labels carry units.

Where jit goes: nowhere in this module. Laws are evaluated through `jscaling.surface`
(`evaluate`, `isoflop`, `isoflop_min`), whose compiled kernels run here in float64 on the
small grids a figure needs (a few thousand to a few million points).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import matplotlib
import numpy as np
from matplotlib import cm as _cm
from matplotlib import colors as _colors
from matplotlib import ticker as _ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D

from jscaling import _io, _validate, surface
from jscaling.compute import FLOPS_PER_PARAM_TOKEN
from jscaling.laws import Law, LossFn, as_law
from jscaling.presets import Preset, get_preset

__all__ = [
    "LABEL_N",
    "LABEL_D",
    "LABEL_C",
    "LABEL_LOSS",
    "IsoflopPlot",
    "ContourPlot",
    "FrontierPlot",
    "ResidualPlot",
    "PairPlot",
    "CornerPlot",
    "isoflop_curves",
    "loss_contours",
    "frontier_bands",
    "residuals",
    "bootstrap_pairs",
    "bootstrap_corner",
    "save_figure",
]

ArrayLike = Any

LABEL_N = "parameters N"
LABEL_D = "training tokens D"
LABEL_C = "compute C (FLOPs)"
LABEL_LOSS = "loss (nats/token)"

_FORMATS = ("png", "svg", "pdf")
_PRESET_LABELS = {
    "hoffmann2022": "Hoffmann et al. 2022",
    "hoffmann2022-unrounded": "Hoffmann et al. 2022 (unrounded)",
    "besiroglu2024": "Besiroglu et al. 2024",
    "kaplan2020": "Kaplan et al. 2020",
    "muennighoff2023": "Muennighoff et al. 2023",
}
_REFERENCE_COLORS = ("#d62728", "#7f7f7f", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_REFERENCE_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
_PARAM_LABELS = {
    "E": r"$E$ (nats/token)",
    "A": r"$A$ (coefficient of $N^{-\alpha}$)",
    "B": r"$B$ (coefficient of $D^{-\beta}$)",
    "alpha": r"$\alpha$ (exponent of N)",
    "beta": r"$\beta$ (exponent of D)",
    "e": r"$e = \log E$",
    "a": r"$a = \log A$",
    "b": r"$b = \log B$",
}
_PARAM_SYMBOLS = {"E": "E", "A": "A", "B": "B", "alpha": r"\alpha", "beta": r"\beta", "e": "e", "a": "a", "b": "b"}
_LOG_PARAMS = ("A", "B", "x_c", "N_c", "D_c")


# --------------------------------------------------------------------------- results


class _Plot:
    """Shared behaviour of the result objects: a notebook shows the figure they drew on."""

    figure: FigureBase

    def _repr_png_(self) -> bytes | None:
        root = _root_figure(self.figure)
        if getattr(root.canvas, "manager", None) is not None:
            return None  # a pyplot figure: the notebook's backend shows it already
        buffer = io.BytesIO()
        root.savefig(buffer, format="png")
        return buffer.getvalue()


@dataclasses.dataclass(frozen=True, repr=False)
class IsoflopPlot(_Plot):
    """Artists of `isoflop_curves`.

    Attributes:
        figure, ax: where it was drawn.
        budgets: the distinct budgets in FLOPs, ascending; curves and minima follow this order.
        runs: the scatter of observed runs.
        curves: one fitted line per budget (empty without a law).
        fitted_minima: the scatter of each fitted curve's minimum (None without a law).
        minima: the scatter of the minima passed in (None when none were).
        colorbar, legend: None when not drawn.
    """

    figure: FigureBase
    ax: Axes
    budgets: np.ndarray
    runs: Any
    curves: tuple[Line2D, ...]
    fitted_minima: Any | None
    minima: Any | None
    colorbar: Any | None
    legend: Any | None

    def __repr__(self) -> str:
        return (f"IsoflopPlot(budgets={self.budgets.shape[0]}, runs={len(self.runs.get_offsets())}, "
                f"curves={len(self.curves)}, fitted_minima={_count(self.fitted_minima)}, minima={_count(self.minima)})")


@dataclasses.dataclass(frozen=True, repr=False)
class ContourPlot(_Plot):
    """Artists of `loss_contours`.

    Attributes:
        figure, ax: where it was drawn.
        filled: the filled loss contours; `lines` the contour lines; `line_labels` the labels
            of some of them.
        budgets: the budgets of the iso-FLOP lines, in FLOPs.
        isoflop_lines: one line per budget; `isoflop_labels` their labels.
        frontier: the compute-optimal frontier line; `frontier_points` its points on the
            iso-FLOP lines (None when none fall in the plot).
        colorbar, legend: None when not drawn.
    """

    figure: FigureBase
    ax: Axes
    filled: Any
    lines: Any
    line_labels: tuple[Any, ...]
    budgets: np.ndarray
    isoflop_lines: tuple[Line2D, ...]
    isoflop_labels: tuple[Any, ...]
    frontier: Line2D | None
    frontier_points: Any | None
    colorbar: Any | None
    legend: Any | None

    def __repr__(self) -> str:
        return (f"ContourPlot(levels={len(self.filled.levels)}, budgets={self.budgets.shape[0]}, "
                f"frontier={'yes' if self.frontier is not None else 'no'})")


@dataclasses.dataclass(frozen=True, repr=False)
class FrontierPlot(_Plot):
    """Artists of `frontier_bands`.

    Attributes:
        figure: where it was drawn; `axes` the N_opt panel and (when drawn) the D_opt panel.
        lines: the fitted frontier, one line per panel.
        bands: the shaded bootstrap bands, one per panel (empty without bands).
        references: `{label: (line per panel)}` for the published laws.
        points: the scatters of the given per-budget optima, one per panel (empty without).
        legend: the legend of the first panel.
    """

    figure: FigureBase
    axes: tuple[Axes, ...]
    lines: tuple[Line2D, ...]
    bands: tuple[Any, ...]
    references: Mapping[str, tuple[Line2D, ...]]
    points: tuple[Any, ...]
    legend: Any | None

    def __repr__(self) -> str:
        return (f"FrontierPlot(panels={len(self.axes)}, bands={len(self.bands)}, "
                f"references={list(self.references)}, points={len(self.points)})")


@dataclasses.dataclass(frozen=True, repr=False)
class ResidualPlot(_Plot):
    """Artists of `residuals`.

    Attributes:
        figure: where it was drawn; `axes` the four panels (against N, D, C; predicted
            against observed).
        scatters: one scatter per panel.
        zero_lines: the residual-zero lines of the first three panels, and the y = x line.
        rms: the root mean square of `log(predicted / observed)`.
        colorbar: None when not drawn.
    """

    figure: FigureBase
    axes: tuple[Axes, Axes, Axes, Axes]
    scatters: tuple[Any, ...]
    zero_lines: tuple[Line2D, ...]
    rms: float
    colorbar: Any | None

    def __repr__(self) -> str:
        return f"ResidualPlot(points={len(self.scatters[0].get_offsets())}, rms={self.rms:.4g})"


@dataclasses.dataclass(frozen=True, repr=False)
class PairPlot(_Plot):
    """Artists of `bootstrap_pairs`.

    Attributes:
        figure, ax: where it was drawn; `names` the two parameters (x, y).
        samples: the scatter of samples, or the `QuadMesh` of their 2-D histogram.
        point: the marker of the point estimate (None without one).
        references: `{label: marker}` for the published values.
        legend: None when not drawn.
    """

    figure: FigureBase
    ax: Axes
    names: tuple[str, str]
    samples: Any
    point: Any | None
    references: Mapping[str, Any]
    legend: Any | None

    def __repr__(self) -> str:
        return f"PairPlot(x={self.names[0]!r}, y={self.names[1]!r}, references={list(self.references)})"


@dataclasses.dataclass(frozen=True, repr=False)
class CornerPlot(_Plot):
    """Artists of `bootstrap_corner`.

    Attributes:
        figure: where it was drawn; `axes[i][j]` the panel of row i, column j (the upper
            triangle is hidden); `names` the parameters in order.
        histograms: the 1-D histograms on the diagonal.
        pairs: `{(row, column): scatter or QuadMesh}` below the diagonal.
    """

    figure: FigureBase
    axes: tuple[tuple[Axes, ...], ...]
    names: tuple[str, ...]
    histograms: tuple[Any, ...]
    pairs: Mapping[tuple[int, int], Any]

    def __repr__(self) -> str:
        return f"CornerPlot(names={list(self.names)})"


def _count(artist: Any | None) -> int:
    return 0 if artist is None else len(artist.get_offsets())


# --------------------------------------------------------------------------- checks


def _root_figure(fig: FigureBase) -> Figure:
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _check_ax(ax: Any, name: str = "ax") -> Axes:
    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[FigureBase, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    ax = _check_ax(ax)
    return ax.figure, ax


def _axes_list(axes: Any, counts: Sequence[int], name: str = "axes") -> list[Axes]:
    """`axes` as a flat list of Axes whose length is one of `counts`."""
    if isinstance(axes, Axes):
        flat = [axes]
    elif isinstance(axes, np.ndarray):
        flat = list(axes.ravel())
    elif isinstance(axes, Iterable) and not isinstance(axes, (str, bytes)):
        flat = list(axes)
    else:
        raise TypeError(f"{name} must be a matplotlib Axes or a sequence of them, got {type(axes).__name__}")
    for i, ax in enumerate(flat):
        _check_ax(ax, f"{name}[{i}]")
    if len(flat) not in counts:
        raise ValueError(f"{name} must hold {' or '.join(map(str, counts))} Axes, got {len(flat)}")
    return flat


def _one_d(name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return array


def _positive_1d(name: str, value: ArrayLike) -> np.ndarray:
    return _one_d(name, _validate.positive_array(name, value))


def _finite_1d(name: str, value: ArrayLike) -> np.ndarray:
    array = _validate.as_float_array(name, value)
    _validate.check_finite(name, array)
    return _one_d(name, array)


def _array_pair(name: str, value: Any, first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    """`value` as two positive 1-D arrays, e.g. `frontier` as `(N, D)`."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair ({first}, {second}) of arrays, got {type(value).__name__}")
    return _positive_1d(f"{name}[0] ({first})", value[0]), _positive_1d(f"{name}[1] ({second})", value[1])


def _light_grid(ax: Any, color: str = "0.9") -> None:
    """Major grid lines behind the data."""
    ax.grid(True, which="major", color=color, lw=0.6)
    ax.set_axisbelow(True)


def _same_length(**arrays: np.ndarray) -> int:
    names = list(arrays)
    n = arrays[names[0]].shape[0]
    for other in names[1:]:
        if arrays[other].shape[0] != n:
            raise ValueError(f"{names[0]} has {n} entries but {other} has {arrays[other].shape[0]}")
    return n


def _band(name: str, band: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = _array_pair(name, band, "low", "high")
    if low.shape[0] != n or high.shape[0] != n:
        raise ValueError(f"{name} arrays must have one entry per budget ({n}); got {low.shape[0]} and {high.shape[0]}")
    return low, high


def _flops_factor(value: float) -> float:
    return _validate.positive_scalar("flops_per_param_token", value)


def _law_and_params(law: Law | LossFn | str | None, params: Any) -> Law | None:
    if (law is None) != (params is None):
        raise ValueError("law and params go together: pass both (to draw the fit) or neither")
    if law is None:
        return None
    law = as_law(law)
    law.validate(params)
    leaves = [np.ndim(leaf) for leaf in _leaves(params)]
    if any(leaves):
        raise ValueError("params must be one parameter set (scalar leaves), not a batch; plot bootstrap samples with bootstrap_pairs")
    return law


def _leaves(params: Any) -> list[Any]:
    return jax.tree_util.tree_leaves(params)


def _point(name: str, point: Any, names: Sequence[str]) -> dict[str, float]:
    """One value per name from a params NamedTuple or mapping of scalars."""
    values = _samples_dict(name, point)
    out = {}
    for key in names:
        if key not in values:
            raise ValueError(f"{name} has no parameter {key!r}; it has {sorted(values)}")
        value = values[key]
        if value.size != 1:
            raise ValueError(f"{name}[{key!r}] must be a single value, got shape {value.shape}")
        out[key] = float(value.reshape(-1)[0])
        _validate.check_finite(f"{name}[{key!r}]", np.asarray(out[key]))
    return out


def _samples_dict(name: str, samples: Any) -> dict[str, np.ndarray]:
    if hasattr(samples, "_asdict"):
        samples = samples._asdict()
    if not isinstance(samples, Mapping):
        raise TypeError(f"{name} must be a NamedTuple or a mapping of parameter name to values, got {type(samples).__name__}")
    if not samples:
        raise ValueError(f"{name} is empty")
    out = {}
    for key, value in samples.items():
        out[str(key)] = _validate.as_float_array(f"{name}[{key!r}]", value)
    return out


# --------------------------------------------------------------------------- formatting


def _sci(x: float, unit: str = "") -> str:
    """`6e18` as mathtext `6×10^18`; `1e21` as `10^21`."""
    exponent = math.floor(math.log10(x) + 1e-9)
    mantissa = x / 10.0**exponent
    m = f"{mantissa:.2g}"
    if m == "10":
        m, exponent = "1", exponent + 1
    body = f"10^{{{exponent}}}" if m == "1" else rf"{m}\times10^{{{exponent}}}"
    return f"${body}$" + (f" {unit}" if unit else "")


def _budget_cmap(cmap: Any) -> _colors.Colormap:
    if cmap is not None:
        return matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    base = matplotlib.colormaps["viridis"]
    # Viridis without its palest yellows, which vanish on white.
    return _colors.ListedColormap(base(np.linspace(0.0, 0.85, 256)), name="viridis_dark")


def _budget_norm(budgets: np.ndarray) -> _colors.Normalize:
    lo, hi = float(budgets.min()), float(budgets.max())
    if lo == hi:
        lo, hi = lo / 2, hi * 2
    return _colors.LogNorm(vmin=lo, vmax=hi)


def _log_axis_limits(values: np.ndarray, pad: float = 0.06) -> tuple[float, float]:
    lo, hi = math.log10(float(np.min(values))), math.log10(float(np.max(values)))
    span = max(hi - lo, 0.2)
    return 10 ** (lo - pad * span), 10 ** (hi + pad * span)


def _set_log_ticks(axis: Any) -> None:
    """Decade labels on a log axis, without the crowded minor labels of a narrow range."""
    lo, hi = axis.get_view_interval()
    decades = math.log10(hi) - math.log10(lo)
    if decades >= 1.2:
        axis.set_major_locator(_ticker.LogLocator(base=10, numticks=8))
        axis.set_minor_formatter(_ticker.NullFormatter())
        axis.set_major_formatter(_ticker.LogFormatterSciNotation())
    else:
        _few_log_ticks(axis, 6)


def _compact_number(value: float, _pos: Any = None) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:g}"
    return _sci(value)


def _few_log_ticks(axis: Any, max_ticks: int = 4) -> None:
    """At most `max_ticks` labelled ticks on a log axis: decades when it spans several,
    else 1-2-5 style values, else evenly spaced ones (a range inside one decade)."""
    lo, hi = sorted(axis.get_view_interval())
    if hi / lo >= 10**1.5:
        axis.set_major_locator(_ticker.LogLocator(base=10, numticks=max_ticks + 1))
        axis.set_major_formatter(_ticker.LogFormatterSciNotation())
        axis.set_minor_formatter(_ticker.NullFormatter())
        return
    ticks: list[float] = []
    for subs in ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5), (1,)):
        ticks = [t for t in _ticker.LogLocator(base=10, subs=subs).tick_values(lo, hi) if lo <= t <= hi]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) < 2:
        ticks = [t for t in _ticker.MaxNLocator(nbins=max_ticks - 1).tick_values(lo, hi) if lo <= t <= hi]
    axis.set_major_locator(_ticker.FixedLocator(ticks))
    axis.set_major_formatter(_ticker.FuncFormatter(_compact_number))
    axis.set_minor_formatter(_ticker.NullFormatter())


# --------------------------------------------------------------------------- law helpers


def _frontier(law: Law, params: Any, C: np.ndarray, k: float, *, points: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Compute-optimal (N, D) of `law` for budgets C; NaN where the optimum is off the search grid.

    A dense search (`surface.isoflop_min`), then a parabola in log N through the best candidate
    and its two neighbours, so that drawn frontiers are smooth rather than grid staircases.
    """
    center = np.sqrt(C / k)
    log_grid = np.linspace(math.log(center.min() * 1e-5), math.log(center.max() * 1e5), points)
    best = surface.isoflop_min(law, params, C, np.exp(log_grid), flops_per_param_token=k, dtype="float64")
    i = np.clip(best.index, 1, points - 2)
    x = log_grid[i][:, None] + (log_grid[1] - log_grid[0]) * np.array([-1.0, 0.0, 1.0])
    N3 = np.exp(x)
    L3 = np.asarray(surface.evaluate(law, params, N3, C[:, None] / (k * N3), dtype="float64"))
    curvature = L3[:, 0] - 2 * L3[:, 1] + L3[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature > 0, 0.5 * (L3[:, 0] - L3[:, 2]) / curvature, 0.0)
    log_N = x[:, 1] + np.clip(shift, -1.0, 1.0) * (log_grid[1] - log_grid[0])
    N_opt = np.where(best.at_edge, np.nan, np.exp(log_N))
    return N_opt, C / (k * N_opt)


def _reference(entry: Any) -> tuple[str, Law, Any]:
    """`(label, law, params)` from a preset name, a `Preset`, or a `(label, law, params)` triple."""
    if isinstance(entry, str):
        entry = get_preset(entry)
    if isinstance(entry, Preset):
        return _PRESET_LABELS.get(entry.name, entry.name), entry.law, entry.params
    if isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], str):
        label, law, params = entry
        return label, as_law(law), params
    raise TypeError(f"a reference must be a preset name, a Preset or a (label, law, params) triple; got {type(entry).__name__}")


# --------------------------------------------------------------------------- IsoFLOP curves


def isoflop_curves(
    N: ArrayLike,
    loss: ArrayLike,
    budget: ArrayLike,
    *,
    law: Law | LossFn | str | None = None,
    params: Any = None,
    minima: Any = None,
    minima_label: str = "per-budget minima",
    n_points: int = 100,
    cmap: Any = None,
    colorbar: bool = True,
    legend: bool = True,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    ax: Axes | None = None,
) -> IsoflopPlot:
    """IsoFLOP profiles: final loss against model size N, one colour per compute budget.

    Args:
        N, loss, budget: one entry per training run: its parameters, final loss (nats/token)
            and compute budget in FLOPs (runs of one sweep share the exact budget value).
        law, params: a fitted law and one parameter set; when given, each budget's curve
            `L(N, C / (6 N))` is drawn over (a little beyond) the range of its runs, and the
            curve's minimum is marked (found on a dense grid over all sizes).
        minima: per-budget minima to mark as well (Approach 2 parabola minima, say), in the
            order of the ascending distinct budgets: a tuple `(N_min, loss_min)` of arrays, or
            the array `N_min` alone when `law` is given (the loss is then read off the fit).
        minima_label: legend entry of `minima`.
        n_points: points per decade of N on the fitted curves.
        cmap: colormap of the budgets (log-spaced); default a viridis without pale yellows.
        colorbar, legend: draw them.
        flops_per_param_token: the 6 of `C = 6 N D`.
        ax: Axes to draw on; default a new figure.
    """
    N = _positive_1d("N", N)
    loss = _positive_1d("loss", loss)
    budget = _positive_1d("budget", budget)
    _same_length(N=N, loss=loss, budget=budget)
    law = _law_and_params(law, params)
    k = _flops_factor(flops_per_param_token)
    n_points = _validate.check_int("n_points", n_points, minimum=2)
    budgets = np.unique(budget)
    K = budgets.shape[0]
    minima_xy = _isoflop_minima(minima, K, law, params, budgets, k)

    fig, ax = _new_axes(ax, (6.4, 4.6))
    cmap = _budget_cmap(cmap)
    norm = _budget_norm(budgets)
    order = np.argsort(budget, kind="stable")[::-1]  # small budgets (highest losses) drawn last, on top
    runs = ax.scatter(N[order], loss[order], c=budget[order], cmap=cmap, norm=norm, s=16,
                      alpha=0.8, linewidths=0, zorder=3, label="runs")

    curves: list[Line2D] = []
    fitted_minima = None
    handles: list[Any] = [Line2D([], [], ls="none", marker="o", ms=4.5, mfc="0.45", mec="none", label="runs")]
    if law is not None:
        lo, hi = N.min() / 1.6, N.max() * 1.6
        grid = np.geomspace(lo, hi, math.ceil(n_points * math.log10(hi / lo)) + 1)
        curve = surface.isoflop(law, params, budgets, grid, flops_per_param_token=k, dtype="float64")
        for i, C in enumerate(budgets):
            sizes = N[budget == C]
            keep = (grid >= sizes.min() / 1.35) & (grid <= sizes.max() * 1.35)
            line, = ax.plot(grid[keep], curve[i, keep], color=cmap(norm(C)), lw=1.4, zorder=2)
            curves.append(line)
        N_opt, _ = _frontier(law, params, budgets, k)
        ok = np.isfinite(N_opt)
        if ok.any():
            L_opt = surface.evaluate(law, params, N_opt[ok], budgets[ok] / (k * N_opt[ok]), dtype="float64")
            fitted_minima = ax.scatter(N_opt[ok], L_opt, c=budgets[ok], cmap=cmap, norm=norm, marker="D", s=30,
                                       edgecolors="black", linewidths=0.8, zorder=5, label="fitted minimum")
        handles.append(Line2D([], [], color="0.45", lw=1.4, label="fitted law"))
        handles.append(Line2D([], [], ls="none", marker="D", ms=5, mfc="0.45", mec="black", mew=0.8, label="minimum of fit"))
    given = None
    if minima_xy is not None:
        given = ax.scatter(*minima_xy, marker="x", s=46, c="black", linewidths=1.4, zorder=6, label=minima_label)
        handles.append(Line2D([], [], ls="none", marker="x", ms=6.5, mec="black", mew=1.4, label=minima_label))

    ax.set_xscale("log")
    ax.set_xlim(*_log_axis_limits(np.array([N.min() / 1.35, N.max() * 1.35]) if law is not None else N, pad=0.02))
    _set_log_ticks(ax.xaxis)
    ax.set_xlabel(LABEL_N)
    ax.set_ylabel(LABEL_LOSS)
    _light_grid(ax)
    bar = None
    if colorbar:
        mappable = _cm.ScalarMappable(norm=norm, cmap=cmap)
        bar = ax.figure.colorbar(mappable, ax=ax, pad=0.02, aspect=30)
        bar.set_label(LABEL_C)
    leg = ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9) if legend else None
    return IsoflopPlot(fig, ax, budgets, runs, tuple(curves), fitted_minima, given, bar, leg)


def _isoflop_minima(minima: Any, K: int, law: Law | None, params: Any, budgets: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray] | None:
    if minima is None:
        return None
    if isinstance(minima, tuple):
        if len(minima) != 2:
            raise ValueError(f"minima as a tuple must be (N_min, loss_min), got {len(minima)} items")
        N_min = _positive_1d("minima[0] (N)", minima[0])
        L_min = _positive_1d("minima[1] (loss)", minima[1])
    else:
        N_min = _positive_1d("minima", minima)
        if law is None:
            raise ValueError("minima given as sizes alone need law and params to place them; pass (N_min, loss_min)")
        L_min = None
    if N_min.shape[0] != K or (L_min is not None and L_min.shape[0] != K):
        got = N_min.shape[0] if L_min is None else f"{N_min.shape[0]} and {L_min.shape[0]}"
        raise ValueError(f"minima must have one entry per distinct budget ({K} budgets), got {got}")
    if L_min is None:
        L_min = np.asarray(surface.evaluate(law, params, N_min, budgets / (k * N_min), dtype="float64"))
    return N_min, L_min


# --------------------------------------------------------------------------- loss contours


def _default_budgets(N_range: tuple[float, float], D_range: tuple[float, float], k: float, at_most: int = 5) -> np.ndarray:
    """Powers of ten whose iso-FLOP lines cross a good part of the plot, at most `at_most`."""
    x0, x1 = math.log10(N_range[0]), math.log10(N_range[1])
    y0, y1 = math.log10(D_range[0]), math.log10(D_range[1])
    shortest = 0.3 * min(x1 - x0, y1 - y0)
    exps = []
    for e in range(math.ceil(math.log10(k) + x0 + y0), math.floor(math.log10(k) + x1 + y1) + 1):
        c = e - math.log10(k)  # log N + log D on the line
        if min(x1, c - y0) - max(x0, c - y1) >= shortest:
            exps.append(e)
    if not exps:
        return np.array([10 ** ((math.log10(k) + x0 + y0 + math.log10(k) + x1 + y1) / 2)])
    exps = np.array(exps)
    step = max(1, math.ceil(exps.size / at_most))
    keep = exps[(exps - exps[exps.size // 2]) % step == 0]  # thinned from the middle out
    return 10.0 ** keep


def _range(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}")
    lo = _validate.positive_scalar(f"{name}[0]", value[0])
    hi = _validate.positive_scalar(f"{name}[1]", value[1])
    if not lo < hi:
        raise ValueError(f"{name} must be increasing, got ({lo!r}, {hi!r})")
    return lo, hi


class _LogBox:
    """Axes-fraction coordinates of a log-log box: u = log-position of N, v of D, in [0, 1].

    Labels are placed in these coordinates with `transform_rotates_text`: `transAxes` is
    affine, so matplotlib turns their angles into screen angles at draw time, whatever the
    final size of the axes (angles given in log data coordinates would not be).
    """

    def __init__(self, N_range: tuple[float, float], D_range: tuple[float, float]) -> None:
        self.x0, self.x1 = math.log10(N_range[0]), math.log10(N_range[1])
        self.y0, self.y1 = math.log10(D_range[0]), math.log10(D_range[1])

    def uv(self, N: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ((np.log10(N) - self.x0) / (self.x1 - self.x0), (np.log10(D) - self.y0) / (self.y1 - self.y0))

    def angle(self, dlogN: float, dlogD: float) -> float:
        """Angle in axes coordinates of the direction (d log N, d log D), within (-90, 90]."""
        a = math.degrees(math.atan2(dlogD / (self.y1 - self.y0), dlogN / (self.x1 - self.x0)))
        if a > 90:
            a -= 180
        elif a <= -90:
            a += 180
        return a


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2.6, foreground="white")]


def _box_label(ax: Axes, u: float, v: float, angle: float, text: str, **kwargs: Any) -> Any:
    return ax.text(u, v, text, transform=ax.transAxes, rotation=angle, transform_rotates_text=True,
                   rotation_mode="anchor", ha="center", va="center", path_effects=_halo(), zorder=6, **kwargs)


def _level_crossings(values: np.ndarray, level: float) -> int | None:
    """Index i of the first sign change of `values - level` between i and i + 1."""
    d = values - level
    change = np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]
    return int(change[0]) if change.size else None


def loss_contours(
    law: Law | LossFn | str,
    params: Any,
    *,
    N_range: tuple[float, float] = (1e7, 1e13),
    D_range: tuple[float, float] = (1e9, 1e14),
    budgets: ArrayLike | None = None,
    frontier: tuple[ArrayLike, ArrayLike] | None = None,
    levels: ArrayLike | int | None = None,
    n_grid: int = 240,
    cmap: Any = None,
    colorbar: bool = True,
    legend: bool = True,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    ax: Axes | None = None,
) -> ContourPlot:
    """The loss surface `L(N, D)` over a log-log grid, with iso-FLOP lines and the frontier.

    Args:
        law, params: the law and one parameter set.
        N_range, D_range: the plotted parameters and training tokens.
        budgets: budgets of the labelled iso-FLOP lines `D = C / (6 N)`, in FLOPs; default up
            to five powers of ten whose lines cross a good part of the plot.
        frontier: the compute-optimal frontier as `(N, D)` arrays; default the law's own,
            found by a dense search (`jscaling.surface.isoflop_min`) for budgets spanning the
            plot.
        levels: loss contour levels (nats/token), or about how many; default about 12.
        n_grid: grid points per axis.
        cmap: colormap of the loss; default pale yellow (low loss) to blue (high loss).
        colorbar, legend: draw them.
        flops_per_param_token: the 6 of `C = 6 N D`.
        ax: Axes to draw on; default a new figure.
    """
    law = _law_and_params(law, params)
    assert law is not None
    N_range = _range("N_range", N_range)
    D_range = _range("D_range", D_range)
    k = _flops_factor(flops_per_param_token)
    n_grid = _validate.check_int("n_grid", n_grid, minimum=8)
    if budgets is None:
        budgets = _default_budgets(N_range, D_range, k)
    else:
        budgets = np.sort(_positive_1d("budgets", budgets))
    frontier_xy = None
    if frontier is not None:
        fN, fD = _array_pair("frontier", frontier, "N", "D")
        _same_length(**{"frontier N": fN, "frontier D": fD})
        frontier_xy = (fN, fD)

    Ns = np.geomspace(*N_range, n_grid)
    Ds = np.geomspace(*D_range, n_grid)
    L = np.asarray(surface.evaluate(law, params, Ns, Ds, grid=True, dtype="float64")).T  # (D, N)
    if levels is None or isinstance(levels, (int, np.integer)):
        nbins = 12 if levels is None else _validate.check_int("levels", levels, minimum=2)
        ticks = _ticker.MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(L.min(), L.max())
        levels = np.concatenate([[L.min()], ticks[(ticks > L.min()) & (ticks < L.max())], [L.max()]])
    else:
        levels = np.sort(_finite_1d("levels", levels))

    fig, ax = _new_axes(ax, (6.4, 5.0))
    if cmap is None:
        cmap = _colors.ListedColormap(matplotlib.colormaps["YlGnBu"](np.linspace(0.02, 0.8, 256)), name="YlGnBu_soft")
    elif isinstance(cmap, str):
        cmap = matplotlib.colormaps[cmap]
    filled = ax.contourf(Ns, Ds, L, levels=levels, cmap=cmap, zorder=1)
    inner = levels[(levels > L.min()) & (levels < L.max())]
    lines = ax.contour(Ns, Ds, L, levels=inner, colors="black", linewidths=0.5, alpha=0.4, zorder=2)
    box = _LogBox(N_range, D_range)

    # Iso-FLOP lines are straight in log-log: two points each.
    inside = []
    iso_lines: list[Line2D] = []
    iso_labels: list[Any] = []
    for C in budgets:
        c = math.log10(C / k)
        lo, hi = max(box.x0, c - box.y1), min(box.x1, c - box.y0)
        if hi - lo <= 0.02 * (box.x1 - box.x0):
            continue
        inside.append(C)
        xs = np.array([10**lo, 10**hi])
        line, = ax.plot(xs, C / (k * xs), color="#3b3b3b", lw=1.0, ls=(0, (5, 3)), zorder=3)
        iso_lines.append(line)
    inside_arr = np.asarray(inside)

    if frontier_xy is None:
        C_lo, C_hi = k * N_range[0] * D_range[0], k * N_range[1] * D_range[1]
        fN, fD = _frontier(law, params, np.geomspace(C_lo, C_hi, 400), k)
    else:
        fN, fD = frontier_xy
    in_box = np.isfinite(fN) & (fN >= N_range[0]) & (fN <= N_range[1]) & (fD >= D_range[0]) & (fD <= D_range[1])
    frontier_line = None
    points = None
    if in_box.any():
        frontier_line, = ax.plot(fN[in_box], fD[in_box], color="#d62728", lw=2.2, zorder=4,
                                 solid_capstyle="round", label="compute-optimal frontier")
        if inside_arr.size and frontier_xy is None:
            pN, pD = _frontier(law, params, inside_arr, k)
            ok = np.isfinite(pN) & (pN >= N_range[0]) & (pN <= N_range[1]) & (pD >= D_range[0]) & (pD <= D_range[1])
            if ok.any():
                points = ax.scatter(pN[ok], pD[ok], s=30, c="#d62728", edgecolors="white", linewidths=0.9, zorder=5)

    line_labels, taken = _loss_labels(ax, law, params, box, Ns, Ds, L, inner, fN[in_box], fD[in_box])
    # Iso-FLOP labels near an end of their line, clear of the frontier and the loss labels.
    fu, fv = box.uv(fN[in_box], fD[in_box])
    for C in inside_arr:
        c = math.log10(C / k)
        lo, hi = max(box.x0, c - box.y1), min(box.x1, c - box.y0)
        best, best_room = None, -1.0
        for fraction in (0.14, 0.86, 0.3, 0.7, 0.5):
            x_label = lo + fraction * (hi - lo)
            u, v = box.uv(np.array(10**x_label), np.array(C / (k * 10**x_label)))
            room = min([math.hypot(u - pu, v - pv) for pu, pv in taken]
                       + [float(np.min(np.hypot(fu - u, fv - v))) if fu.size else 1.0])
            if room > best_room:
                best, best_room = (float(u), float(v)), room
            if room > 0.1:
                break
        assert best is not None
        taken.append(best)
        iso_labels.append(_box_label(ax, *best, box.angle(1.0, -1.0), _sci(C, "FLOPs"), fontsize=8, color="#222222"))

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*N_range)
    ax.set_ylim(*D_range)
    _set_log_ticks(ax.xaxis)
    _set_log_ticks(ax.yaxis)
    ax.set_xlabel(LABEL_N)
    ax.set_ylabel(LABEL_D)
    bar = None
    if colorbar:
        bar = ax.figure.colorbar(filled, ax=ax, pad=0.02, aspect=30)
        bar.set_label(LABEL_LOSS)
        bar.locator = _ticker.MaxNLocator(nbins=8)
        bar.update_ticks()
    leg = None
    if legend:
        handles = [Line2D([], [], color="#3b3b3b", lw=1.0, ls=(0, (5, 3)), label="iso-FLOP line D = C / (6N)")]
        if frontier_line is not None:
            handles.append(Line2D([], [], color="#d62728", lw=2.2, marker="o" if points is not None else None,
                                  ms=5, mec="white", label="compute-optimal frontier"))
        leg = ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.92)
    return ContourPlot(fig, ax, filled, lines, tuple(line_labels), inside_arr, tuple(iso_lines), tuple(iso_labels),
                       frontier_line, points, bar, leg)


def _loss_labels(ax: Axes, law: Law, params: Any, box: _LogBox, Ns: np.ndarray, Ds: np.ndarray, L: np.ndarray,
                 inner: np.ndarray, fN: np.ndarray, fD: np.ndarray) -> tuple[list[Any], list[tuple[float, float]]]:
    """Labels of the loss contours, in a row beside the frontier (or along the diagonal), and
    their positions in axes coordinates."""
    if inner.size == 0:
        return [], []
    labelled = inner[::2] if inner.size > 12 else inner
    # A path a little below and right of the frontier, where it crosses each contour once.
    if fN.size >= 2:
        u, v = box.uv(fN, fD)
        u, v = u + 0.055, v - 0.055
    else:
        u = v = np.linspace(0.0, 1.0, 2)
    t = np.linspace(0.0, 1.0, 600)
    u = np.interp(t, np.linspace(0, 1, u.size), u)
    v = np.interp(t, np.linspace(0, 1, v.size), v)
    keep = (u > 0.03) & (u < 0.97) & (v > 0.03) & (v < 0.97)
    if keep.sum() < 2:
        return [], []
    u, v = u[keep], v[keep]
    logN = box.x0 + u * (box.x1 - box.x0)
    logD = box.y0 + v * (box.y1 - box.y0)
    along = np.asarray(surface.evaluate(law, params, 10.0**logN, 10.0**logD, dtype="float64"))
    dL_dD, dL_dN = np.gradient(L, np.log10(Ds), np.log10(Ns))  # L is (D, N)
    texts = []
    used: list[tuple[float, float]] = []
    for level in labelled:
        i = _level_crossings(along, level)
        if i is None:
            continue
        w = (level - along[i]) / (along[i + 1] - along[i])
        lu, lv = u[i] + w * (u[i + 1] - u[i]), v[i] + w * (v[i + 1] - v[i])
        if any(math.hypot(lu - pu, lv - pv) < 0.06 for pu, pv in used):
            continue
        used.append((lu, lv))
        row = int(np.clip(np.searchsorted(np.log10(Ds), logD[i]), 0, Ds.size - 1))
        col = int(np.clip(np.searchsorted(np.log10(Ns), logN[i]), 0, Ns.size - 1))
        angle = box.angle(float(dL_dD[row, col]), -float(dL_dN[row, col]))  # along the contour
        texts.append(_box_label(ax, lu, lv, angle, f"{level:g}", fontsize=7.5, color="black"))
    return texts, used


# --------------------------------------------------------------------------- frontier


def frontier_bands(
    C: ArrayLike,
    N_opt: ArrayLike,
    D_opt: ArrayLike | None = None,
    *,
    N_band: tuple[ArrayLike, ArrayLike] | None = None,
    D_band: tuple[ArrayLike, ArrayLike] | None = None,
    presets: Sequence[Any] = ("hoffmann2022", "besiroglu2024"),
    points: tuple[ArrayLike, ArrayLike] | None = None,
    label: str = "this fit",
    band_label: str = "bootstrap 80% band",
    points_label: str = "per-budget optima",
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    axes: Any = None,
) -> FrontierPlot:
    """Compute-optimal allocation against budget: N_opt(C) and D_opt(C), with bands.

    Args:
        C: budgets in FLOPs, ascending.
        N_opt, D_opt: the fitted optimum at each budget; `D_opt` defaults to `C / (6 N_opt)`.
        N_band, D_band: `(low, high)` arrays per budget (bootstrap quantiles, say), shaded;
            `D_band` defaults to the one `N_band` implies through `D = C / (6 N)`.
        presets: published laws to draw beside the fit, as preset names, `Preset`s or
            `(label, law, params)` triples; their optima come from a dense search.
        points: per-budget optima to mark, `(C, N)` arrays (IsoFLOP minima, say).
        label, band_label, points_label: legend entries.
        flops_per_param_token: the 6 of `C = 6 N D`.
        axes: one Axes (N_opt only) or two (N_opt, D_opt); default a new two-panel figure.
    """
    C = _positive_1d("C", C)
    N_opt = _positive_1d("N_opt", N_opt)
    n = _same_length(C=C, N_opt=N_opt)
    k = _flops_factor(flops_per_param_token)
    if D_opt is None:
        D_opt = C / (k * N_opt)
    else:
        D_opt = _positive_1d("D_opt", D_opt)
        _same_length(C=C, D_opt=D_opt)
    N_lohi = None if N_band is None else _band("N_band", N_band, n)
    if D_band is not None:
        D_lohi = _band("D_band", D_band, n)
    elif N_lohi is not None:
        D_lohi = (C / (k * N_lohi[1]), C / (k * N_lohi[0]))
    else:
        D_lohi = None
    references = [_reference(entry) for entry in ([presets] if isinstance(presets, (str, Preset)) else presets)]
    pts = None
    if points is not None:
        pC, pN = _array_pair("points", points, "C", "N")
        _same_length(**{"points C": pC, "points N": pN})
        pts = (pC, pN, pC / (k * pN))

    if axes is None:
        fig = Figure(figsize=(10.0, 4.2), layout="constrained")
        panels = list(fig.subplots(1, 2))
    else:
        panels = _axes_list(axes, (1, 2))
        fig = panels[0].figure
    series = [("N", N_opt, N_lohi, f"compute-optimal {LABEL_N}" + r"$_{opt}$"),
              ("D", D_opt, D_lohi, f"compute-optimal {LABEL_D}" + r"$_{opt}$")][: len(panels)]
    lines, bands, point_artists = [], [], []
    ref_lines: dict[str, list[Line2D]] = {}
    ref_values = []
    for ref_label, law, params in references:
        law.validate(params)
        ref_values.append((ref_label, *_frontier(law, params, C, k)))
    color = "#1f77b4"
    for p, (which, y, band, ylabel) in enumerate(series):
        ax = panels[p]
        if band is not None:
            bands.append(ax.fill_between(C, band[0], band[1], color=color, alpha=0.22, lw=0, label=band_label))
        for i, (ref_label, rN, rD) in enumerate(ref_values):
            line, = ax.plot(C, rN if which == "N" else rD, color=_REFERENCE_COLORS[i % len(_REFERENCE_COLORS)],
                            ls=_REFERENCE_STYLES[i % len(_REFERENCE_STYLES)], lw=1.5, label=ref_label, zorder=5)
            ref_lines.setdefault(ref_label, []).append(line)
        line, = ax.plot(C, y, color=color, lw=2.0, label=label, zorder=4)
        lines.append(line)
        if pts is not None:
            point_artists.append(ax.scatter(pts[0], pts[1] if which == "N" else pts[2], s=26, c="black",
                                            marker="o", zorder=6, label=points_label))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(C.min(), C.max())
        _set_log_ticks(ax.xaxis)
        _set_log_ticks(ax.yaxis)
        ax.set_xlabel(LABEL_C)
        ax.set_ylabel(ylabel)
        _light_grid(ax)
    handles = lines[:1] + bands[:1] + point_artists[:1] + [v[0] for v in ref_lines.values()]
    leg = panels[0].legend(handles=handles, loc="upper left", fontsize="small", framealpha=0.92)
    return FrontierPlot(fig, tuple(panels), tuple(lines), tuple(bands),
                        {key: tuple(v) for key, v in ref_lines.items()}, tuple(point_artists), leg)


# --------------------------------------------------------------------------- residuals


def residuals(
    N: ArrayLike,
    D: ArrayLike,
    observed: ArrayLike,
    predicted: ArrayLike,
    *,
    C: ArrayLike | None = None,
    cmap: Any = None,
    colorbar: bool = True,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    axes: Any = None,
) -> ResidualPlot:
    """Residuals `log(predicted / observed)` of a fit against N, D and C, and predicted
    against observed loss.

    Args:
        N, D: parameters and training tokens of each run.
        observed, predicted: its final loss and the fit's prediction, in nats/token.
        C: each run's compute in FLOPs (its nominal budget, say); default `6 N D`. Points are
            coloured by it.
        cmap: colormap of the compute; default a viridis without pale yellows.
        colorbar: draw it.
        flops_per_param_token: the 6 of `C = 6 N D`.
        axes: four Axes (against N, D, C; predicted against observed); default a new 2x2
            figure.
    """
    N = _positive_1d("N", N)
    D = _positive_1d("D", D)
    observed = _positive_1d("observed", observed)
    predicted = _positive_1d("predicted", predicted)
    _same_length(N=N, D=D, observed=observed, predicted=predicted)
    k = _flops_factor(flops_per_param_token)
    if C is None:
        C = k * N * D
    else:
        C = _positive_1d("C", C)
        _same_length(N=N, C=C)
    r = np.log(predicted / observed)
    rms = float(np.sqrt(np.mean(r**2)))

    if axes is None:
        fig = Figure(figsize=(9.0, 6.8), layout="constrained")
        panels = list(fig.subplots(2, 2).ravel())
    else:
        panels = _axes_list(axes, (4,))
        fig = panels[0].figure
    cmap = _budget_cmap(cmap)
    norm = _budget_norm(C)
    style = dict(c=C, cmap=cmap, norm=norm, s=14, alpha=0.8, linewidths=0)
    limit = 1.15 * float(np.max(np.abs(r))) or 1e-3
    scatters, zero_lines = [], []
    for ax, x, xlabel in zip(panels[:3], (N, D, C), (LABEL_N, LABEL_D, LABEL_C)):
        zero_lines.append(ax.axhline(0.0, color="0.3", lw=0.8, zorder=1))
        scatters.append(ax.scatter(x, r, zorder=3, **style))
        ax.set_xscale("log")
        ax.set_xlim(*_log_axis_limits(x))
        _set_log_ticks(ax.xaxis)
        ax.set_ylim(-limit, limit)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("residual log(predicted / observed)")
        _light_grid(ax)
    ax = panels[3]
    both = np.concatenate([observed, predicted])
    pad = 0.04 * float(both.max() - both.min()) or 0.01
    lo, hi = float(both.min()) - pad, float(both.max()) + pad
    zero_lines.append(ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8, ls="--", zorder=1, label="y = x")[0])
    scatters.append(ax.scatter(observed, predicted, zorder=3, **style))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"observed {LABEL_LOSS}")
    ax.set_ylabel(f"predicted {LABEL_LOSS}")
    _light_grid(ax)
    ax.text(0.04, 0.96, f"RMS log residual = {rms:.3g}\n{N.shape[0]} runs", transform=ax.transAxes,
            va="top", ha="left", fontsize="small",
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.8", alpha=0.9))
    bar = None
    if colorbar:
        bar = fig.colorbar(_cm.ScalarMappable(norm=norm, cmap=cmap), ax=panels, pad=0.02, aspect=40, shrink=0.9)
        bar.set_label(LABEL_C)
    return ResidualPlot(fig, tuple(panels), tuple(scatters), tuple(zero_lines), rms, bar)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- bootstrap


def _param_label(name: str) -> str:
    return _PARAM_LABELS.get(name, name)


def _short_label(name: str) -> str:
    return r"$E$ (nats/token)" if name == "E" else f"${_param_symbol(name)}$"


def _param_symbol(name: str) -> str:
    return _PARAM_SYMBOLS.get(name, name.replace("_", r"\_"))


def _pair_artist(ax: Axes, x: np.ndarray, y: np.ndarray, *, hist_threshold: int, bins: int, xlog: bool = False, ylog: bool = False) -> Any:
    if x.shape[0] > hist_threshold:
        xb = np.geomspace(x.min(), x.max(), bins + 1) if xlog else np.linspace(x.min(), x.max(), bins + 1)
        yb = np.geomspace(y.min(), y.max(), bins + 1) if ylog else np.linspace(y.min(), y.max(), bins + 1)
        cmap = _colors.ListedColormap(matplotlib.colormaps["Blues"](np.linspace(0.25, 1.0, 256)), name="Blues_visible")
        *_, mesh = ax.hist2d(x, y, bins=(xb, yb), cmap=cmap, cmin=1, zorder=2)
        return mesh
    alpha = float(np.clip(60.0 / math.sqrt(x.shape[0]), 0.15, 0.8))
    return ax.scatter(x, y, s=6, c="#1f77b4", alpha=alpha, linewidths=0, zorder=2, label="bootstrap samples")


def bootstrap_pairs(
    samples: Any,
    *,
    names: tuple[str, str] = ("alpha", "beta"),
    point: Any = None,
    references: Sequence[Any] = (),
    hist_threshold: int = 4000,
    bins: int = 40,
    legend: bool = True,
    ax: Axes | None = None,
) -> PairPlot:
    """Joint bootstrap distribution of two parameters (alpha against beta by default).

    Args:
        samples: a NamedTuple (a batched params pytree) or a mapping of parameter name to
            1-D arrays of bootstrap samples.
        names: the parameters on the x and y axes.
        point: the point estimate, a params NamedTuple or mapping (marked with a star).
        references: published values to mark: preset names, `Preset`s or
            `(label, law, params)` triples whose params have both names.
        hist_threshold: above this many samples draw a 2-D histogram instead of points.
        bins: bins per axis of that histogram.
        legend: draw it.
        ax: Axes to draw on; default a new figure.
    """
    values = _samples_dict("samples", samples)
    if not isinstance(names, (tuple, list)) or len(names) != 2 or not all(isinstance(s, str) for s in names):
        raise TypeError(f"names must be a pair of parameter names, got {names!r}")
    for name in names:
        if name not in values:
            raise ValueError(f"samples have no parameter {name!r}; they have {sorted(values)}")
    x = _finite_1d(f"samples[{names[0]!r}]", values[names[0]])
    y = _finite_1d(f"samples[{names[1]!r}]", values[names[1]])
    _same_length(**{f"samples[{names[0]!r}]": x, f"samples[{names[1]!r}]": y})
    hist_threshold = _validate.check_int("hist_threshold", hist_threshold, minimum=1)
    bins = _validate.check_int("bins", bins, minimum=2)
    point_values = None if point is None else _point("point", point, names)
    refs = [_reference(entry) for entry in references]

    fig, ax = _new_axes(ax, (5.2, 4.6))
    drawn = _pair_artist(ax, x, y, hist_threshold=hist_threshold, bins=bins)
    handles: list[Any] = [Line2D([], [], ls="none", marker="s" if x.shape[0] > hist_threshold else "o",
                                 ms=7 if x.shape[0] > hist_threshold else 4, mfc="#1f77b4", mec="none",
                                 label=f"bootstrap samples ({x.shape[0]})")]
    point_artist = None
    if point_values is not None:
        px, py = point_values[names[0]], point_values[names[1]]
        point_artist = ax.scatter([px], [py], marker="*", s=220, c="#ff7f0e", edgecolors="black",
                                  linewidths=0.8, zorder=5, label="point estimate")
        handles.append(Line2D([], [], ls="none", marker="*", ms=13, mfc="#ff7f0e", mec="black", mew=0.8, label="point estimate"))
    ref_artists = {}
    markers = ("s", "^", "v", "P", "X", "h")
    for i, (ref_label, _, params) in enumerate(refs):
        rv = _point(f"reference {ref_label!r}", params, names)
        color = _REFERENCE_COLORS[i % len(_REFERENCE_COLORS)]
        ref_artists[ref_label] = ax.scatter([rv[names[0]]], [rv[names[1]]], marker=markers[i % len(markers)],
                                            s=60, c=color, edgecolors="black", linewidths=0.7, zorder=5, label=ref_label)
        handles.append(Line2D([], [], ls="none", marker=markers[i % len(markers)], ms=7.5, mfc=color, mec="black",
                              mew=0.7, label=ref_label))
    ax.set_xlabel(_param_label(names[0]))
    ax.set_ylabel(_param_label(names[1]))
    ax.xaxis.set_major_locator(_ticker.MaxNLocator(nbins=6))
    ax.yaxis.set_major_locator(_ticker.MaxNLocator(nbins=6))
    _light_grid(ax, color="0.92")
    leg = None
    if legend:  # above the axes, clear of the samples
        leg = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01, 1.0, 0.1), mode="expand",
                        ncols=2, fontsize="small", frameon=False, borderaxespad=0.0)
    return PairPlot(fig, ax, (names[0], names[1]), drawn, point_artist, ref_artists, leg)


def bootstrap_corner(
    samples: Any,
    *,
    names: Sequence[str] | None = None,
    point: Any = None,
    log_params: Sequence[str] = _LOG_PARAMS,
    bins: int = 30,
    hist_threshold: int = 2000,
    figure: FigureBase | None = None,
) -> CornerPlot:
    """Corner plot of the bootstrap samples: histograms on the diagonal, pairs below it.

    Args:
        samples: a NamedTuple (a batched params pytree) or a mapping of name to 1-D arrays.
        names: which parameters, in order; default all of them.
        point: the point estimate (a params NamedTuple or mapping), drawn as lines and stars.
        log_params: parameters drawn on log axes when all their samples are positive
            (default the scale coefficients A and B, which spread over orders of magnitude).
        bins: histogram bins.
        hist_threshold: above this many samples the pairs are 2-D histograms, not points.
        figure: an empty Figure (or SubFigure) to draw on; default a new one.

    Each diagonal panel is titled with the median and the 16-84% half-width of its samples.
    """
    values = _samples_dict("samples", samples)
    names = tuple(values) if names is None else tuple(names)
    if not names:
        raise ValueError("names is empty")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"names must hold parameter names (str), got {name!r}")
        if name not in values:
            raise ValueError(f"samples have no parameter {name!r}; they have {sorted(values)}")
    columns = {name: _finite_1d(f"samples[{name!r}]", values[name]) for name in names}
    _same_length(**{f"samples[{name!r}]": columns[name] for name in names})
    bins = _validate.check_int("bins", bins, minimum=2)
    hist_threshold = _validate.check_int("hist_threshold", hist_threshold, minimum=1)
    point_values = None if point is None else _point("point", point, names)
    is_log = {name: name in log_params and bool(np.all(columns[name] > 0)) for name in names}

    K = len(names)
    if figure is None:
        size = min(2.1 * K + 0.6, 14.0)
        figure = Figure(figsize=(size, size), layout="constrained")
    elif not isinstance(figure, FigureBase):
        raise TypeError(f"figure must be a matplotlib Figure or SubFigure, got {type(figure).__name__}")
    elif figure.axes:
        raise ValueError("figure must be empty: bootstrap_corner lays out its own grid of panels")
    grid = figure.subplots(K, K, squeeze=False)
    engine = _root_figure(figure).get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(h_pad=0.02, w_pad=0.02, hspace=0.02, wspace=0.02)
    histograms: list[Any] = []
    pairs: dict[tuple[int, int], Any] = {}
    for i, yname in enumerate(names):
        for j, xname in enumerate(names):
            ax = grid[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            x = columns[xname]
            if is_log[xname]:
                ax.set_xscale("log")
            if i == j:
                edges = np.geomspace(x.min(), x.max(), bins + 1) if is_log[xname] else bins
                *_, patches = ax.hist(x, bins=edges, histtype="stepfilled", color="#1f77b4", alpha=0.35, ec="#1f77b4")
                histograms.append(patches)
                q16, q50, q84 = np.quantile(x, [0.16, 0.5, 0.84])
                for q, ls in ((q16, ":"), (q50, "-"), (q84, ":")):
                    ax.axvline(q, color="#1f77b4", lw=0.9, ls=ls)
                if point_values is not None:
                    ax.axvline(point_values[xname], color="#ff7f0e", lw=1.3)
                ax.set_yticks([])
                ax.set_title(_summary(xname, q50, (q84 - q16) / 2), fontsize="small")
            else:
                y = columns[yname]
                if is_log[yname]:
                    ax.set_yscale("log")
                pairs[(i, j)] = _pair_artist(ax, x, y, hist_threshold=hist_threshold, bins=bins,
                                             xlog=is_log[xname], ylog=is_log[yname])
                if point_values is not None:
                    ax.scatter([point_values[xname]], [point_values[yname]], marker="*", s=90,
                               c="#ff7f0e", edgecolors="black", linewidths=0.6, zorder=5)
            if not is_log[xname]:
                ax.xaxis.set_major_locator(_ticker.MaxNLocator(nbins=3))
            if i != j and not is_log[yname]:
                ax.yaxis.set_major_locator(_ticker.MaxNLocator(nbins=3))
            if i == K - 1:
                ax.set_xlabel(_param_label(xname) if K <= 3 else _short_label(xname))
                ax.tick_params(axis="x", labelrotation=40, labelsize="small")
            else:
                ax.tick_params(axis="x", labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(_param_label(yname) if K <= 3 else _short_label(yname))
                ax.tick_params(axis="y", labelsize="small")
            elif i != j:
                ax.tick_params(axis="y", labelleft=False)
    # Share the limits of each column, and of each row's y with the matching column's x.
    for j, name in enumerate(names):
        lo, hi = grid[j, j].get_xlim()
        for i in range(j, K):
            grid[i, j].set_xlim(lo, hi)
        for jj in range(j):
            grid[j, jj].set_ylim(lo, hi)
    for i in range(K):
        for j in range(i + 1):
            if is_log[names[j]]:
                _few_log_ticks(grid[i, j].xaxis, 3)
            if i != j and is_log[names[i]]:
                _few_log_ticks(grid[i, j].yaxis, 3)
    axes = tuple(tuple(grid[i, j] for j in range(K)) for i in range(K))
    return CornerPlot(figure, axes, names, tuple(histograms), pairs)


def _summary(name: str, center: float, spread: float) -> str:
    digits = max(0, 1 - math.floor(math.log10(spread))) if spread > 0 else 3
    if abs(center) >= 1e4 or (0 < abs(center) < 1e-3):
        return rf"${_param_symbol(name)} = {center:.3g} \pm {spread:.2g}$"
    return rf"${_param_symbol(name)} = {center:.{digits}f} \pm {spread:.{digits}f}$"


# --------------------------------------------------------------------------- files


def save_figure(
    fig: Any,
    path: str | os.PathLike[str],
    *,
    formats: Sequence[str] | str = ("png",),
    dpi: float = 200,
    force: bool = True,
) -> tuple[Path, ...]:
    """Writes `fig` as PNG (always) and any other of `formats` ("svg", "pdf") beside it.

    `path` names the files: its suffix, when it is one of the formats, is replaced per format
    (`fig.png` with `formats=("png", "svg")` writes `fig.png` and `fig.svg`). Each file is
    written to a temporary file in the same folder and renamed into place, so a reader never
    sees half a figure. `fig` may be a Figure or any result of this module. Existing files are
    replaced unless `force=False`. Returns the paths written, PNG first.
    """
    if hasattr(fig, "figure") and not isinstance(fig, FigureBase):
        fig = fig.figure
    if not isinstance(fig, FigureBase):
        raise TypeError(f"fig must be a matplotlib Figure or a plot result, got {type(fig).__name__}")
    fig = _root_figure(fig)
    if isinstance(formats, str):
        formats = (formats,)
    wanted = ["png"]
    for i, fmt in enumerate(formats):
        if not isinstance(fmt, str):
            raise TypeError(f"formats[{i}] must be a string, got {type(fmt).__name__}")
        fmt = fmt.lower().lstrip(".")
        if fmt not in _FORMATS:
            raise ValueError(f"formats[{i}] is {fmt!r}; supported formats: {', '.join(_FORMATS)}")
        if fmt not in wanted:
            wanted.append(fmt)
    dpi = _validate.positive_scalar("dpi", dpi)
    base = Path(path)
    if base.name == "" or base.name in (".", ".."):
        raise ValueError(f"path {str(path)!r} does not name a file")
    if base.suffix.lower().lstrip(".") in _FORMATS:
        base = base.with_suffix("")
    targets = [base.with_name(f"{base.name}.{fmt}") for fmt in wanted]
    for target in targets:
        _io.check_output_path(target, force=force)
    for fmt, target in zip(wanted, targets):
        metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
        with _io.atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
    return tuple(targets)
