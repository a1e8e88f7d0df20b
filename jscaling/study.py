"""A whole scaling-law study, end to end: the main job of `jscaling study`.

`run_study(config)` validates the runs (a CSV of the user's, or a simulated IsoFLOP sweep
with known truth), fits Approach 3 from the full start grid, bootstraps it, runs Approach 2
where the runs form IsoFLOP groups, checks a fit on the small runs against the large ones,
compares with the published presets, and allocates compute over budgets 1e18 to 1e26 with
bootstrap bands. `write_study(result, folder)` writes `summary.md`, `results.json`, CSV
tables, the figures and the resolved configuration, all into a temporary folder that is
renamed into place at the end, so an interrupted study leaves nothing half-written.

Each step is a call of the public API (`load_runs`, `fit`, `bootstrap`, `approach2`,
`holdout`, `compute_optimal`, `allocation_bands`, `jscaling.plot`), so a study is also a
worked example of the library.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jscaling import _io, _report, _runtime, allocate, approaches, distributed, identify, surface
from jscaling import fit as fitting
from jscaling.bootstrap import bootstrap
from jscaling.config import StudyConfig, parse_budgets, parse_starts
from jscaling.data import Runs, load_runs, simulate_isoflop_sweep
from jscaling.laws import CHINCHILLA, ChinchillaLogParams, ChinchillaParams
from jscaling.presets import get_preset

__all__ = ["StudyResult", "run_study", "write_study", "Status"]

Status = Callable[[str], None]


@dataclasses.dataclass(frozen=True, repr=False)
class PresetComparison:
    """A published law beside the fit: its exponents, its allocation, its error on the runs."""

    name: str
    a: float
    b: float
    N_opt: np.ndarray  # at the table budgets
    tokens_per_param: np.ndarray
    mean_abs_rel_error: float  # of its loss predictions on the runs


@dataclasses.dataclass(frozen=True, repr=False)
class StudyResult:
    """Everything a study computed; `write_study` turns it into files."""

    config: StudyConfig
    runs: Runs
    data_description: str
    truth: ChinchillaParams | None
    fit: Any
    bootstrap: Any | None
    approach2: Any | None
    approach2_note: str | None
    holdout: Any | None
    holdout_note: str | None
    comparisons: tuple[PresetComparison, ...]
    table: Any  # Allocation at config.allocate.table
    table_bands: Any | None
    frontier: Any  # Allocation over the allocate budgets
    frontier_bands: Any | None
    timings: dict[str, float]

    @property
    def warnings(self) -> tuple[str, ...]:
        """The fit's warnings, which include what the design and its curvature say (jscaling.identify)."""
        return tuple(self.fit.warnings)

    @property
    def converged(self) -> bool:
        return bool(self.fit.best_converged)

    def __repr__(self) -> str:
        p = self.fit.params
        return (
            f"StudyResult(runs={len(self.runs)}, E={float(p.E):.4g}, A={float(p.A):.4g}, B={float(p.B):.4g}, "
            f"alpha={float(p.alpha):.4g}, beta={float(p.beta):.4g}, a={self.fit.a:.4f}, b={self.fit.b:.4f}, "
            f"converged={self.converged})"
        )


def _log_range(text: str) -> np.ndarray:
    lo, hi, num = parse_budgets(text)
    return np.logspace(math.log10(lo), math.log10(hi), num)


def load_study_runs(config: StudyConfig) -> tuple[Runs, str, ChinchillaParams | None]:
    """The runs a study fits: the user's file, or the built-in simulated sweep (with its truth)."""
    d = config.data
    if d.path is not None:
        runs = load_runs(
            d.path, n_col=d.n_col, d_col=d.d_col, c_col=d.c_col, loss_col=d.loss_col,
            weight_col=d.weight_col, group_col=d.group_col, drop_highest=d.drop_highest,
            allow_duplicates=d.allow_duplicates,
        )
        return runs, f"{len(runs)} runs from {d.path}", None
    s = config.simulate
    preset = get_preset(s.preset)
    truth = _natural_floats(preset.params)
    runs = simulate_isoflop_sweep(
        preset.law, preset.params, key=jax.random.key(s.seed), budgets=s.budgets,
        sizes_per_budget=s.sizes_per_budget, noise=s.noise,
    )
    if d.drop_highest:
        runs = runs.drop_highest(d.drop_highest)
    description = (
        f"{len(runs)} simulated runs: an IsoFLOP sweep of {len(s.budgets)} budgets from "
        f"{min(s.budgets):.3g} to {max(s.budgets):.3g} FLOPs, {s.sizes_per_budget} sizes each, "
        f"the {s.preset} law with log-normal noise sigma {s.noise:g} (seed {s.seed})"
    )
    return runs, description, truth


