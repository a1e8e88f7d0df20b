"""Several hosts: `jax.distributed` behind one call, and the bookkeeping of who owns what.

jscaling scales out with JAX itself, not with a scheduler of its own. Every batched job
(surface chunks, iso-FLOP searches, multi-start fits, bootstrap resamples, allocation over
parameter batches) splits its batch axis over a one-axis `jax.sharding.Mesh` of *all*
devices JAX sees, on every host. After `initialize()`, `jax.devices()` lists the devices of
every process, so the same program runs unchanged on one CPU, one GPU, or a pod:

1. every process runs the same script with the same inputs (the runs file, the budgets, the
   seed): inputs are small next to the work, so each host holds them whole;
2. each batched array is placed with `NamedSharding(mesh, PartitionSpec("batch"))`: process
   p computes only the rows on its own devices (`local_rows` says which);
3. results are gathered to every process (`gather`, a `process_allgather`), and process 0
   alone writes files (`is_writer`).

Worked example, a bootstrap of 4,000 resamples on 2 hosts with 8 GPUs each: the resample
axis (4,000, padded to a multiple of 16) is split 250 to a device; host 0 fits resamples
0-1999 and host 1 resamples 2000-3999, in one compiled program per host; the parameter samples
are then all-gathered, so both hosts hold all 4,000 and compute the same intervals, and host 0
writes `results.json`. A budget sweep of 1e8 budgets splits the same way along budgets.

Launch (one command per host; or let JAX detect SLURM, Open MPI, Kubernetes or a TPU pod by
calling `initialize()` with no arguments):

    JSCALING_COORDINATOR=10.0.0.1:1234 JSCALING_NUM_PROCESSES=2 JSCALING_PROCESS_ID=0 \\
        jscaling --distributed study --output out/
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from jscaling import _runtime

__all__ = ["initialize", "is_writer", "local_rows", "gather", "process_info"]

_ENV = ("JSCALING_COORDINATOR", "JSCALING_NUM_PROCESSES", "JSCALING_PROCESS_ID")


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    cpu_collectives: str = "gloo",
) -> None:
    """Joins this process to a multi-host JAX job (call before any other JAX work).

    Arguments default to the environment variables `JSCALING_COORDINATOR` (host:port of
    process 0), `JSCALING_NUM_PROCESSES` and `JSCALING_PROCESS_ID`; with none of them set,
    JAX detects the cluster itself (SLURM, Open MPI, Kubernetes, TPU pods). On CPU hosts the
    cross-process collectives use `cpu_collectives` (gloo).
    """
    env = {name: os.environ.get(name) for name in _ENV}
    coordinator_address = coordinator_address or env["JSCALING_COORDINATOR"]
    if num_processes is None and env["JSCALING_NUM_PROCESSES"]:
        num_processes = _env_int("JSCALING_NUM_PROCESSES", env["JSCALING_NUM_PROCESSES"])
    if process_id is None and env["JSCALING_PROCESS_ID"]:
        process_id = _env_int("JSCALING_PROCESS_ID", env["JSCALING_PROCESS_ID"])
    given = [v is not None for v in (coordinator_address, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError(
            "a multi-host run needs the coordinator address, the number of processes and this "
            "process's id together (JSCALING_COORDINATOR, JSCALING_NUM_PROCESSES, JSCALING_PROCESS_ID)"
        )
    if num_processes is not None and not 0 <= process_id < num_processes:  # type: ignore[operator]
        raise ValueError(f"process id {process_id} is outside 0..{num_processes - 1}")
    try:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    except Exception:  # noqa: BLE001 - older JAX without the option
        pass
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)


def _env_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def is_writer() -> bool:
    """True on the one process that writes files and prints results (process 0)."""
    return jax.process_index() == 0


def process_info() -> dict[str, Any]:
    """This process's place in the job: index, count, local and global devices."""
    return {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "devices": jax.device_count(),
        "platform": jax.devices()[0].platform,
    }


def local_rows(n: int) -> np.ndarray:
    """Rows of a batch of `n` (padded to the device count) whose shards live on this process.

    The batch is laid out as the library lays out every batch: split evenly along the mesh of
    all devices. Returns sorted indices below `n` (padding excluded).
    """
    mesh = _runtime.batch_mesh()
    if mesh is None:
        return np.arange(n)
    padded = _runtime.round_up(n, mesh.size)
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(_runtime.BATCH_AXIS))
    rows: list[int] = []
    for index in sharding.addressable_devices_indices_map((padded,)).values():
        rows.extend(range(*index[0].indices(padded)))
    rows_array = np.unique(np.asarray(rows, dtype=np.int64))
    return rows_array[rows_array < n]


def gather(x: Any) -> np.ndarray:
    """A (possibly multi-host) array as one numpy array on every process."""
    return _runtime.to_host(x)
