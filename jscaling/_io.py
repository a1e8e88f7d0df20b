"""Files in and out: atomic writes, and the parameter JSON shared by every command.

Outputs are written to a temporary file in the destination's folder and renamed into place,
so an interrupted run never leaves a half-written file; an existing file is replaced only
with `force=True`, and a path that is one of the run's inputs (or a hard link to one) is never
written. Within a command (`interrupt_guard`), an interrupt is remembered, so that one lost in a
callback still stops the next rename (`raise_if_interrupted`); renames that must finish
together run with interrupts held back (`interrupts_deferred`).

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
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jscaling import distributed, laws

__all__: list[str] = []


class OutputExistsError(FileExistsError):
    """An output file exists and `force` was not given."""


def check_output_path(path: str | os.PathLike[str], *, force: bool = False, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The output path, after refusing to overwrite inputs or (without `force`) existing files."""
    out = Path(path)
    resolved = out.resolve()
    for item in inputs:
        if item is not None and (Path(item).resolve() == resolved or _same_file(item, out)):
            raise ValueError(f"refusing to write the output over the input file {str(item)!r}")
    if out.exists() and out.is_dir():
        raise ValueError(f"output path {str(out)!r} is a folder, not a file")
    if out.exists() and not force:
        raise OutputExistsError(f"output file {str(out)!r} exists; pass --force (force=True) to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"the folder of the output {str(out)!r} does not exist")
    return out


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two existing paths are one file (hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_INTERRUPT = {"active": False, "requested": False}


@contextlib.contextmanager
def interrupt_guard() -> Iterator[None]:
    """For the length of one command: Ctrl-C (SIGINT) and SIGTERM raise KeyboardInterrupt and
    are remembered.

    Python runs signal handlers between bytecodes, sometimes inside a garbage-collection
    callback (JAX registers one), where the KeyboardInterrupt is reported as "ignored" and
    lost. Remembered, it is raised again at the next commit point (`raise_if_interrupted`:
    before an output is renamed into place, and at each progress update), so a lost interrupt
    never lets an output appear; and the "ignored" report (a traceback) is not printed.
    Outside the main thread signals cannot be caught; the body then runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
        _INTERRUPT["requested"] = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            return  # remembered: raised again at the next commit point
        hook(info)

    sys.unraisablehook = unraisable
    _INTERRUPT.update(active=True, requested=False)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook
        _INTERRUPT.update(active=False, requested=False)


def interrupt_requested() -> bool:
    """Whether an interrupt arrived during the current command (see `interrupt_guard`)."""
    return bool(_INTERRUPT["requested"])


def raise_if_interrupted() -> None:
    """Raises KeyboardInterrupt if an interrupt arrived (and was perhaps lost) in this command."""
    if _INTERRUPT["requested"]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Holds back Ctrl-C (SIGINT) and SIGTERM for the body, then raises KeyboardInterrupt.

    For steps that must finish once started (renaming a finished output into place, removing a
    temporary folder): an interrupt during them would leave the old output moved aside or a
    temporary folder half-deleted. (Before a commit, call `raise_if_interrupted` first, so that
    an interrupt lost earlier stops it.) Outside the main thread signals cannot be caught; the
    body then runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:  # noqa: ARG001
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            if _INTERRUPT["active"]:
                _INTERRUPT["requested"] = True
            raise KeyboardInterrupt


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
        raise_if_interrupted()  # an interrupt lost in a callback still stops the commit
        if distributed.is_writer():
            os.replace(tmp_path, target)
        else:  # in a multi-host job, process 0 alone writes
            tmp_path.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def existing_file(path: str | os.PathLike[str], kind: str) -> Path:
    """`path` as a Path, or a ValueError naming the `kind` of input file when it is missing or a folder."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{kind} file {str(p)!r} does not exist")
    if p.is_dir():
        raise ValueError(f"{kind} file {str(p)!r} is a folder")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def _number(where: str, value: Any) -> float:
    """One JSON number as a float, or a ValueError naming `where`."""
    if value is None:
        raise ValueError(f"{where} is null (a missing value, or NaN or infinity written as null)")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where} must be a number, got {json.dumps(value) if isinstance(value, (str, list, dict)) else repr(value)}"[:200])
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{where} = {str(value)[:20]}... is too large for float64") from None
    if not math.isfinite(number):
        raise ValueError(f"{where} must be finite, got {number}")
    return number


