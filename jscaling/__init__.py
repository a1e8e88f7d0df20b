"""jscaling: neural scaling laws of language models, on JAX.

Modules, by concept:

- `laws`, `presets`: law forms as pure functions of parameter pytrees; published parameters.
- `compute`: training FLOPs and parameter counts.
- `data`: training runs (load, validate, simulate).
- `surface`: a law over millions to billions of (N, D) points, chunked and sharded.
- `objective`, `fit`, `bootstrap`: Approach 3 from thousands of starts, and its uncertainty.
- `approaches`: Approaches 2 (IsoFLOP parabolas) and 1 (envelope).
- `allocate`: the compute-optimal frontier, constraints, bands.
- `identify`: whether runs can identify a law's parameters.
- `study`, `config`: the whole study behind `jscaling study`.
- `distributed`: several hosts.
- `plot` (imported on demand: matplotlib stays out of `import jscaling`).

Importing jscaling changes no global JAX setting.
"""

from jscaling import (
    allocate,
    approaches,
    bootstrap,  # the module; the function is jscaling.bootstrap.bootstrap
    compute,
    config,
    data,
    distributed,
    fit,  # the module; the function is jscaling.fit.fit
    identify,
    laws,
    objective,
    presets,
    study,
    surface,
)
from jscaling._cache import enable_compilation_cache
from jscaling._xla import enable_fast_cpu_kernels
from jscaling.compute import ModelShape, training_flops
from jscaling.data import Runs, load_runs
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
    "allocate",
    "approaches",
    "bootstrap",
    "compute",
    "config",
    "data",
    "distributed",
    "fit",
    "identify",
    "laws",
    "objective",
    "presets",
    "study",
    "surface",
    "enable_compilation_cache",
    "enable_fast_cpu_kernels",
    "ModelShape",
    "training_flops",
    "Runs",
    "load_runs",
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
