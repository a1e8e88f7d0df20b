"""Study configuration: a TOML file describes a whole study, so that it can be rerun exactly.

    [data]                      # omit `path` for the built-in simulated IsoFLOP sweep
    path = "runs.csv"
    n_col = "Model Size"        # column names; defaults are tried when omitted
    c_col = "Training FLOP"     # tokens from C = 6ND when there is no tokens column
    loss_col = "loss"
    drop_highest = 5
    allow_duplicates = false    # rows that repeat another exactly are an error unless true

    [simulate]                  # the built-in default data
    preset = "besiroglu2024"
    budgets = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]
    sizes_per_budget = 15
    noise = 0.01
    seed = 0

    [fit]
    delta = 1e-3
    starts = "grid"             # the Hoffmann et al. grid of 4,500 starts

    [bootstrap]
    samples = 1000
    seed = 0

    [holdout]
    by = "compute"              # or "size"
    quantile = 0.8              # fit on runs below this quantile, predict those above

    [allocate]
    budgets = "1e18:1e26:33"    # LO:HI:NUM, log-spaced
    table = [1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25]

    [compare]
    presets = ["hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024"]

    [output]
    dir = "study-output"
    svg = false

`load_config` reads and validates a file (unknown sections or keys are errors, with a
suggestion); `StudyConfig.to_toml()` writes the resolved configuration back.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jscaling import _io
from jscaling.presets import get_preset, preset_names

__all__ = ["StudyConfig", "load_config", "DEFAULT_BUDGETS", "LIMITS", "parse_budgets", "parse_starts"]

DEFAULT_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


@dataclasses.dataclass(frozen=True)
class DataSection:
    path: str | None = None
    n_col: str | None = None
    d_col: str | None = None
    c_col: str | None = None
    loss_col: str | None = None
    weight_col: str | None = None
    group_col: str | None = None
    drop_highest: int = 0
    allow_duplicates: bool = False


@dataclasses.dataclass(frozen=True)
class SimulateSection:
    preset: str = "besiroglu2024"
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    sizes_per_budget: int = 15
    noise: float = 0.01
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class FitSection:
    law: str = "chinchilla"
    delta: float = 1e-3
    starts: str = "grid"
    max_steps: int = 1000


@dataclasses.dataclass(frozen=True)
class BootstrapSection:
    samples: int = 1000
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class HoldoutSection:
    by: str = "compute"
    quantile: float = 0.8


@dataclasses.dataclass(frozen=True)
class AllocateSection:
    budgets: str = "1e18:1e26:33"
    table: tuple[float, ...] = (1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25)
    max_unique_tokens: float | None = None


@dataclasses.dataclass(frozen=True)
class CompareSection:
    presets: tuple[str, ...] = ("hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024")


@dataclasses.dataclass(frozen=True)
class OutputSection:
    dir: str = "study-output"
    svg: bool = False


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Everything a study needs; every field has a default (the built-in study)."""

    data: DataSection = DataSection()
    simulate: SimulateSection = SimulateSection()
    fit: FitSection = FitSection()
    bootstrap: BootstrapSection = BootstrapSection()
    holdout: HoldoutSection = HoldoutSection()
    allocate: AllocateSection = AllocateSection()
    compare: CompareSection = CompareSection()
    output: OutputSection = OutputSection()
    source: str | None = None  # the file it was read from, if any

    def replace(self, **sections: Mapping[str, Any]) -> StudyConfig:
        """A copy with some keys of some sections replaced (e.g. from command-line flags)."""
        updated = {}
        for name, values in sections.items():
            current = getattr(self, name)
            updated[name] = _section(name, {**dataclasses.asdict(current), **{k: v for k, v in values.items()}}, where="command line")
        return dataclasses.replace(self, **updated)

    def validate(self) -> None:
        """Raises ValueError for values that are the right type but make no sense.

        Counts are bounded so that no configuration asks for more than a large machine holds
        (`LIMITS`); seeds lie in [0, 2**32).
        """
        s, f, b, h, a = self.simulate, self.fit, self.bootstrap, self.holdout, self.allocate
        if self.data.path is None:
            _chinchilla_preset("[simulate] preset", s.preset)
            if not s.budgets or any(not (math.isfinite(c) and c > 0) for c in s.budgets):
                raise ValueError("[simulate] budgets must be a non-empty list of positive, finite FLOP counts")
            _at_most("[simulate] budgets", len(s.budgets), "budgets")
            if s.sizes_per_budget < 3:
                raise ValueError(f"[simulate] sizes_per_budget must be at least 3, got {s.sizes_per_budget}")
            _at_most("[simulate] sizes_per_budget", s.sizes_per_budget, "sizes_per_budget")
            if not (0 <= s.noise < 1):
                raise ValueError(f"[simulate] noise must be in [0, 1), got {s.noise}")
            _seed("[simulate] seed", s.seed)
        if self.data.drop_highest < 0:
            raise ValueError(f"[data] drop_highest must be >= 0, got {self.data.drop_highest}")
        if self.data.path is not None and not self.data.path.strip():
            raise ValueError("[data] path is empty; omit it for the built-in simulated runs")
        if not (math.isfinite(f.delta) and f.delta > 0):
            raise ValueError(f"[fit] delta must be positive, got {f.delta}")
        if f.law != "chinchilla":
            raise ValueError(f"[fit] law: the study fits the chinchilla law; got {f.law!r}")
        if f.max_steps < 1:
            raise ValueError(f"[fit] max_steps must be >= 1, got {f.max_steps}")
        _at_most("[fit] max_steps", f.max_steps, "max_steps")
        parse_starts(f.starts)
        if b.samples < 0:
            raise ValueError(f"[bootstrap] samples must be >= 0, got {b.samples}")
        if b.samples == 1:
            raise ValueError("[bootstrap] samples must be 0 (none) or at least 2")
        _at_most("[bootstrap] samples", b.samples, "samples")
        _seed("[bootstrap] seed", b.seed)
        if h.by not in ("compute", "size"):
            raise ValueError(f"[holdout] by must be 'compute' or 'size', got {h.by!r}")
        if not (0 < h.quantile < 1):
            raise ValueError(f"[holdout] quantile must be in (0, 1), got {h.quantile}")
        if not a.table or any(not (math.isfinite(c) and c > 0) for c in a.table):
            raise ValueError("[allocate] table must be a non-empty list of positive, finite budgets")
        _at_most("[allocate] table", len(a.table), "budgets")
        parse_budgets(a.budgets)
        if a.max_unique_tokens is not None and not (math.isfinite(a.max_unique_tokens) and a.max_unique_tokens >= 1):
            raise ValueError(f"[allocate] max_unique_tokens must be a finite number of tokens >= 1, got {a.max_unique_tokens}")
        for name in self.compare.presets:
            _chinchilla_preset("[compare] presets", name)
        if not self.output.dir.strip():
            raise ValueError("[output] dir is empty; name a folder")

    def to_dict(self) -> dict[str, Any]:
        return {name: _drop_none(dataclasses.asdict(getattr(self, name))) for name in _SECTIONS}

    def to_toml(self) -> str:
        """The configuration as TOML that `load_config` reads back to an equal config."""
        lines = ["# Resolved jscaling study configuration", ""]
        for name, values in self.to_dict().items():
            lines.append(f"[{name}]")
            for key, value in values.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