@contextlib.contextmanager
def _step(status: Status | None, timings: dict[str, float], name: str, text: str) -> Iterator[None]:
    if status is not None:
        status(text)
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0


def run_study(config: StudyConfig | None = None, *, status: Status | None = None) -> StudyResult:
    """Runs every step of a study; `status(text)` is called as each long step starts."""
    config = config or StudyConfig()
    config.validate()
    timings: dict[str, float] = {}
    budgets = _log_range(config.allocate.budgets)
    table_C = np.asarray(config.allocate.table, dtype=np.float64)

    with _step(status, timings, "load", "validating runs"):
        runs, description, truth = load_study_runs(config)
        runs.require(5, what="the Chinchilla law")
        identify.require_variation(runs)

    f = config.fit
    starts = _starts(config)  # shared by the fit and the held-out refit
    with _step(status, timings, "fit", f"fitting Approach 3 from {'the 4,500-start grid' if f.starts == 'grid' else f.starts}"):
        result = fitting.fit(runs, delta=f.delta, max_steps=f.max_steps, starts=starts)

    boot = None
    if config.bootstrap.samples > 0:
        with _step(status, timings, "bootstrap", f"bootstrap: {config.bootstrap.samples} refits"):
            boot = bootstrap(runs, fit_result=result, n_resamples=config.bootstrap.samples, key=jax.random.key(config.bootstrap.seed), delta=f.delta, max_steps=f.max_steps)

    a2, a2_note = None, None
    if runs.group is not None:
        with _step(status, timings, "approach2", "Approach 2: parabolas per budget"):
            try:
                a2 = approaches.approach2(runs, bootstrap=min(config.bootstrap.samples, 1000), key=jax.random.key(config.bootstrap.seed + 1))
            except ValueError as exc:
                a2_note = f"Approach 2 not usable on these runs: {exc}"
    else:
        a2_note = "Approach 2 skipped: the runs carry no IsoFLOP budget labels (give a group column, e.g. data.group_col)."

    with _step(status, timings, "holdout", "held-out check"):
        h, h_note = _holdout(runs, config, starts)

    with _step(status, timings, "compare", "comparing with published laws"):
        comparisons = tuple(_compare(name, runs, table_C) for name in config.compare.presets)

    with _step(status, timings, "allocate", "allocating compute over budgets"):
        cap = config.allocate.max_unique_tokens
        table = allocate.solve(CHINCHILLA, result.params, C=table_C, max_unique_tokens=cap)
        frontier = allocate.solve(CHINCHILLA, result.params, C=budgets, max_unique_tokens=cap)
        table_bands = frontier_bands = None
        if boot is not None:
            samples = _report.natural_samples(boot)
            table_bands = allocate.allocation_bands(CHINCHILLA, samples, table_C, max_unique_tokens=cap)
            frontier_bands = allocate.allocation_bands(CHINCHILLA, samples, budgets, max_unique_tokens=cap)

    return StudyResult(
        config=config, runs=runs, data_description=description, truth=truth, fit=result, bootstrap=boot,
        approach2=a2, approach2_note=a2_note, holdout=h, holdout_note=h_note, comparisons=comparisons,
        table=table, table_bands=table_bands, frontier=frontier, frontier_bands=frontier_bands, timings=timings,
    )


def _starts(config: StudyConfig) -> Any:
    kind, n = parse_starts(config.fit.starts)
    if kind == "grid":
        return None
    if kind == "random":
        return fitting.random_starts(jax.random.key(config.bootstrap.seed + 2), n)
    return ("screen", n)


def _holdout(runs: Runs, config: StudyConfig, starts: Any) -> tuple[Any | None, str | None]:
    by = "C" if config.holdout.by == "compute" else "N"
    values = runs.C if by == "C" else runs.N
    cut = float(np.quantile(values, config.holdout.quantile))
    n_train = int(np.count_nonzero(values <= cut))
    if n_train < 6 or len(runs) - n_train < 1:
        return None, f"held-out check skipped: the {config.holdout.quantile:.0%} cut leaves {n_train} runs to fit and {len(runs) - n_train} to predict"
    try:
        return fitting.holdout(runs, cut, by=by, delta=config.fit.delta, max_steps=config.fit.max_steps, starts=starts), None
    except ValueError as exc:
        return None, f"held-out check failed: {exc}"


