"""Published scaling-law parameters, each with its source.

`get_preset("hoffmann2022")` returns a `Preset`: the law, its parameters, and where the numbers
come from. The names are those the command line takes (`jscaling presets` lists them).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, Mapping

from jscaling import laws
from jscaling.laws import (
    ChinchillaLogParams,
    ChinchillaParams,
    DataConstrainedParams,
    KaplanJointParams,
    Law,
    PowerLawParams,
)

__all__ = ["Preset", "get_preset", "preset_names", "PRESETS"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A published law: `law(params, N, D)` gives the loss in nats per token.

    Attributes:
        name: the name used on the command line.
        law: the law form.
        params: its published parameters.
        source: the paper and the place in it the numbers come from.
        notes: conventions that matter when comparing (what N counts, units).
        extra: further laws from the same source, keyed by name (`(law, params)` pairs).
    """

    name: str
    law: Law
    params: Any
    source: str
    notes: str = ""
    extra: Mapping[str, tuple[Law, Any]] = dataclasses.field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """Parameter values as plain floats, keyed by the paper's symbols."""
        return {k: float(v) for k, v in self.params._asdict().items()}

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.6g}" for k, v in self.values().items())
        return f"Preset({self.name!r}, law={self.law.name!r}, {values})"


_KAPLAN_SOURCE = (
    "Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', arXiv:2001.08361: "
    "eq. 1.1 (L(N): alpha_N 0.076, N_c 8.8e13), eq. 1.2 (L(D): alpha_D 0.095, D_c 5.4e13), "
    "eq. 1.5 with Table 2 (joint: alpha_N 0.076, alpha_D 0.103, N_c 6.4e13, D_c 1.8e13)"
)

PRESETS: Mapping[str, Preset] = MappingProxyType({
    "hoffmann2022": Preset(
        name="hoffmann2022",
        law=laws.CHINCHILLA,
        params=ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
        source="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', "
               "arXiv:2203.15556, section 3.3 / eq. 10 (rounded values as printed)",
        notes="N counts all parameters (embeddings included); MassiveText tokens; loss in nats.",
    ),
    "hoffmann2022-unrounded": Preset(
        name="hoffmann2022-unrounded",
        law=laws.CHINCHILLA,
        params=ChinchillaLogParams(a=6.0073404, b=6.0179186, e=0.5267228, alpha=0.33917084, beta=0.2849083),
        source="Hoffmann et al. 2022, arXiv:2203.15556, unrounded Approach 3 estimates in log form "
               "(a, b, e = log A, log B, log E), as reported by Besiroglu et al. 2024, arXiv:2404.10102",
        notes="Same conventions as hoffmann2022; these give the paper's N_opt ~ 40B at 5.76e23 FLOPs.",
    ),
    "besiroglu2024": Preset(
        name="besiroglu2024",
        law=laws.CHINCHILLA,
        params=ChinchillaParams(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
        source="Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', "
               "arXiv:2404.10102, eq. 4 (refit of Hoffmann et al.'s runs, digitised from Figure 4)",
        notes="Fitted on 240 of the 245 digitised Chinchilla runs, D = C / (6N).",
    ),
    "kaplan2020": Preset(
        name="kaplan2020",
        law=laws.KAPLAN_JOINT,
        params=KaplanJointParams(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103),
        source=_KAPLAN_SOURCE,
        notes="N excludes embedding parameters; loss in nats per token on WebText2.",
        extra=MappingProxyType({
            "L(N)": (laws.KAPLAN_N, PowerLawParams(x_c=8.8e13, alpha=0.076, E=0.0)),
            "L(D)": (laws.KAPLAN_D, PowerLawParams(x_c=5.4e13, alpha=0.095, E=0.0)),
        }),
    ),
    "muennighoff2023": Preset(
        name="muennighoff2023",
        law=laws.data_constrained_law(None),
        params=DataConstrainedParams(E=1.869, A=520.8, B=1487.7, alpha=0.35266, beta=0.35266,
                                     R_D_star=15.388, R_N_star=5.310),
        source="Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', "
               "arXiv:2305.16264, section 3.1 / appendix (fitted A, B, E, alpha = beta, R_D*, R_N*)",
        notes="Without a cap on unique tokens the law is Chinchilla's; pass unique_tokens "
              "(--unique-tokens) to model repeated data.",
    ),
})


def preset_names() -> list[str]:
    """Names accepted by `get_preset` and by `--preset` on the command line."""
    return list(PRESETS)


def get_preset(name: str, *, unique_tokens: float | None = None) -> Preset:
    """The published preset called `name`; `unique_tokens` caps data for `muennighoff2023`."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
    if unique_tokens is not None:
        if name != "muennighoff2023":
            raise ValueError(f"unique_tokens applies to the data-constrained preset muennighoff2023, not {name!r}")
        preset = dataclasses.replace(preset, law=laws.data_constrained_law(unique_tokens))
    return preset