# The TOML sections, in order: every field of StudyConfig but `source`.
_SECTIONS: dict[str, type] = {f.name: type(f.default) for f in dataclasses.fields(StudyConfig) if f.name != "source"}


LIMITS: Mapping[str, int] = {
    "budgets": 10_000,
    "sizes_per_budget": 10_000,
    "samples": 100_000,
    "max_steps": 1_000_000,
    "points": 1_000_000,
    "starts": 1 << 24,
}
"""The largest counts a study configuration may ask for."""


def _at_most(label: str, value: int, limit: str) -> None:
    if value > LIMITS[limit]:
        raise ValueError(f"{label} = {value} is more than a study allows ({LIMITS[limit]:,})")


def _chinchilla_preset(label: str, name: str) -> None:
    """A known preset of the Chinchilla form: the study simulates and compares only those."""
    if name not in preset_names():
        raise ValueError(f"{label}: unknown preset {name!r}; known presets: {', '.join(preset_names())}")
    law = get_preset(name).law.name
    if law != "chinchilla":
        usable = [n for n in preset_names() if get_preset(n).law.name == "chinchilla"]
        raise ValueError(f"{label}: {name!r} is a {law} law; the study simulates and compares Chinchilla-form laws: {', '.join(usable)}")


def _seed(label: str, value: int) -> None:
    if not 0 <= value < 2**32:
        raise ValueError(f"{label} must be in [0, 2**32), got {value}")


