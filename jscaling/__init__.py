"""jscaling: neural scaling laws of language models, on JAX.

Laws (`jscaling.laws`), published presets (`jscaling.presets`), compute accounting
(`jscaling.compute`) and loss surfaces over millions to billions of points
(`jscaling.surface`). Importing jscaling changes no global JAX setting.
"""

from jscaling import compute, laws, presets, surface
from jscaling import allocate
from jscaling import bootstrap, fit, objective  # modules: jscaling.fit.fit, jscaling.bootstrap.bootstrap
from jscaling._xla import enable_fast_cpu_kernels
from jscaling.compute import ModelShape, training_flops
from jscaling.laws import (
    ChinchillaLogParams,
    ChinchillaParams,
    DataConstrainedParams,
    KaplanJointParams,
    Law,
    PowerLawParams,
    as_law,
    get_law,
)
from jscaling.presets import Preset, get_preset
from jscaling.surface import IsoflopMin, evaluate, isoflop, isoflop_min

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "compute",
    "laws",
    "presets",
    "surface",
    "allocate",
    "bootstrap",
    "fit",
    "objective",
    "enable_fast_cpu_kernels",
    "ModelShape",
    "training_flops",
    "ChinchillaParams",
    "ChinchillaLogParams",
    "DataConstrainedParams",
    "KaplanJointParams",
    "PowerLawParams",
    "Law",
    "as_law",
    "get_law",
    "Preset",
    "get_preset",
    "IsoflopMin",
    "evaluate",
    "isoflop",
    "isoflop_min",
]
