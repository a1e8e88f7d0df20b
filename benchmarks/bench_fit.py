"""Approach 3 fits and bootstrap: jscaling against the scipy L-BFGS-B loop users run today.

    python benchmarks/bench_fit.py [--quick] [--default-xla]

Cases (issue 3, section 10), on the digitised Chinchilla runs (../shared/data, D = C / (6 N),
the 5 highest losses dropped: 240 runs):

- the 4,500-start fit (Hoffmann et al.'s grid), float64;
- bootstrap, 1,000 and 4,000 resamples x 1 start (from the full-data optimum);
- bootstrap, 200 resamples x 32 starts (the optimum and 31 grid starts).

The baseline is one process running scipy's L-BFGS-B start after start, with the analytic
gradient, on the same objective divided by delta (undivided, scipy stops early), from the same
starts, on the same resamples (the same counts, drawn from the same jax key). OPENBLAS is
pinned to one thread (busy-waiting BLAS threads slowed two processes 5x) and nothing forks.
jscaling is timed through its public API: the first call (compilation included) apart, then
the median of at least 5 calls. The scipy loops run once each (a minute or more); with
--quick they run on a subset of starts or resamples and are scaled linearly (said in the
output).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.setup()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from jscaling import fit as fitting  # noqa: E402
from jscaling.bootstrap import _extra_starts, _resample_counts, bootstrap  # noqa: E402
from jscaling.data import load_runs  # noqa: E402
from jscaling.objective import CHINCHILLA_FORM, parameterisation  # noqa: E402

QUICK = _common.QUICK
REPEATS = 3 if QUICK else 5
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "svg_extracted_data.csv"
DELTA = 1e-3


def scaled_objective(x: np.ndarray, lN: np.ndarray, lD: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Sum of w Huber_delta(log residuals) / delta and its analytic gradient (numpy)."""
    a, b, e, alpha, beta = x
    u, v = a - alpha * lN, b - beta * lD
    m = np.maximum(np.maximum(u, v), e)
    pu, pv, pe = np.exp(u - m), np.exp(v - m), np.exp(e - m)
    s = pu + pv + pe
    r = m + np.log(s) - y
    ar = np.abs(r)
    h = np.where(ar <= DELTA, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA)) / DELTA
    psi = w * np.clip(r / DELTA, -1.0, 1.0) / s
    return float(w @ h), np.array([psi @ pu, psi @ pv, psi @ pe, -(psi * pu) @ lN, -(psi * pv) @ lD])


