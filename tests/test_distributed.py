"""Several hosts, simulated on one machine: two processes of two CPU devices each (gloo)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import subprocess_env

import jscaling as js
from jscaling import distributed

WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from jscaling import distributed
    distributed.initialize()
    import jax
    import jscaling as js
    info = distributed.process_info()
    p = js.ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    batch = js.ChinchillaParams(*(np.array([v, v * 1.01, v * 0.99]) for v in p))
    rng = np.random.default_rng(0)
    N, D = 10 ** rng.uniform(6, 12, 1001), 10 ** rng.uniform(8, 13, 1001)
    C = np.logspace(18, 24, 37)
    pairs = js.evaluate("chinchilla", p, N, D, dtype="float64", scratch_bytes=20_000)
    grid = js.evaluate("chinchilla", batch, N[:57], D[:33], grid=True, dtype="float64", scratch_bytes=10_000)
    best = js.isoflop_min("chinchilla", batch, C, N, dtype="float64", scratch_bytes=50_000)
    rows = distributed.local_rows(10).tolist()
    fitted = FITS()
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(v).tobytes() for _, v in sorted(fitted.items()))).hexdigest()
    if distributed.is_writer():
        np.savez(sys.argv[1], pairs=pairs, grid=grid, index=best.index, loss=best.loss, **fitted)
    print(json.dumps({"info": info, "rows": rows, "digest": digest}), flush=True)
    """
)

# A small fit, bootstrap, screening and allocation, run the same way by the workers (4 devices
# over 2 processes) and by this process (1 device).
FITS_SOURCE = textwrap.dedent(
    """
    def FITS():
        import jax
        import numpy as np
        from jscaling import allocate
        from jscaling.bootstrap import bootstrap
        from jscaling.data import simulate_isoflop_sweep
        from jscaling.fit import fit, random_starts, screen_starts
        from jscaling.laws import ChinchillaParams

        truth = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        runs = simulate_isoflop_sweep("chinchilla", truth, key=jax.random.key(1), noise=0.01)
        result = fit(runs, starts=random_starts(jax.random.key(2), 61))
        boot = bootstrap(runs, key=jax.random.key(3), n_resamples=10, fit_result=result)
        bands = allocate.allocation_bands("chinchilla", boot.samples, np.logspace(20, 24, 5), D_bounds=(1e9, 1e13))
        screened = screen_starts(runs, random_starts(jax.random.key(4), 5000), k=8, chunk=512)
        return {
            "fit_objectives": result.objectives, "fit_raw": np.array(list(result.raw)),
            "boot_alpha": np.asarray(boot.samples.alpha), "boot_objectives": boot.objectives,
            "bands_N": bands.N, "bands_loss": bands.loss,
            "screened": np.stack(list(screened), axis=1),
        }
    """
)
WORKER = FITS_SOURCE + WORKER.replace("import json, sys", "import hashlib, json, sys")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_single_process_answer(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    procs = []
    for pid in range(2):
        env = subprocess_env(
            XLA_FLAGS="--xla_force_host_platform_device_count=2",
            JAX_PLATFORMS="cpu",
            JSCALING_COORDINATOR=f"127.0.0.1:{port}",
            JSCALING_NUM_PROCESSES="2",
            JSCALING_PROCESS_ID=str(pid),
        )
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / "out.npz")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    namespace: dict = {}
    exec(FITS_SOURCE, namespace)  # noqa: S102 - the workers' code, on this process's one device
    want = namespace["FITS"]()  # while the workers run
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("the two-process run did not finish in 300 s")
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    for pid, out in enumerate(outputs):
        assert out["info"] == {"process_index": pid, "process_count": 2, "local_devices": 2, "devices": 4, "platform": "cpu"}
    # 10 rows padded to 12 over 4 devices: 3 rows a device, 6 a process; padding excluded.
    assert outputs[0]["rows"] == [0, 1, 2, 3, 4, 5]
    assert outputs[1]["rows"] == [6, 7, 8, 9]

    got = np.load(tmp_path / "out.npz")
    p = js.ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    batch = js.ChinchillaParams(*(np.array([v, v * 1.01, v * 0.99]) for v in p))
    rng = np.random.default_rng(0)
    N, D = 10 ** rng.uniform(6, 12, 1001), 10 ** rng.uniform(8, 13, 1001)
    C = np.logspace(18, 24, 37)
    np.testing.assert_array_equal(got["pairs"], js.evaluate("chinchilla", p, N, D, dtype="float64"))
    np.testing.assert_array_equal(got["grid"], js.evaluate("chinchilla", batch, N[:57], D[:33], grid=True, dtype="float64"))
    best = js.isoflop_min("chinchilla", batch, C, N, dtype="float64")
    np.testing.assert_array_equal(got["index"], best.index)
    np.testing.assert_array_equal(got["loss"], best.loss)

    # Fit, bootstrap and allocation over 2 processes x 2 devices: every process holds the whole
    # gathered result, and it is one device's to the last bit.
    assert outputs[0]["digest"] == outputs[1]["digest"]
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_single_process_bookkeeping():
    assert distributed.is_writer()
    np.testing.assert_array_equal(distributed.local_rows(7), np.arange(7))
    assert distributed.process_info()["process_count"] == 1
    np.testing.assert_array_equal(distributed.gather(np.arange(3)), np.arange(3))


def test_initialize_needs_all_three_settings(monkeypatch):
    monkeypatch.setenv("JSCALING_COORDINATOR", "127.0.0.1:1")
    monkeypatch.delenv("JSCALING_NUM_PROCESSES", raising=False)
    monkeypatch.delenv("JSCALING_PROCESS_ID", raising=False)
    with pytest.raises(ValueError, match="needs the coordinator address, the number of processes"):
        distributed.initialize()
    monkeypatch.setenv("JSCALING_NUM_PROCESSES", "two")
    monkeypatch.setenv("JSCALING_PROCESS_ID", "0")
    with pytest.raises(ValueError, match="JSCALING_NUM_PROCESSES must be an integer"):
        distributed.initialize()
    monkeypatch.setenv("JSCALING_NUM_PROCESSES", "2")
    monkeypatch.setenv("JSCALING_PROCESS_ID", "2")
    with pytest.raises(ValueError, match="process id 2 is outside 0..1"):
        distributed.initialize()
