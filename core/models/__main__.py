"""Your models beside ours (core.models.imported):

  python -m core.models import PATH --name NAME [--task TASK] [--arch ARCH] [--classes a,b,c]
                                    [--preprocessing imagenet|unit|half] [--size PX] [--yolo --trust]
  python -m core.models list [--json]
  python -m core.models remove NAME

A state dict (.safetensors, or .pt/.pth read weights-only) for an architecture this dashboard builds (the output
size is read from the tensors; --arch names it, else every known one is tried), an ONNX graph (classifier,
regressor, embedder, or a YOLO detector exported by ultralytics), or an ultralytics YOLO .pt with --yolo --trust
(its loader runs code from the file). Each becomes the variant "yours/NAME" on the pages of its task.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from core.models import imported


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.models", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("import", help="import a model file")
    add.add_argument("path", type=Path)
    add.add_argument("--name", required=True)
    add.add_argument("--task", choices=imported.TASKS, help="default: classification, or regression for one output")
    add.add_argument("--arch", help=f"a state dict's architecture, e.g. {imported.architectures()[0]} or "
                     "torchvision:resnet18 (default: tried in turn)")
    add.add_argument("--classes", help="class names, comma-separated, in the model's output order")
    add.add_argument("--preprocessing", choices=sorted(imported.PREPROCESSING),
                     help="how pixels are scaled: imagenet (mean/std), unit ([0, 1]) or half (mean = std = 0.5)")
    add.add_argument("--size", type=int, help="the input size in pixels, where the file does not fix it")
    add.add_argument("--yolo", action="store_true", help="an ultralytics YOLO .pt (needs --trust)")
    add.add_argument("--trust", action="store_true", help="you trust the file: a YOLO .pt's loader runs its code")
    ls = sub.add_parser("list", help="the imported models")
    ls.add_argument("--json", action="store_true")
    rm = sub.add_parser("remove", help="remove an imported model and its file")
    rm.add_argument("name")
    args = p.parse_args(argv)
    try:
        if args.command == "import":
            classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
            meta = imported.import_file(args.path, args.name, args.task, args.arch, classes, args.preprocessing,
                                        args.size, trust=args.trust, yolo=args.yolo)
            print(f"imported yours/{meta.name}: {meta.describe()}; sha256 {meta.sha256[:16]}")
        elif args.command == "list":
            found = imported.listing()
            if args.json:
                print(json.dumps([asdict(m) for m in found], indent=1))
            for m in [] if args.json else found:
                print(f"yours/{m.name}  {m.task}  {m.format}  {m.arch}  {m.bytes / 1e6:.1f} MB  {m.origin}")
            if not found and not args.json:
                print("no imported models: python -m core.models import PATH --name NAME")
        else:
            imported.remove(args.name)
            print(f"removed yours/{args.name}")
    except (imported.ImportRefused, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
