"""Runs the whole benchmark suite on whatever device JAX finds, then summarises it.

    python benchmarks/run_all.py [--quick] [--only surface,fit,allocate,sweep]

Each benchmark runs in its own process (so each starts JAX fresh with the same XLA settings)
and writes benchmarks/results/NAME-DEVICE.json; this script then writes
benchmarks/results/SUMMARY-DEVICE.md, a table of every case with the device, its memory and
the versions. On a GPU machine this is the one command to run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = {
    "surface": "bench_surface.py",
    "fit": "bench_fit.py",
    "allocate": "bench_allocate.py",
    "sweep": "bench_sweep.py",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, no result files")
    parser.add_argument("--only", default=",".join(SUITE), help="comma-separated subset of " + ",".join(SUITE))
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    failures = []
    for name in names:
        script = HERE / SUITE[name]
        if not script.exists():
            print(f"== {name}: {script.name} missing, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        print(f"== {name}: exit {proc.returncode} after {time.perf_counter() - t0:.0f} s", flush=True)
        if proc.returncode:
            failures.append(name)
    if not args.quick:
        summarise()
    return 1 if failures else 0


def summarise() -> None:
    sys.path.insert(0, str(HERE))
    import _common

    tag = _common.device_tag()
    lines = [f"# Benchmark summary ({tag})", ""]
    env = None
    for name in SUITE:
        path = HERE / "results" / f"{name}-{tag}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        env = env or data["environment"]
        rows = data["results"]["rows"] if isinstance(data["results"], dict) and "rows" in data["results"] else data["results"]
        lines += [f"## {name} ({data['environment']['date']})", ""]
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            # Every scalar column any row has, in order of first appearance.
            columns = list(dict.fromkeys(c for row in rows for c, v in row.items() if not isinstance(v, (list, dict))))
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "---|" * len(columns))
            for row in rows:
                lines.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
        else:
            lines.append("```\n" + json.dumps(rows, indent=2)[:4000] + "\n```")
        lines.append("")
    if env:
        lines += ["## Environment", "", "```", json.dumps(env, indent=2, sort_keys=True), "```", ""]
    out = HERE / "results" / f"SUMMARY-{tag}.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out)
    print(f"wrote {out}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
