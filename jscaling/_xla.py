"""Opt-in CPU settings that make surfaces several times faster: an XLA flag and malloc reuse.

Measured here (jaxlib 0.10.2, 2 cores): XLA:CPU's default loop emitter lowers a float64
`log` to one scalar libm call per element, so `E + A N^-alpha + B D^-beta` over 1e7 float64
points ran no faster than numpy (~0.12 s each). XLA routes reductions through YNNPACK, whose
vectorised `log`/`exp` are accurate to 4e-16 here; the flag below routes elementwise fusions
there too (0.057 s, 2x numpy; float32 0.020 s, 3.5x). XLA reads `XLA_FLAGS` once, when its
first backend starts, and aborts on a flag it does not know, so:

- the flag is set only for jaxlib versions it was tested with (`_TESTED_JAXLIB`);
- only before the backend starts (afterwards it would silently do nothing);
- never at import: the `jscaling` command and the benchmarks call `enable_fast_cpu_kernels()`
  at start-up, and library users may call it themselves before their first JAX computation.

`JSCALING_FAST_CPU=0` disables it, `=1` forces it on any jaxlib.

Second, fresh buffers. XLA writes every result into a fresh allocation; glibc serves large
ones with mmap and unmaps them when freed, so each call pays a page fault per 4 KiB of output
(a 400 MB result took 138 ms to fill here, 26 ms when the memory was reused). With glibc,
`enable_fast_cpu_kernels()` also asks malloc (`mallopt`) to keep freed buffers for reuse
(M_MMAP_THRESHOLD and M_TRIM_THRESHOLD at 2 GiB). Thread arenas still map buffers above 64 MiB
afresh; forcing one arena made those reusable too but slowed the multi-start fit by 20% (lock
contention), so surfaces keep their chunks below that instead. The cost: the process keeps
its peak memory rather than returning it to the system. It can be set at any time; it is part
of the same opt-in.
"""

from __future__ import annotations

import os

__all__ = ["enable_fast_cpu_kernels"]

_MALLOC_TUNED = False

FLAG = "--xla_cpu_experimental_ynn_fusion_type=+LIBRARY_FUSION_TYPE_ELTWISE"
_TESTED_JAXLIB = ("0.10.",)


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - a JAX without this module
        return False
    check = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(check()) if check is not None else False


def enable_fast_cpu_kernels() -> bool:
    """Routes XLA:CPU elementwise fusions through YNNPACK, if it is safe to; True if set.

    Call before the first JAX computation of the process. Does nothing (returns False) when
    JAX has already started, the user's `XLA_FLAGS` already say something about YNN fusions,
    `JSCALING_FAST_CPU=0`, or jaxlib is a version this was not tested with.
    """
    choice = os.environ.get("JSCALING_FAST_CPU", "").strip()
    if choice == "0":
        return False
    reuse_freed_memory()
    flags = os.environ.get("XLA_FLAGS", "")
    if "ynn_fusion_type" in flags:
        return FLAG in flags
    if _backends_started():
        return False
    if choice != "1":
        try:
            import jaxlib
        except ImportError:  # pragma: no cover
            return False
        version = getattr(jaxlib, "__version__", "") or getattr(getattr(jaxlib, "version", None), "__version__", "")
        if not version.startswith(_TESTED_JAXLIB):
            return False
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True


def fast_cpu_kernels_enabled() -> bool:
    """Whether this process's `XLA_FLAGS` carry the YNNPACK elementwise flag."""
    return FLAG in os.environ.get("XLA_FLAGS", "")


def reuse_freed_memory() -> bool:
    """glibc only: keep freed buffers (up to 2 GiB) for reuse; True if set."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    largest = 2**31 - 1
    ok = all(mallopt(option, ctypes.c_int(value)) == 1 for option, value in ((M_MMAP_THRESHOLD, largest), (M_TRIM_THRESHOLD, largest)))
    _MALLOC_TUNED = ok
    return ok
