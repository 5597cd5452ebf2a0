"""Score anyone's predictions from files and print JSON.

  python -m core.metrics detection GT.json PRED.json [--iou 0.5]
      COCO json: ground truth (images, annotations, categories) and a detection result list
      (image_id, category_id, bbox as x y w h, score). Prints AP, AP50, AP75, AP_VOC50, all
      twelve COCO numbers and counts. --iou gives other thresholds (the first one is used
      for the VOC and trapezoid AP).
  python -m core.metrics classification FILE.csv
      columns: true, pred (class names or ids); optional pred_b, a second variant on the
      same rows, adds McNemar's test and a paired bootstrap CI of the accuracy difference.
  python -m core.metrics verification FILE.csv
      columns: label (1 = same identity, 0 = different) and score (higher = same) or
      distance (normalised by its maximum, as the face-verification study did); optional
      score_b / distance_b adds DeLong's test of the AUC difference.
  python -m core.metrics regression FILE.csv
      columns: true, pred; optional pred_b adds a paired bootstrap CI of the MAE difference.

Errors in the input print one message and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from core import numbers, tasks
from core.metrics import reports


def _read_json(path: str) -> object:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.metrics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True)
    det = sub.add_parser("detection", help="COCO json ground truth and detections")
    det.add_argument("gt")
    det.add_argument("pred")
    det.add_argument("--iou", type=float, nargs="+", help="IoU thresholds (default 0.50:0.05:0.95)")
    for task in tasks.scored():
        if task.score_format == "CSV":
            sub.add_parser(task.scoring, help=f"CSV with columns {task.score_columns}").add_argument("file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.task == "detection":
            ious = tuple(args.iou) if args.iou else reports.detection.COCO_IOUS
            report = reports.detection_report(_read_json(args.gt), _read_json(args.pred), ious)
        else:
            report = reports.for_family(tasks.by_scoring(args.task).scoring)(_read_csv(args.file), args.file)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc!r}", file=sys.stderr)
        return 2
    print(numbers.public_dumps(report.summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
