"""`jscaling presets`: the published parameter sets, their values and sources."""

from __future__ import annotations

import argparse

from jscaling import _io
from jscaling.presets import PRESETS

__all__: list[str] = []


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("presets", help="list published parameter presets with their sources",
                            description="List the published parameter presets, their values and sources.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        data = {
            name: {
                "law": p.law.name,
                "params": p.values(),
                "source": p.source,
                "notes": p.notes,
                "extra": {k: {"law": law.name, "params": {f: float(v) for f, v in params._asdict().items()}} for k, (law, params) in p.extra.items()},
            }
            for name, p in PRESETS.items()
        }
        print(_io.dumps_json(data), end="")
        return 0
    for name, p in PRESETS.items():
        values = "  ".join(f"{k}={v:.8g}" for k, v in p.values().items())
        print(f"{name}  ({p.law.name})")
        print(f"    {values}")
        for label, (law, params) in p.extra.items():
            extra = "  ".join(f"{k}={float(v):.8g}" for k, v in params._asdict().items())
            print(f"    {label} ({law.name}): {extra}")
        print(f"    source: {p.source}")
        if p.notes:
            print(f"    notes:  {p.notes}")
    return 0
