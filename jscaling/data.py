"""Training runs: load, validate, and simulate the (N, D, loss) data that fits consume.

`Runs` holds one row per training run (or per checkpoint): parameters N, training tokens D,
final loss (nats per token), compute C, an optional weight and an optional group label (the
IsoFLOP budget a run belongs to). Build one from arrays (`Runs.from_arrays`), from a CSV file
(`load_runs`), or simulate a sweep with known truth (`simulate_isoflop_sweep`).

Validation happens here, once, at the door: every problem is reported with its row (1-based
data row, and the file's line number) and column, before any fit runs.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jscaling import _io
from jscaling.compute import FLOPS_PER_PARAM_TOKEN

__all__ = ["Runs", "load_runs", "simulate_isoflop_sweep", "group_budgets", "DEFAULT_COLUMNS"]

DEFAULT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "N": ("N", "n", "params", "parameters", "n_params", "Model Size", "model_size"),
    "D": ("D", "d", "tokens", "n_tokens", "Training Tokens", "training_tokens"),
    "C": ("C", "c", "flops", "FLOPs", "compute", "Training FLOP", "training_flop"),
    "loss": ("loss", "Loss", "final_loss", "L"),
}
"""Column names tried, in order, when the caller names none."""


def _as_vector(name: str, value: Any, n: int | None) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} values but N has {n}: lengths must match")
    return array


def _check_column(name: str, values: np.ndarray, rows: np.ndarray, *, source: str, positive: bool = True) -> None:
    finite = np.isfinite(values)
    bad = ~finite | ((values <= 0) if positive else np.zeros_like(finite))
    if bad.any():
        i = int(np.argmax(bad))
        what = "finite" if not finite[i] else "positive"
        raise ValueError(f"{source}, {_where(rows[i])}, column {name!r}: must be {what}, found {float(values[i])!r}")


def _where(row: int) -> str:
    return f"row {row + 1}"


_TINY = float(np.finfo(np.float64).tiny)


def _check_derived(name: str, formula: str, values: np.ndarray, inputs: Mapping[str, np.ndarray], rows: np.ndarray, *, source: str) -> None:
    """A derived column (C = 6 N D, or D = C / (6 N)) must stay inside float64's normal range."""
    bad = ~np.isfinite(values) | (values < _TINY)
    if bad.any():
        i = int(np.argmax(bad))
        what = "overflows" if not np.isfinite(values[i]) else "underflows"
        given = ", ".join(f"{k} = {v[i]:.6g}" for k, v in inputs.items())
        raise ValueError(f"{source}, {_where(rows[i])}: {name} = {formula} {what} float64 ({given}); check the units")


