"""Parameter pytrees at the door: validated, cast, and sized (one set, or a batch of P)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jscaling.laws import Law

__all__: list[str] = []


def prepare_params(law: Law, params: Any, dtype: np.dtype) -> tuple[Any, int | None]:
    """Validated params cast to `dtype`, and the batch size P (None for one parameter set)."""
    law.validate(params)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    arrays = [np.asarray(leaf, dtype=dtype) for leaf in leaves]
    ndims = {a.ndim for a in arrays}
    if ndims == {0}:
        return jax.tree_util.tree_unflatten(treedef, arrays), None
    if max(ndims) > 1:
        raise ValueError(
            "params must hold scalars (one parameter set) or 1-D arrays of a common length P "
            f"(a batch of P sets); got leaf shapes {[a.shape for a in arrays]}"
        )
    lengths = {a.shape[0] for a in arrays if a.ndim == 1}
    if len(lengths) != 1:
        raise ValueError(f"batched params must share one leading length; got lengths {sorted(lengths)}")
    P = lengths.pop()
    if P == 0:
        raise ValueError("the params batch is empty (P = 0)")
    arrays = [np.broadcast_to(a, (P,)).copy() if a.ndim == 0 else a for a in arrays]
    return jax.tree_util.tree_unflatten(treedef, arrays), P
