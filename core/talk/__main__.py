"""python -m core.talk --out DIR [--studies NAME …] [--cpu]: the talk from the finished runs on disk (see core.talk)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import devices
from core.talk import TalkError, export, studies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.talk", description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="the folder for talk.html, talk.pdf and talk.pptx")
    p.add_argument("--studies", nargs="+", choices=studies(), metavar="NAME",
                   help=f"the studies, in this order (default: all: {' '.join(studies())})")
    p.add_argument("--runs", nargs="+", metavar="RUN", help="show these runs (an id, its last 6 characters or a name) "
                   "for their studies; the other studies show their compared settings (default: every study's)")
    p.add_argument("--cpu", action="store_true", help="score on the CPU even when a GPU is present")
    args = p.parse_args(argv)
    try:
        done = export(args.out, args.studies, device=devices.pick_device(force_cpu=args.cpu),
                      say=lambda line: print(line, file=sys.stderr), runs=args.runs)
    except TalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for e in done.evidence:
        print(f"{e.title}: " + (e.headline["verdict"] if e.headline else e.missing or "no comparison"))
        for problem in e.problems:
            print(f"  {problem}")
    for kind, path in done.files.items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    for problem in done.problems:
        print(f"not written: {problem}", file=sys.stderr)
    print(f"{done.slides} slides in {sum(done.seconds.values()):.1f} s (" +
          ", ".join(f"{k} {v:.1f} s" for k, v in done.seconds.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
