"""Compact reprs of per-budget arrays for result objects."""

from __future__ import annotations

import numpy as np

__all__ = ["span"]


def span(x: np.ndarray | None, fmt: str) -> str:
    """Values in budget order: all of up to 4, else the first two and the last (numpy style)."""
    x = np.asarray(x)
    if x.size == 1:
        return format(float(x.reshape(-1)[0]), fmt)
    if x.ndim > 1:  # a batch of parameter sets: the range over everything
        lo, hi = float(np.min(x)), float(np.max(x))
        return format(lo, fmt) if lo == hi else f"range [{format(lo, fmt)}, {format(hi, fmt)}]"
    values = [format(float(v), fmt) for v in (x if x.size <= 4 else (x[0], x[1], x[-1]))]
    if x.size > 4:
        values.insert(2, "...")
    return "[" + ", ".join(values) + "]"