def scipy_fits(starts: np.ndarray, lN, lD, y, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(final objectives, success flags, final points) of L-BFGS-B from each start."""
    f, ok, x = [], [], []
    for x0 in starts:
        res = minimize(scaled_objective, x0, args=(lN, lD, y, w), jac=True, method="L-BFGS-B")
        f.append(res.fun * DELTA)
        ok.append(res.success)
        x.append(res.x)
    return np.asarray(f), np.asarray(ok), np.asarray(x)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    if not DATA.exists():
        print(f"the Chinchilla runs are not at {DATA}; nothing to benchmark")
        return 1
    runs = load_runs(DATA, n_col="Model Size", c_col="Training FLOP", loss_col="loss", drop_highest=5)
    lN, lD, y = np.log(runs.N), np.log(runs.D), np.log(runs.loss)
    ones = np.ones(len(runs))
    rows = []

    # -- the 4,500-start fit ------------------------------------------------------------------
    result, first = timed(lambda: fitting.fit(runs))
    t = _common.time_call(lambda: fitting.fit(runs), repeats=REPEATS, warmup=0)
    starts = fitting._default_starts(CHINCHILLA_FORM)
    subset = starts[:: 10] if QUICK else starts
    (sp_f, sp_ok, sp_x), sp_time = timed(lambda: scipy_fits(subset, lN, lD, y, ones))
    scale = starts.shape[0] / subset.shape[0]
    sp_best = float(np.min(sp_f))
    rel = abs(result.objective - sp_best) / sp_best
    rows.append({
        "case": "fit 4500 starts x 240 runs", "jax_first_s": first, "jax_s": t["median_s"], "jax_min_s": t["min_s"],
        "compile_s": first - t["median_s"], "scipy_s": sp_time * scale, "speedup": sp_time * scale / t["median_s"],
        "speedup_with_compile": sp_time * scale / first, "best_rel_diff": rel,
        "jax_objective": result.objective, "scipy_objective": sp_best,
        "jax_converged": int(result.converged.sum()), "scipy_converged": int(sp_ok.sum() * scale),
        "jax_evals_per_start": float(result.steps.mean()),
        "scipy_timed_on": f"{subset.shape[0]} starts, scaled x{scale:g}" if QUICK else "all starts",
    })
    print(rows[-1], flush=True)
    x_star = sp_x[int(np.argmin(sp_f))]

    # -- bootstrap ------------------------------------------------------------------------------
    param = parameterisation(CHINCHILLA_FORM)
    cases = [(1000, 1), (4000, 1), (200, 32)]
    for B, k in cases:
        key = jax.random.key(B + k)
        run = lambda: bootstrap(runs, key=key, n_resamples=B, fit_result=result, starts=k)  # noqa: E731
        boot, first = timed(run)
        t = _common.time_call(run, repeats=REPEATS, warmup=0)
        key_resample, key_starts = jax.random.split(key)
        counts = _resample_counts(key_resample, B, len(runs))
        extra = _extra_starts(CHINCHILLA_FORM, param, k, key_starts)
        per = np.concatenate([x_star[None], extra]) if extra.size else x_star[None]
        n_sp = max(B // 10, 10) if QUICK else B
        best_sp = np.empty(n_sp)
        alpha_sp = np.empty(n_sp)
        t0 = time.perf_counter()
        for i in range(n_sp):
            f, _, xs = scipy_fits(per, lN, lD, y, counts[i])
            j = int(np.argmin(f))
            best_sp[i], alpha_sp[i] = f[j], xs[j, 3]
        sp_time = (time.perf_counter() - t0) * B / n_sp
        rel = np.abs(boot.objectives[:n_sp] - best_sp) / best_sp
        rows.append({
            "case": f"bootstrap {B} x {k} start{'s' if k > 1 else ''}", "jax_first_s": first, "jax_s": t["median_s"],
            "jax_min_s": t["min_s"], "compile_s": first - t["median_s"], "scipy_s": sp_time,
            "speedup": sp_time / t["median_s"], "speedup_with_compile": sp_time / first,
            "best_rel_diff": float(np.median(rel)), "best_rel_diff_max": float(np.max(rel)),
            "jax_lower_or_equal": float(np.mean(boot.objectives[:n_sp] <= best_sp * (1 + 1e-9))),
            "jax_stderr_alpha": boot.stderr["alpha"], "jax_stderr_beta": boot.stderr["beta"],
            "scipy_stderr_alpha": float(np.std(alpha_sp, ddof=1)), "jax_converged": int(boot.converged.sum()),
            "scipy_timed_on": f"{n_sp} resamples, scaled x{B / n_sp:g}" if n_sp < B else "all resamples",
        })
        print(rows[-1], flush=True)

    _common.print_table(rows, ["case", "jax_s", "jax_first_s", "compile_s", "scipy_s", "speedup", "speedup_with_compile", "best_rel_diff", "scipy_timed_on"])
    if not QUICK:
        notes = (
            "jax: median of 5 calls after the first (compile_s = first - median); scipy: one single-process "
            "L-BFGS-B loop, analytic gradients, objective / delta, OPENBLAS_NUM_THREADS=1; same starts, "
            "same resample counts. best_rel_diff: |jax - scipy| / scipy of the best objective (bootstrap: "
            "the median over resamples)."
        )
        path = _common.write_results("fit", {"rows": rows}, notes=notes)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
