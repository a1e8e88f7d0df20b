"""Checks at the door: every public entry point validates its inputs here, before any `jit`.

Messages name the argument and, for arrays, the first offending index and value, so that a
user can find the bad row without a debugger. Wrong type is `TypeError`, wrong value
`ValueError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []


def first_bad(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True entry of `mask` (for messages that name where)."""
    index = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return tuple(int(i) for i in index)


def _format_index(index: tuple[int, ...]) -> str:
    if len(index) == 0:
        return ""
    if len(index) == 1:
        return f" at index {index[0]}"
    return f" at index {index}"


def as_float_array(name: str, value: Any, *, dtype: Any = np.float64) -> np.ndarray:
    """Converts `value` to a float numpy array, with a clear error for non-numbers."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number or an array of numbers, got the string {value!r}")
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a number or an array of numbers: {exc}") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    with np.errstate(over="ignore"):  # overflow to inf is reported by the checks
        return array.astype(dtype, copy=False)


def _value(array: np.ndarray, index: tuple[int, ...]) -> str:
    return repr(float(array[index]))


def check_finite(name: str, array: np.ndarray, *, note: str = "") -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        index = first_bad(bad)
        raise ValueError(f"{name} must be finite{note}; found {_value(array, index)}{_format_index(index)}")


def check_positive(name: str, array: np.ndarray, *, note: str = "") -> None:
    """Raises unless every entry of `array` is finite and > 0."""
    check_finite(name, array, note=note)
    bad = ~(array > 0)
    if bad.any():
        index = first_bad(bad)
        raise ValueError(f"{name} must be positive{note}; found {_value(array, index)}{_format_index(index)}")


def positive_array(name: str, value: Any, *, dtype: Any = np.float64) -> np.ndarray:
    """`value` as a float array of `dtype` whose entries are all finite and positive.

    Checked after the conversion, so a float64 1e39 that becomes inf in float32 is caught.
    """
    array = as_float_array(name, value, dtype=dtype)
    check_positive(name, array, note="" if array.dtype == np.float64 else f" in {array.dtype}")
    return array


def positive_scalar(name: str, value: Any) -> float:
    array = positive_array(name, value)
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got an array of shape {array.shape}")
    return float(array)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value