def _natural_floats(params: Any) -> ChinchillaParams:
    """A Chinchilla preset's parameters as `ChinchillaParams` of Python floats."""
    if isinstance(params, ChinchillaLogParams):
        with _runtime.x64_scope():  # exp in float64: the truth and the comparisons keep every digit
            params = params.to_natural()
    return ChinchillaParams(*(float(v) for v in params))


def _compare(name: str, runs: Runs, table_C: np.ndarray) -> PresetComparison:
    preset = get_preset(name)
    params = preset.params
    natural = _natural_floats(params)
    consts = allocate.frontier_constants(natural)
    alloc = allocate.compute_optimal(natural, table_C)
    predicted = surface.evaluate(preset.law, params, runs.N, runs.D, dtype="float64")
    error = float(np.mean(np.abs(predicted / runs.loss - 1)))
    return PresetComparison(name=name, a=float(consts.a), b=float(consts.b), N_opt=np.asarray(alloc.N), tokens_per_param=np.asarray(alloc.D / alloc.N), mean_abs_rel_error=error)


# --------------------------------------------------------------------------- writing


def check_output_folder(folder: str | os.PathLike[str], *, force: bool, inputs: tuple[str | None, ...] = ()) -> Path:
    """The output folder, after refusing anything a study must not replace.

    Refused always: a folder that holds an input (the runs, the config), the current folder
    or one above it, the home folder, a file, a folder whose parent does not exist. Refused
    without `force`: an existing non-empty folder. Refused even with `force`: a non-empty
    folder that holds no previous study (no `results.json` or `summary.md`), so that a typo in
    `--output` cannot replace an unrelated folder.
    """
    out = Path(folder)
    if not str(folder).strip():
        raise ValueError("the output folder is empty; name a folder")
    resolved = out.resolve()
    for item in inputs:
        if item is None:
            continue
        path = Path(item).resolve()
        if path == resolved or resolved in path.parents:
            raise ValueError(f"the output folder {str(out)!r} holds the input {str(item)!r}; choose another --output")
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise ValueError(f"the output folder {str(out)!r} is the current folder or holds it; choose a new folder")
    if resolved == Path.home().resolve() or resolved == Path(resolved.anchor):
        raise ValueError(f"refusing to use {str(out)!r} (the home or root folder) as the output folder; choose a new folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise _io.OutputExistsError(f"output folder {str(out)!r} exists and is not empty; pass --force to replace it")
        if not any((out / name).exists() for name in _STUDY_MARKERS):
            raise ValueError(
                f"output folder {str(out)!r} is not empty and holds no previous study (no {' or '.join(_STUDY_MARKERS)}); "
                "refusing to replace it even with --force; choose a new or empty folder"
            )
    if not out.parent.exists():
        raise ValueError(f"the parent folder of the output {str(out)!r} does not exist")
    return out


_STUDY_MARKERS = ("results.json", "summary.md")


def write_study(result: StudyResult, folder: str | os.PathLike[str], *, force: bool = False, svg: bool | None = None, status: Status | None = None) -> Path:
    """Writes every output of a study into `folder`, atomically (temp folder, then rename).

    The files are written into a hidden temporary folder beside `folder`, which is renamed
    into place at the end; an existing study there (with `force`) is moved aside and removed
    only after that. Ctrl-C is held back during the renames and the clean-up, so an
    interruption leaves either the old folder or the new one, whole, and no temporary folder.
    """
    svg = result.config.output.svg if svg is None else svg
    out = check_output_folder(folder, force=force, inputs=(result.config.data.path, result.config.source))
    if not distributed.is_writer():  # in a multi-host job, process 0 alone writes
        return out
    parent = out.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        if status is not None:
            status("writing tables")
        _report.write_tables(result, tmp)
        if status is not None:
            status("drawing figures")
        figures = _report.write_figures(result, tmp, svg=svg)
        (tmp / "summary.md").write_text(_report.summary_markdown(result, figures), encoding="utf-8")
        (tmp / "config.toml").write_text(result.config.to_toml(), encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_io._umask())
        _io.raise_if_interrupted()  # an interrupt lost in a callback still stops the commit
        with _io.interrupts_deferred():
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
                os.replace(out, old / out.name)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
    except BaseException:
        with _io.interrupts_deferred():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
