"""Files in and out: atomic writes, and the parameter JSON shared by every command.

Outputs are written to a temporary file in the destination's folder and renamed into place,
so an interrupted run never leaves a half-written file; an existing file is replaced only
with `force=True`, and a path that is one of the run's inputs is never written.

The parameter JSON (`jscaling fit --output FIT.json`, read by `--params`) holds at least
`{"law": NAME, "params": {symbol: value}}`; a fit with bootstrap adds
`{"bootstrap": {"samples": {symbol: [values]}}}`. A bare `{symbol: value}` object works too:
the law is inferred from the symbols.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jscaling import laws

__all__: list[str] = []


class OutputExistsError(FileExistsError):
    """An output file exists and `force` was not given."""


def check_output_path(path: str | os.PathLike[str], *, force: bool = False, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The output path, after refusing to overwrite inputs or (without `force`) existing files."""
    out = Path(path)
    resolved = out.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == resolved:
            raise ValueError(f"refusing to write the output over the input file {str(item)!r}")
    if out.exists() and out.is_dir():
        raise ValueError(f"output path {str(out)!r} is a folder, not a file")
    if out.exists() and not force:
        raise OutputExistsError(f"output file {str(out)!r} exists; pass --force (force=True) to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"the folder of the output {str(out)!r} does not exist")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it over `path` only if the body succeeds."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent if str(target.parent) else ".")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if _is_writer():
            os.replace(tmp_path, target)
        else:  # in a multi-host job, process 0 alone writes
            tmp_path.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_writer() -> bool:
    import jax

    return jax.process_count() == 1 or jax.process_index() == 0


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [_jsonable(v) for v in value]
    if hasattr(value, "_asdict"):
        return _jsonable(value._asdict())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if hasattr(value, "__array__"):
        return _jsonable(np.asarray(value))
    return value


def dumps_json(data: Any) -> str:
    """JSON with sorted keys; non-finite floats become null (JSON has no NaN)."""
    return json.dumps(_jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    write_text_atomic(path, dumps_json(data))


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format_cell(row.get(k)) for k in columns})
    return buffer.getvalue()


def _format_cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_csv_atomic(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    write_text_atomic(path, csv_text(rows, columns))


def write_npz_atomic(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


# --------------------------------------------------------------------------- parameter files

_BY_FIELDS: dict[frozenset[str], tuple[str, type]] = {
    frozenset(laws.ChinchillaParams._fields): ("chinchilla", laws.ChinchillaParams),
    frozenset(laws.ChinchillaLogParams._fields): ("chinchilla", laws.ChinchillaLogParams),
    frozenset(laws.KaplanJointParams._fields): ("kaplan-joint", laws.KaplanJointParams),
    frozenset(laws.DataConstrainedParams._fields): ("data-constrained", laws.DataConstrainedParams),
}
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "chinchilla": (laws.ChinchillaParams, laws.ChinchillaLogParams),
    "kaplan-joint": (laws.KaplanJointParams,),
    "kaplan-n": (laws.PowerLawParams,),
    "kaplan-d": (laws.PowerLawParams,),
    "data-constrained": (laws.DataConstrainedParams,),
}


def params_from_mapping(values: Mapping[str, Any], law_name: str | None = None, *, where: str = "params") -> tuple[str, Any]:
    """`(law name, NamedTuple)` from `{symbol: value}`; values may be lists (a batch)."""
    if not isinstance(values, Mapping) or not values:
        raise ValueError(f"{where} must be a non-empty object of parameter values")
    keys = frozenset(values)
    if law_name is None:
        if keys not in _BY_FIELDS:
            raise ValueError(f"{where}: cannot tell the law from the symbols {sorted(keys)}; give a 'law' name")
        law_name, kind = _BY_FIELDS[keys]
        candidates: tuple[type, ...] = (kind,)
    else:
        if law_name not in _PARAM_TYPES:
            raise ValueError(f"{where}: unknown law {law_name!r}; known laws: {', '.join(_PARAM_TYPES)}")
        candidates = _PARAM_TYPES[law_name]
    for kind in candidates:
        required = {f for f in kind._fields if f not in kind._field_defaults}
        if required <= keys <= set(kind._fields):
            converted = {}
            for k, v in values.items():
                try:
                    converted[k] = np.asarray(v, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: parameter {k!r} is not a number: {v!r}") from None
            return law_name, kind(**converted)
    expected = " or ".join(str(list(k._fields)) for k in candidates)
    raise ValueError(f"{where}: law {law_name!r} needs the parameters {expected}; got {sorted(keys)}")


def load_params_file(path: str | os.PathLike[str]) -> tuple[str, Any, Any | None]:
    """Reads a parameter JSON: `(law name, params, bootstrap samples or None)`."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"params file {str(p)!r} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"params file {str(p)!r} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ValueError(f"params file {str(p)!r} is not a text file") from None
    if not isinstance(data, dict):
        raise ValueError(f"params file {str(p)!r} must hold a JSON object")
    if "params" in data:
        law_name = data.get("law")
        if law_name is not None and not isinstance(law_name, str):
            raise ValueError(f"params file {str(p)!r}: 'law' must be a string")
        name, params = params_from_mapping(data["params"], law_name, where=f"{p}: params")
        samples = None
        boot = data.get("bootstrap")
        if isinstance(boot, dict) and boot.get("samples"):
            _, samples = params_from_mapping(boot["samples"], name, where=f"{p}: bootstrap.samples")
        return name, params, samples
    name, params = params_from_mapping(data, None, where=str(p))
    return name, params, None
