"""Presentation of a study: summary.md, the terminal table, CSV tables and figures.

Kept apart from the computation (`jscaling.study`), as iminuit keeps `_repr_text` apart from
its data types.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from jscaling import _io
from jscaling.laws import CHINCHILLA, ChinchillaParams

__all__: list[str] = []

PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
FIGURES = ("isoflop", "contours", "frontier", "residuals", "bootstrap")


# --------------------------------------------------------------------------- numbers


def natural_samples(boot: Any) -> ChinchillaParams | None:
    """Bootstrap samples as natural Chinchilla parameters (arrays), converged refits only."""
    if boot is None:
        return None
    keep = np.asarray(boot.converged, dtype=bool)
    return ChinchillaParams(*(np.asarray(v, dtype=np.float64)[keep] for v in boot.samples))


def _n_converged(boot: Any) -> int:
    return int(np.count_nonzero(boot.converged))


def intervals(boot: Any) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the parameters and of a, b, G (from the bootstrap result)."""
    if boot is None:
        return {}
    return {k: (float(v[0]), float(v[1])) for k, v in boot.intervals.items()}


def stderrs(boot: Any) -> dict[str, float]:
    if boot is None:
        return {}
    return {k: float(v) for k, v in boot.stderr.items()}


def _g(x: float, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


def point_values(result: Any) -> dict[str, float]:
    p = result.fit.params
    values = {name: float(getattr(p, name)) for name in PARAM_NAMES}
    values.update(a=float(result.fit.a), b=float(result.fit.b), G=float(result.fit.G))
    return values


# --------------------------------------------------------------------------- tables


def allocation_rows(alloc: Any, bands: Any | None) -> list[dict[str, Any]]:
    rows = []
    for k in range(np.size(alloc.C)):
        row: dict[str, Any] = {
            "C": float(np.ravel(alloc.C)[k]), "N": float(np.ravel(alloc.N)[k]), "D": float(np.ravel(alloc.D)[k]),
            "tokens_per_param": float(np.ravel(alloc.D)[k] / np.ravel(alloc.N)[k]), "loss": float(np.ravel(alloc.loss)[k]),
        }
        if bands is not None:
            for name in ("N", "D", "tokens_per_param", "loss"):
                for q in (bands.percentiles[0], bands.percentiles[-1]):
                    row[f"{name}_p{q:g}"] = float(bands.band(name, q)[k])
        rows.append(row)
    return rows


def runs_rows(result: Any) -> list[dict[str, Any]]:
    runs = result.runs
    predicted = result.fit.predict(runs.N, runs.D)
    rows = []
    for i in range(len(runs)):
        row = {
            "row": int(runs.rows[i]) + 1 if runs.rows is not None else i + 1,
            "N": float(runs.N[i]), "D": float(runs.D[i]), "C": float(runs.C[i]), "loss": float(runs.loss[i]),
            "predicted": float(predicted[i]), "log_residual": float(np.log(predicted[i] / runs.loss[i])),
        }
        if runs.group is not None:
            row["group"] = int(runs.group[i])
        rows.append(row)
    return rows


def write_tables(result: Any, folder: Path) -> None:
    """results.json and the CSV tables."""
    _io.write_csv_atomic(folder / "allocation.csv", allocation_rows(result.frontier, result.frontier_bands))
    _io.write_csv_atomic(folder / "compute_optimal_table.csv", allocation_rows(result.table, result.table_bands))
    _io.write_csv_atomic(folder / "runs.csv", runs_rows(result))
    s = natural_samples(result.bootstrap)
    if s is not None:
        rows = [{name: float(getattr(s, name)[i]) for name in PARAM_NAMES} for i in range(len(s.E))]
        _io.write_csv_atomic(folder / "bootstrap_samples.csv", rows, list(PARAM_NAMES))
    if result.approach2 is not None:
        _io.write_csv_atomic(folder / "approach2_budgets.csv", result.approach2.table())
    _io.write_json_atomic(folder / "results.json", results_dict(result))


def results_dict(result: Any) -> dict[str, Any]:
    fit_dict = result.fit.to_dict(per_start=False)
    data: dict[str, Any] = {
        "data": {"description": result.data_description, "n_runs": len(result.runs), "notes": list(result.runs.notes), "source": result.runs.source},
        "fit": fit_dict,
        "converged": bool(result.fit.best_converged),
        "params": {k: v for k, v in point_values(result).items() if k in PARAM_NAMES},
        "a": float(result.fit.a), "b": float(result.fit.b), "G": float(result.fit.G),
        "compute_optimal": allocation_rows(result.table, result.table_bands),
        "comparisons": [
            {"preset": c.name, "a": c.a, "b": c.b, "mean_abs_rel_error_on_runs": c.mean_abs_rel_error,
             "N_opt": dict(zip((f"{x:.0e}" for x in result.config.allocate.table), c.N_opt.tolist())),
             "tokens_per_param": dict(zip((f"{x:.0e}" for x in result.config.allocate.table), c.tokens_per_param.tolist()))}
            for c in result.comparisons
        ],
        "timings_s": result.timings,
        "config": result.config.to_dict(),
        "warnings": all_warnings(result),
    }
    if result.truth is not None:
        data["truth"] = dict(zip(PARAM_NAMES, (float(v) for v in result.truth)))
    if result.bootstrap is not None:
        data["bootstrap"] = {
            "n": _n_converged(result.bootstrap),
            "stderr": stderrs(result.bootstrap),
            "interval_95": {k: list(v) for k, v in intervals(result.bootstrap).items()},
        }
    if result.approach2 is not None:
        data["approach2"] = result.approach2.to_dict()
    if result.approach2_note:
        data["approach2_note"] = result.approach2_note
    if result.holdout is not None:
        data["holdout"] = result.holdout.to_dict()
    if result.holdout_note:
        data["holdout_note"] = result.holdout_note
    return data


def all_warnings(result: Any) -> list[str]:
    """The fit's warnings (they include the design and curvature checks of jscaling.identify), once each."""
    return list(dict.fromkeys(result.fit.warnings))


# --------------------------------------------------------------------------- figures


def write_figures(result: Any, folder: Path, *, svg: bool = False) -> list[str]:
    """The study's figures as PNG (and SVG); returns the file names written."""
    from matplotlib.figure import Figure

    from jscaling import plot

    formats = ("png", "svg") if svg else ("png",)
    runs, fit = result.runs, result.fit
    written: list[str] = []

    def save(obj: Any, name: str) -> None:
        plot.save_figure(obj, folder / f"{name}.png", formats=formats)
        written.extend(f"{name}.{fmt}" for fmt in formats)

    if runs.group is not None:
        fig = Figure(figsize=(7.5, 5.2), layout="constrained")
        ax = fig.add_subplot()
        plot.isoflop_curves(runs.N, runs.loss, runs.C, law=CHINCHILLA, params=fit.params, minima=_minima_for_plot(result), ax=ax)
        ax.set_title("IsoFLOP profiles: runs, Approach 3 fit and minima")
        save(fig, "isoflop")

    fig = Figure(figsize=(7.5, 5.8), layout="constrained")
    ax = fig.add_subplot()
    N_lo, N_hi = runs.N.min() / 10, runs.N.max() * 1000
    D_lo, D_hi = runs.D.min() / 10, runs.D.max() * 1000
    plot.loss_contours(CHINCHILLA, fit.params, N_range=(N_lo, N_hi), D_range=(D_lo, D_hi), ax=ax)
    ax.scatter(runs.N, runs.D, s=6, c="k", alpha=0.4, label="runs", zorder=5)
    ax.set_title("Fitted loss surface with the compute-optimal frontier")
    save(fig, "contours")

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    bands = result.frontier_bands
    N_band = D_band = None
    if bands is not None:
        lo, hi = bands.percentiles[0], bands.percentiles[-1]
        N_band = (bands.band("N", lo), bands.band("N", hi))
        D_band = (bands.band("D", lo), bands.band("D", hi))
    points = None
    if result.approach2 is not None:
        a2 = result.approach2
        use = np.asarray(a2.usable)
        points = (np.asarray(a2.C)[use], np.asarray(a2.N_opt)[use])
    plot.frontier_bands(
        np.asarray(result.frontier.C), np.asarray(result.frontier.N), np.asarray(result.frontier.D),
        N_band=N_band, D_band=D_band, presets=result.config.compare.presets, points=points,
        band_label="bootstrap 95% band", points_label="Approach 2 optima", axes=axes,
    )
    save(fig, "frontier")

    fig = Figure(figsize=(10, 7.5), layout="constrained")
    plot.residuals(runs.N, runs.D, runs.loss, fit.predict(runs.N, runs.D), C=runs.C, axes=fig.subplots(2, 2))
    save(fig, "residuals")

    s = natural_samples(result.bootstrap)
    if s is not None:
        fig = Figure(figsize=(6, 5.2), layout="constrained")
        ax = fig.add_subplot()
        refs = [name for name in result.config.compare.presets]
        plot.bootstrap_pairs(s, point=fit.params, references=refs, ax=ax)
        save(fig, "bootstrap")
        corner = plot.bootstrap_corner(s, point=fit.params)
        save(corner, "bootstrap_corner")
    return written


def _minima_for_plot(result: Any) -> Any:
    a2 = result.approach2
    if a2 is None:
        return None
    use = np.asarray(a2.usable)
    return (np.asarray(a2.N_opt)[use], np.asarray(a2.loss_opt)[use])


# --------------------------------------------------------------------------- text


def _param_table(result: Any) -> list[str]:
    values = point_values(result)
    ints = intervals(result.bootstrap)
    ses = stderrs(result.bootstrap)
    truth = dict(zip(PARAM_NAMES, result.truth)) if result.truth is not None else {}
    header = "| parameter | estimate | 95% interval | std. error |" + (" truth |" if truth else "")
    lines = [header, "|---|---|---|---|" + ("---|" if truth else "")]
    for name in (*PARAM_NAMES, "a", "b", "G"):
        lo, hi = ints.get(name, (math.nan, math.nan))
        interval = f"[{_g(lo)}, {_g(hi)}]" if name in ints else "—"
        se = _g(ses[name], 3) if name in ses else "—"
        line = f"| {name} | {_g(values[name], 5)} | {interval} | {se} |"
        if truth:
            t = truth.get(name)
            if t is None and name in ("a", "b"):
                al, be = truth["alpha"], truth["beta"]
                t = be / (al + be) if name == "a" else al / (al + be)
            line += f" {_g(float(t), 5) if t is not None else '—'} |"
        lines.append(line)
    return lines


def _table_lines(result: Any) -> list[str]:
    rows = allocation_rows(result.table, result.table_bands)
    banded = result.table_bands is not None
    lo = hi = None
    if banded:
        lo, hi = result.table_bands.percentiles[0], result.table_bands.percentiles[-1]
    lines = ["| compute C (FLOPs) | parameters N | tokens D | tokens per parameter | loss |", "|---|---|---|---|---|"]
    for r in rows:
        def cell(name: str, fmt: Any = partial(_g, digits=3)) -> str:
            if not banded:
                return fmt(r[name])
            return f"{fmt(r[name])} ({fmt(r[f'{name}_p{lo:g}'])} – {fmt(r[f'{name}_p{hi:g}'])})"
        lines.append(f"| {r['C']:.0e} | {cell('N')} | {cell('D')} | {cell('tokens_per_param', lambda x: f'{x:.1f}')} | {cell('loss', lambda x: f'{x:.4f}')} |")
    return lines


def summary_markdown(result: Any, figures: list[str]) -> str:
    """summary.md: what was fitted, how well, what it implies, and the figures."""
    fit = result.fit
    lines = ["# Scaling-law study", ""]
    lines += [f"**Data:** {result.data_description}.", ""]
    for note in result.runs.notes:
        lines.append(f"- {note}")
    if result.runs.notes:
        lines.append("")
    lines += [
        "## Fit (Approach 3)", "",
        "`L(N, D) = E + A / N^alpha + B / D^beta`, fitted by minimising the Huber loss "
        f"(delta {fit.options.get('delta', 1e-3):g}) of log residuals from {fit.n_starts:,} starts "
        f"in one compiled program. Best objective {fit.objective:.6g}; "
        f"{'converged' if fit.best_converged else '**did not converge**: ' + fit.message}.", "",
    ]
    lines += _param_table(result)
    lines.append("")
    if result.bootstrap is not None:
        lines += [f"Intervals: percentiles of {_n_converged(result.bootstrap):,} bootstrap refits (runs resampled with replacement). "
                  "`a = beta/(alpha+beta)` and `b = alpha/(alpha+beta)` are the exponents of `N_opt ∝ C^a` and `D_opt ∝ C^b`.", ""]
    warnings = all_warnings(result)
    for w in warnings:
        lines.append(f"- **warning:** {w}")
    if warnings:
        lines.append("")
    lines += ["## Compute-optimal allocation", "", "With `C = 6 N D`" + (" (bands: bootstrap 95% interval)" if result.table_bands is not None else "") + ":", ""]
    lines += _table_lines(result)
    lines.append("")
    lines += ["## Approach 2 (IsoFLOP parabolas)", ""]
    if result.approach2 is not None:
        a2 = result.approach2
        lines.append(f"`N_opt ∝ C^a` with a = {a2.a:.4f}, `D_opt ∝ C^b` with b = {a2.b:.4f}, from {a2.n_budgets} budgets"
                     + (f" (95% interval of a: [{a2.bootstrap.intervals['a'][0]:.4f}, {a2.bootstrap.intervals['a'][1]:.4f}])" if getattr(a2, "bootstrap", None) is not None else "")
                     + f"; Approach 3 gives a = {fit.a:.4f}.")
        for note in getattr(a2, "notes", ()):
            lines.append(f"- {note}")
    else:
        lines.append(result.approach2_note or "not run")
    lines.append("")
    lines += ["## Held-out check", ""]
    if result.holdout is not None:
        h = result.holdout
        label = "compute" if h.by == "C" else "size"
        lines.append(
            f"Fitted on the {h.n_train} runs with {label} ≤ {h.cut:.3g}, the law predicts the {h.n_test} larger runs with "
            f"mean absolute relative error {h.mean_abs_relative_error:.2%} (max {h.max_abs_relative_error:.2%}, bias {h.bias:+.2%})."
        )
    else:
        lines.append(result.holdout_note or "not run")
    lines.append("")
    lines += ["## Published laws", "", "| law | a | b | N_opt at 1e23 FLOPs | tokens per parameter at 1e23 | mean abs. error on these runs |", "|---|---|---|---|---|---|"]
    table_C = list(result.config.allocate.table)
    k = table_C.index(1e23) if 1e23 in table_C else len(table_C) // 2
    N_fit = float(np.ravel(result.table.N)[k])
    lines.append(f"| this fit | {fit.a:.4f} | {fit.b:.4f} | {N_fit:.3g} | {float(np.ravel(result.table.D)[k]) / N_fit:.1f} | {np.mean(np.abs(fit.predict(result.runs.N, result.runs.D) / result.runs.loss - 1)):.2%} |")
    for c in result.comparisons:
        lines.append(f"| {c.name} | {c.a:.4f} | {c.b:.4f} | {c.N_opt[k]:.3g} | {c.tokens_per_param[k]:.1f} | {c.mean_abs_rel_error:.2%} |")
    lines.append("")
    if figures:
        lines += ["## Figures", ""]
        for name in figures:
            if name.endswith(".png"):
                lines += [f"![{name[:-4]}]({name})", ""]
    lines += ["## Method", "",
              "Hoffmann et al. 2022 (arXiv:2203.15556) Approach 3 as replicated by Besiroglu et al. 2024 (arXiv:2404.10102): "
              "Huber loss on `log L_pred - log L_obs` with `log L_pred = logsumexp(a - alpha log N, b - beta log D, e)`, "
              "summed over runs, from the grid alpha, beta in {0, 0.5, ..., 2}, e in {-1, ..., 1}, a, b in {0, 5, ..., 25}. "
              "Compute-optimal allocation in closed form: `G = (alpha A / (beta B))^(1/(alpha+beta))`, "
              "`N_opt = G (C/6)^a`, `D_opt = G^-1 (C/6)^b`.", ""]
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    lines += [f"Timings: {timing}.", ""]
    return "\n".join(lines)


def terminal_summary(result: Any) -> str:
    """The compact table printed at the end of `jscaling study`."""
    values = point_values(result)
    ints = intervals(result.bootstrap)
    lines = []
    cells = []
    for name in (*PARAM_NAMES, "a", "b"):
        lo, hi = ints.get(name, (math.nan, math.nan))
        band = f" [{_g(lo)}, {_g(hi)}]" if name in ints else ""
        cells.append(f"{name:>5} = {_g(values[name], 5):>9}{band}")
    lines.append("fit:  " + "\n      ".join(cells))
    lines.append("")
    lines.append(f"{'C (FLOPs)':>10}  {'N':>10}  {'D':>10}  {'D/N':>6}  {'loss':>7}")
    for r in allocation_rows(result.table, None):
        lines.append(f"{r['C']:>10.0e}  {r['N']:>10.3g}  {r['D']:>10.3g}  {r['tokens_per_param']:>6.1f}  {r['loss']:>7.4f}")
    if result.holdout is not None:
        lines.append("")
        lines.append(f"held-out: mean abs. error {result.holdout.mean_abs_relative_error:.2%} on the {result.holdout.n_test} largest runs")
    return "\n".join(lines)