@dataclasses.dataclass(frozen=True, repr=False)
class Runs:
    """Training runs, one per row, validated.

    Attributes:
        N: parameters per run.
        D: training tokens per run.
        loss: final loss, nats per token.
        C: training compute in FLOPs (given, or `6 N D`).
        weight: per-run weight in the fit objective (ones by default).
        group: integer IsoFLOP group per run, or None when the runs carry no budget label.
        rows: each run's 0-based row in the source (for messages after filtering).
        source: where the runs came from (a file path or "arrays").
        notes: what loading did that a user should know (rows dropped, duplicates kept).
    """

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    C: np.ndarray
    weight: np.ndarray
    group: np.ndarray | None = None
    rows: np.ndarray | None = None
    source: str = "arrays"
    notes: tuple[str, ...] = ()

    @classmethod
    def from_arrays(
        cls,
        N: Any,
        D: Any = None,
        loss: Any = None,
        *,
        C: Any = None,
        weight: Any = None,
        group: Any = None,
        flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
        source: str = "arrays",
    ) -> Runs:
        """Runs from arrays; D may be omitted when C is given (then `D = C / (6 N)`)."""
        if loss is None:
            raise ValueError("loss is required")
        N = _as_vector("N", N, None)
        n = N.shape[0]
        loss = _as_vector("loss", loss, n)
        rows = np.arange(n)
        _check_column("N", N, rows, source=source)
        _check_column("loss", loss, rows, source=source)
        if D is None and C is None:
            raise ValueError("give D (training tokens) or C (training FLOPs, then D = C / (6 N))")
        if C is not None:
            C = _as_vector("C", C, n)
            _check_column("C", C, rows, source=source)
        if D is None:
            with np.errstate(over="ignore", under="ignore"):
                D = C / (flops_per_param_token * N)
            _check_derived("D", f"C / ({flops_per_param_token:g} N)", D, {"C": C, "N": N}, rows, source=source)
        else:
            D = _as_vector("D", D, n)
            _check_column("D", D, rows, source=source)
        if C is None:
            with np.errstate(over="ignore", under="ignore"):
                C = flops_per_param_token * N * D
            _check_derived("C", f"{flops_per_param_token:g} N D", C, {"N": N, "D": D}, rows, source=source)
        weight = np.ones(n) if weight is None else _as_vector("weight", weight, n)
        _check_column("weight", weight, rows, source=source, positive=False)
        if (weight < 0).any():
            i = int(np.argmax(weight < 0))
            raise ValueError(f"{source}, {_where(i)}, column 'weight': must be >= 0, found {float(weight[i])!r}")
        if group is not None:
            group = np.asarray(group)
            if group.shape != (n,):
                raise ValueError(f"group has shape {group.shape}; expected ({n},)")
            _, group = np.unique(group, return_inverse=True)
        notes = _duplicate_notes(N, D, loss, rows)
        return cls(N=N, D=D, loss=loss, C=C, weight=weight, group=group, rows=rows, source=source, notes=notes)

    def __len__(self) -> int:
        return int(self.N.shape[0])

    @property
    def n_groups(self) -> int:
        return 0 if self.group is None else int(self.group.max()) + 1

    def select(self, mask: np.ndarray) -> Runs:
        """The runs where `mask` is True (group labels kept)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.N.shape:
            raise ValueError(f"mask has shape {mask.shape}; expected {self.N.shape}")
        pick = lambda x: None if x is None else x[mask]  # noqa: E731
        return dataclasses.replace(
            self, N=self.N[mask], D=self.D[mask], loss=self.loss[mask], C=self.C[mask],
            weight=self.weight[mask], group=pick(self.group), rows=pick(self.rows),
        )

    def drop_highest(self, k: int) -> Runs:
        """Without the `k` highest losses (Besiroglu et al. drop 5 of 245: diverged or unconverged)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"drop_highest must be an integer >= 0, got {k!r}")
        if k == 0:
            return self
        if k >= len(self):
            raise ValueError(f"cannot drop the {k} highest losses of only {len(self)} runs")
        order = np.argsort(self.loss, kind="stable")
        keep = np.zeros(len(self), dtype=bool)
        keep[order[: len(self) - k]] = True
        dropped = ", ".join(f"{self.loss[i]:.4g}" for i in order[len(self) - k :][::-1])
        runs = self.select(keep)
        return dataclasses.replace(runs, notes=runs.notes + (f"dropped the {k} highest losses ({dropped})",))

    def with_budget_groups(self, *, tolerance_dex: float = 0.1) -> Runs:
        """Group labels from C: runs whose log10 C lie within `tolerance_dex` chain together."""
        return dataclasses.replace(self, group=group_budgets(self.C, tolerance_dex=tolerance_dex))

    def require(self, n_params: int, *, what: str = "the law") -> None:
        """Raises unless there are more runs than the `n_params` free parameters."""
        if len(self) <= n_params:
            raise ValueError(f"{self.source}: {len(self)} runs are too few to fit {what} with {n_params} free parameters; need at least {n_params + 1}")

    def __repr__(self) -> str:
        groups = f", groups={self.n_groups}" if self.group is not None else ""
        return (
            f"Runs(n={len(self)}, N=[{self.N.min():.3g}, {self.N.max():.3g}], "
            f"D=[{self.D.min():.3g}, {self.D.max():.3g}], C=[{self.C.min():.3g}, {self.C.max():.3g}], "
            f"loss=[{self.loss.min():.4g}, {self.loss.max():.4g}]{groups}, source={self.source!r})"
        )


def _duplicate_notes(N: np.ndarray, D: np.ndarray, loss: np.ndarray, rows: np.ndarray) -> tuple[str, ...]:
    keys: dict[tuple[float, float], int] = {}
    dups = []
    for i, key in enumerate(zip(N.tolist(), D.tolist())):
        if key in keys:
            dups.append((keys[key], i))
        else:
            keys[key] = i
    if not dups:
        return ()
    shown = "; ".join(f"{_where(rows[j])} repeats {_where(rows[i])}" for i, j in dups[:5])
    more = f" and {len(dups) - 5} more" if len(dups) > 5 else ""
    return (f"{len(dups)} duplicate (N, D) run(s) kept: {shown}{more}",)