def parse_budgets(text: str, *, label: str = "[allocate] budgets") -> tuple[float, float, int]:
    """`"LO:HI:NUM"` to `(lo, hi, num)`: positive finite bounds, lo < hi, 2 <= num."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"{label} must look like LO:HI:NUM (e.g. 1e18:1e26:33), got {text!r}")
    try:
        lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"{label} must look like LO:HI:NUM with numbers, got {text!r}") from None
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{label} must have positive, finite bounds, got {text!r}")
    if hi <= lo:
        raise ValueError(f"{label}: {'reversed' if hi < lo else 'empty'} range {text!r}")
    if num < 2:
        raise ValueError(f"{label}: need at least 2 budgets, got {num}")
    _at_most(label, num, "points")
    return lo, hi, num


def parse_starts(spec: str, *, label: str = "[fit] starts") -> tuple[str, int]:
    """`"grid"`, `"random:N"` or `"screen:K"` to `(kind, count)` (count 0 for the grid)."""
    usage = f"{label} must be 'grid', 'random:N' or 'screen:K' with N, K >= 1, got {spec!r}"
    if spec == "grid":
        return ("grid", 0)
    kind, sep, count = spec.partition(":")
    if kind not in ("random", "screen") or not sep:
        raise ValueError(usage)
    try:
        n = int(count)
    except ValueError:
        raise ValueError(usage) from None
    if n < 1:
        raise ValueError(usage)
    _at_most(label, n, "starts")
    if kind == "screen" and n > 1 << 20:
        raise ValueError(f"{label}: screen:K keeps the best K of 2**20 candidates; K = {n} is more than that")
    return (kind, n)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf" if value < 0 else "nan")
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _coerce(section: str, key: str, value: Any, annotation: str, where: str) -> Any:
    label = f"{where}: [{section}] {key}"
    optional = "None" in annotation
    if value is None and optional:
        return None
    if annotation.startswith("tuple"):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{label} must be a list, got {value!r}"[:200])
        inner = "float" if "float" in annotation else "str"
        return tuple(_coerce(section, key, v, inner, where) for v in value)
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be true or false, got {value!r}"[:200])
        return value
    if annotation.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label} must be an integer, got {value!r}"[:200])
        return value
    if annotation.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{label} must be a number, got {value!r}"[:200])
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{label} = {str(value)[:20]}... is too large for float64") from None
    if annotation.startswith("str"):
        if not isinstance(value, str):
            raise ValueError(f"{label} must be a string, got {value!r}"[:200])
        return value
    raise AssertionError(annotation)  # pragma: no cover


def _show(name: str) -> str:
    """A key as the user wrote it, quoted when it is not a plain word (one line, short)."""
    plain = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if plain else repr(name[:40]) + ("..." if len(name) > 40 else "")


def _section(name: str, values: Mapping[str, Any], *, where: str) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{where}: [{name}] has no key {key[:40]!r}{hint} (keys: {', '.join(fields)})")
        kwargs[key] = _coerce(name, key, value, str(fields[key].type), where)
    return cls(**kwargs)


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Reads and validates a study TOML file; relative data paths are taken from its folder."""
    p = _io.existing_file(path, "config")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a UTF-8 text file") from None
    except RecursionError:
        raise ValueError(f"{p}: not valid TOML: nested too deeply") from None
    sections = {}
    for name, values in raw.items():
        if name not in _SECTIONS:
            close = difflib.get_close_matches(name, list(_SECTIONS), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            raise ValueError(f"{p}: unknown section [{_show(name)}]{hint} (sections: {', '.join(_SECTIONS)})")
        sections[name] = _section(name, values, where=str(p))
    config = StudyConfig(**sections, source=str(p))
    if config.data.path is not None and not Path(config.data.path).is_absolute():
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, path=str((p.parent / config.data.path))))
    config.validate()
    return config
