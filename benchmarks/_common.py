"""Shared benchmark plumbing: timing, the machine's description, result files.

Every benchmark times jax and its numpy/scipy baseline in the same run (these machines are
shared and noisy, so only ratios measured side by side mean anything), reports the median of
several repeats after a warm-up, reports compilation apart, and writes JSON under
benchmarks/results/ with the device, its memory and the library versions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def setup() -> None:
    """Call first, before JAX starts: the same XLA:CPU settings the `jscaling` command uses.

    `--default-xla` on the command line (or JSCALING_FAST_CPU=0) keeps XLA's defaults.
    """
    if "--default-xla" in sys.argv:
        sys.argv.remove("--default-xla")
        os.environ["JSCALING_FAST_CPU"] = "0"
    from jscaling import enable_fast_cpu_kernels

    enable_fast_cpu_kernels()


QUICK = "--quick" in sys.argv
"""`--quick`: smaller sizes and fewer repeats, for a smoke test."""


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def block(x: Any) -> Any:
    import jax

    return jax.block_until_ready(x)


def time_call(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, min_time: float = 0.0) -> dict[str, Any]:
    """Median wall time of `fn()` (which must block until done) over `repeats` runs.

    The first `warmup` calls are timed apart (`first_s`: compilation included when jitted).
    """
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    first = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
        "first_s": first / max(warmup, 1),
    }


def environment() -> dict[str, Any]:
    """Device kind and memory, versions, XLA flags: what every result file records."""
    import jax
    import jaxlib
    import numpy as np

    from jscaling import _runtime, _xla

    device = jax.devices()[0]
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "device_memory_bytes": _runtime.device_memory_bytes(device),
        "host_memory_bytes": _runtime.host_memory_bytes(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_name(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": getattr(jaxlib, "__version__", None),
        "numpy": np.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "fast_cpu_kernels": _xla.fast_cpu_kernels_enabled(),
    }
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        import optax

        info["optax"] = optax.__version__
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def device_tag() -> str:
    """A short name for the results file: 'cpu', 'gpu-h100', ..."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return "cpu"
    kind = device.device_kind.lower().replace("nvidia", "").strip().split()[0] if device.device_kind else device.platform
    return f"{device.platform}-{kind}"


def write_results(name: str, results: Any, *, notes: str = "") -> Path:
    """Writes `{environment, results, notes}` to benchmarks/results/NAME-DEVICE.json atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{device_tag()}.json"
    payload = {"benchmark": name, "environment": environment(), "notes": notes, "results": results}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)
    return path


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table on stdout."""
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