def _values(where: str, key: str, value: Any) -> np.ndarray:
    """A parameter's value: a number, a 1-D list of numbers, or an array."""
    if isinstance(value, np.ndarray):
        if value.dtype == object or not np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_:
            raise ValueError(f"{where}: parameter {key!r} must hold numbers, got dtype {value.dtype}")
        return value.astype(np.float64)
    if isinstance(value, (list, tuple)):
        return np.asarray([_number(f"{where}: parameter {key!r}[{i}]", v) for i, v in enumerate(value)], dtype=np.float64)
    if isinstance(value, (str, dict)):
        raise ValueError(f"{where}: parameter {key!r} is not a number: {value!r}"[:200])
    return np.asarray(_number(f"{where}: parameter {key!r}", value), dtype=np.float64)


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
            converted = {k: _values(where, k, v) for k, v in values.items()}
            return law_name, kind(**converted)
    expected = " or ".join(str(list(k._fields)) for k in candidates)
    raise ValueError(f"{where}: law {law_name!r} needs the parameters {expected}; got {sorted(keys)}")


def _scalars(where: str, values: Any) -> None:
    """A file's point estimate holds one number per parameter (batches come from samples)."""
    if isinstance(values, Mapping):
        for k, v in values.items():
            if isinstance(v, (list, tuple, dict)):
                raise ValueError(f"{where}: parameter {k!r} must be a single number, got {type(v).__name__} {json.dumps(v)[:60]} "
                                 "(a batch of parameter sets belongs in bootstrap.samples)")


def _samples(where: str, boot: Mapping[str, Any]) -> dict[str, list[Any]] | None:
    """The bootstrap samples of a parameter file: equal-length lists, converged resamples only."""
    samples = boot.get("samples")
    if samples is None:
        return None
    if not isinstance(samples, Mapping) or not samples:
        raise ValueError(f"{where}.samples must be a non-empty object of parameter lists")
    lengths = set()
    for k, v in samples.items():
        if not isinstance(v, list):
            raise ValueError(f"{where}.samples: parameter {k!r} must be a list of numbers, got {type(v).__name__}")
        lengths.add(len(v))
    if len(lengths) != 1:
        raise ValueError(f"{where}.samples: the parameter lists differ in length ({', '.join(f'{k}: {len(v)}' for k, v in samples.items())})")
    size = lengths.pop()
    if size == 0:
        raise ValueError(f"{where}.samples: the lists are empty")
    converged = boot.get("converged")
    if converged is None:
        return dict(samples)
    if not (isinstance(converged, list) and len(converged) == size and all(isinstance(c, bool) for c in converged)):
        raise ValueError(f"{where}.converged must be a list of {size} true/false values, one per sample")
    if not any(converged):
        raise ValueError(f"{where}: none of the {size} bootstrap resamples converged; refit with more starts (--bootstrap-starts)")
    return {k: [x for x, c in zip(v, converged) if c] for k, v in samples.items()}


def load_params_file(path: str | os.PathLike[str]) -> tuple[str, Any, Any | None]:
    """Reads a parameter JSON: `(law name, params, bootstrap samples or None)`.

    `params` holds one number per symbol; `bootstrap.samples` (optional) one equal-length list
    per symbol. Where the file says which resamples converged (`bootstrap.converged`, as `jscaling
    fit --bootstrap` writes), only those samples are returned, as the bootstrap's own summaries
    use only those. Every problem is a ValueError naming the file and the key.
    """
    p = existing_file(path, "params")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"params file {str(p)!r} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ValueError(f"params file {str(p)!r} is not a text file") from None
    except RecursionError:
        raise ValueError(f"params file {str(p)!r}: the JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise ValueError(f"params file {str(p)!r} is not valid JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"params file {str(p)!r} must hold a JSON object")
    if "params" in data:
        law_name = data.get("law")
        if law_name is not None and not isinstance(law_name, str):
            raise ValueError(f"params file {str(p)!r}: 'law' must be a string")
        _scalars(f"{p}: params", data["params"])
        name, params = params_from_mapping(data["params"], law_name, where=f"{p}: params")
        samples = None
        boot = data.get("bootstrap")
        if boot is not None and not isinstance(boot, dict):
            raise ValueError(f"params file {str(p)!r}: 'bootstrap' must be an object")
        chosen = _samples(f"{p}: bootstrap", boot) if boot else None
        if chosen is not None:
            _, samples = params_from_mapping(chosen, name, where=f"{p}: bootstrap.samples")
        return name, params, samples
    _scalars(str(p), data)
    name, params = params_from_mapping(data, None, where=str(p))
    return name, params, None