def group_budgets(C: Any, *, tolerance_dex: float = 0.1) -> np.ndarray:
    """Integer budget labels: sorted log10 C split wherever a gap exceeds `tolerance_dex`."""
    C = np.asarray(C, dtype=np.float64)
    if C.size == 0:
        return np.zeros(0, dtype=np.int64)
    logC = np.log10(C)
    order = np.argsort(logC, kind="stable")
    breaks = np.concatenate([[0], np.cumsum(np.diff(logC[order]) > tolerance_dex)])
    labels = np.empty(C.shape[0], dtype=np.int64)
    labels[order] = breaks
    return labels


# --------------------------------------------------------------------------- CSV


def _resolve_column(role: str, given: str | None, header: list[str], path: str, *, required: bool) -> int | None:
    if given is not None:
        if given in header:
            return header.index(given)
        close = difflib.get_close_matches(given, header, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{path}: no column {given!r} (for {role}); the columns are {', '.join(map(repr, header))}{hint}")
    for name in DEFAULT_COLUMNS[role]:
        if name in header:
            return header.index(name)
    if required:
        raise ValueError(f"{path}: no column for {role}; the columns are {', '.join(map(repr, header))}; name one with --{role.lower()}-col")
    return None


def load_runs(
    path: str | os.PathLike[str],
    *,
    n_col: str | None = None,
    d_col: str | None = None,
    c_col: str | None = None,
    loss_col: str | None = None,
    weight_col: str | None = None,
    group_col: str | None = None,
    drop_highest: int = 0,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
    allow_duplicates: bool = False,
) -> Runs:
    """Reads runs from a CSV file with a header row.

    Columns are found by the names given, else by common names (`DEFAULT_COLUMNS`). Tokens come
    from `d_col`, or from `c_col` as `D = C / (6 N)` when there is no token column (the
    digitised Chinchilla runs give only `Model Size`, `Training FLOP` and `loss`).

    A row that repeats an earlier one exactly (every column read) is an error unless
    `allow_duplicates=True`: a run pasted twice weighs double in the fit. Runs that share N and
    D but differ in loss (repeated seeds) are kept, with a note.

    Raises:
        ValueError: the file is missing, empty, header-only, or malformed; a named column is
            absent; a cell is not a number, or a value is non-finite or non-positive; a derived
            C = 6 N D or D = C / (6 N) leaves float64's range; N or D is below 1 (counts of
            parameters and tokens, not millions or billions); a row repeats another; a group
            cell is empty; every weight is 0: the message names the file, the row and line, and
            the column.
    """
    p = _io.existing_file(path, "runs")
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{src}: not a UTF-8 text file (byte {exc.start})") from None
    if not text.strip():
        raise ValueError(f"{src}: the file is empty")
    try:
        records = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise ValueError(f"{src}: malformed CSV: {exc}") from None
    # Keep the file's line numbers, skipping blank lines.
    numbered = [(i + 1, r) for i, r in enumerate(records) if any(cell.strip() for cell in r)]
    if not numbered:
        raise ValueError(f"{src}: the file holds no header and no data (only separators)")
    _, header = numbered[0]
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise ValueError(f"{src}: the header names column {dup!r} twice")
    body = numbered[1:]
    if not body:
        raise ValueError(f"{src}: the file has a header but no data rows")
    i_N = _resolve_column("N", n_col, header, src, required=True)
    i_D = _resolve_column("D", d_col, header, src, required=False) if c_col is None or d_col is not None else None
    i_C = _resolve_column("C", c_col, header, src, required=i_D is None)
    if i_D is None and i_C is None:
        raise ValueError(f"{src}: need a tokens column (--d-col) or a FLOPs column (--c-col)")
    i_L = _resolve_column("loss", loss_col, header, src, required=True)
    i_W = _resolve_column("weight", weight_col, header, src, required=True) if weight_col is not None else None
    i_G = _resolve_column("group", group_col, header, src, required=True) if group_col is not None else None

    wanted = [(role, i) for role, i in (("N", i_N), ("D", i_D), ("C", i_C), ("loss", i_L), ("weight", i_W)) if i is not None]
    values = {role: np.empty(len(body)) for role, _ in wanted}
    groups: list[str] = []
    for r, (line, record) in enumerate(body):
        if len(record) != len(header):
            raise ValueError(f"{src}, line {line} (row {r + 1}): {len(record)} fields, but the header has {len(header)}")
        for role, i in wanted:
            cell = record[i].strip()
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(f"{src}, line {line} (row {r + 1}), column {header[i]!r}: {cell!r} is not a number") from None
            if not math.isfinite(value) or (value <= 0 and role != "weight") or value < 0:
                what = "finite" if not math.isfinite(value) else ("positive" if role != "weight" else ">= 0")
                raise ValueError(f"{src}, line {line} (row {r + 1}), column {header[i]!r}: must be {what}, found {cell!r}")
            values[role][r] = value
        if i_G is not None:
            label = record[i_G].strip()
            if not label:
                raise ValueError(f"{src}, line {line} (row {r + 1}), column {header[i_G]!r}: the group label is empty")
            groups.append(label)
    if not allow_duplicates:
        _refuse_exact_duplicates(src, body, values, groups if i_G is not None else None, [header[i] for _, i in wanted])
    if "weight" in values and not (values["weight"] > 0).any():
        raise ValueError(f"{src}, column {header[i_W]!r}: every weight is 0: nothing to fit")
    runs = Runs.from_arrays(
        values["N"], values.get("D"), values["loss"], C=values.get("C"), weight=values.get("weight"),
        group=groups if i_G is not None else None, flops_per_param_token=flops_per_param_token, source=src,
    )
    for role, values_, what in (("N", runs.N, "parameters"), ("D", runs.D, "tokens")):
        small = values_ < 1
        if small.any():
            r = int(np.argmax(small))
            column = header[i_N] if role == "N" else (header[i_D] if i_D is not None else f"D = C / ({flops_per_param_token:g} N)")
            raise ValueError(
                f"{src}, line {body[r][0]} (row {r + 1}), column {column!r}: {role} counts {what} and must be at least 1, "
                f"found {values_[r]:.6g}; give plain counts (not millions or billions)"
            )
    notes = runs.notes
    if i_D is None:
        notes += (f"D derived as C / ({flops_per_param_token:g} N) from column {header[i_C]!r}",)
    runs = dataclasses.replace(runs, notes=notes)
    return runs.drop_highest(drop_highest) if drop_highest else runs


def _refuse_exact_duplicates(src: str, body: list[tuple[int, list[str]]], values: Mapping[str, np.ndarray], groups: list[str] | None, names: list[str]) -> None:
    columns = [values[k].tolist() for k in values] + ([groups] if groups is not None else [])
    seen: dict[tuple[Any, ...], int] = {}
    for r, key in enumerate(zip(*columns)):
        first = seen.setdefault(key, r)
        if first != r:
            raise ValueError(
                f"{src}, line {body[r][0]} (row {r + 1}) repeats line {body[first][0]} (row {first + 1}) exactly "
                f"(columns {', '.join(map(repr, names))}): a run counted twice weighs double in the fit; remove "
                "it, or allow duplicates (--allow-duplicates) if they are genuine repeats"
            )


# --------------------------------------------------------------------------- simulation


def simulate_isoflop_sweep(
    law: Any,
    params: Any,
    *,
    key: jax.Array,
    budgets: Sequence[float] = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21),
    sizes_per_budget: int = 15,
    span: float = 1.5,
    noise: float = 0.01,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> Runs:
    """An IsoFLOP sweep with known truth: for each budget, sizes log-spaced around its optimum.

    For budget C the sizes span `span` decades in log10 N centred on the law's compute-optimal
    N (found by a dense iso-FLOP scan), D = C / (6 N), and the observed loss is the law's times
    `exp(noise * z)` with z standard normal (multiplicative log-normal noise; 0.01 is about
    what repeated real runs scatter). Seeded by `key`: the same key gives the same runs.
    """
    from jscaling import surface
    from jscaling.laws import as_law

    law = as_law(law)
    budgets = np.asarray(budgets, dtype=np.float64)
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError("budgets must be a non-empty 1-D sequence of FLOPs")
    if sizes_per_budget < 3:
        raise ValueError(f"sizes_per_budget must be at least 3 (a parabola per budget), got {sizes_per_budget}")
    candidates = np.logspace(5, 14, 4001)
    best = surface.isoflop_min(law, params, budgets, candidates, dtype="float64", flops_per_param_token=flops_per_param_token)
    offsets = np.linspace(-span / 2, span / 2, sizes_per_budget)
    N = (best.N[:, None] * 10.0 ** offsets[None, :]).reshape(-1)
    C = np.repeat(budgets, sizes_per_budget)
    D = C / (flops_per_param_token * N)
    clean = surface.evaluate(law, params, N, D, dtype="float64")
    z = np.asarray(jax.random.normal(key, N.shape, dtype=np.float32), dtype=np.float64)
    loss = clean * np.exp(noise * z)
    group = np.repeat(np.arange(budgets.size), sizes_per_budget)
    return Runs.from_arrays(N, D, loss, C=C, group=group, flops_per_param_token=flops_per_param_token, source="simulated IsoFLOP sweep")
