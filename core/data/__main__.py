"""List the datasets, or recognise a folder and describe it.

  python -m core.data                  every dataset: task, counts, splits, source, licence
  python -m core.data describe PATH    a folder's (or file's) format, statistics and problems
"""

from __future__ import annotations

import argparse
import json
import sys

from core.data import catalogue
from core.data.types import DataError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("list", help="every dataset (default)").add_argument("--json", action="store_true")
    sub.add_parser("describe", help="recognise and describe a folder or file").add_argument("path")
    args = p.parse_args(argv)
    try:
        if args.command == "describe":
            print(json.dumps(catalogue.describe(args.path), indent=1))
            return 0
        rows = catalogue.listing()
    except (DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':28} {'task':14} {'samples':>8}  {'splits':32} {'licence':24} source")
    for r in rows:
        samples = f"{r['samples']:,}" if r["samples"] is not None else "absent"
        print(f"{r['name']:28} {r['task']:14} {samples:>8}  {r['splits'][:32]:32} {r['licence'][:24]:24} {r['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
