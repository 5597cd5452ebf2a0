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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from core.metrics import classification, detection, paired, regression, verification


class InputError(ValueError):
    """A problem with the user's files."""


def _read_json(path: str) -> object:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _read_csv(path: str, required: list[list[str]]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}") from None
    for options in required:
        if not any(c in frame.columns for c in options):
            raise InputError(f"{path} needs a column named {' or '.join(options)}; it has {list(frame.columns)}")
    return frame


def run_detection(args: argparse.Namespace) -> dict:
    gt = _read_json(args.gt)
    results = _read_json(args.pred)
    if not isinstance(gt, dict) or "images" not in gt or "annotations" not in gt:
        raise InputError(f"{args.gt} must be COCO ground truth: an object with 'images' and 'annotations'")
    if isinstance(results, dict) and "annotations" in results:
        results = results["annotations"]
    if not isinstance(results, list):
        raise InputError(f"{args.pred} must be a list of detections (image_id, category_id, bbox, score)")
    for i, r in enumerate(results):
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if not isinstance(r, dict) or k not in r]
        if missing:
            raise InputError(f"detection {i} in {args.pred} lacks {missing}")
    truth, dets, names = detection.from_coco(gt, results)
    ious = tuple(args.iou) if args.iou else detection.COCO_IOUS
    result = detection.evaluate(truth, dets, iou_thresholds=ious, class_names=names)
    return {"task": "detection", **result.stats, "iou_thresholds": list(result.iou_thresholds),
            "n_images": result.n_images, "n_gt": result.n_gt, "n_detections": result.n_detections,
            "per_class": result.per_class.to_dict(orient="records")}


def run_classification(args: argparse.Namespace) -> dict:
    frame = _read_csv(args.file, [["true"], ["pred"]])
    columns = ["true", "pred"] + (["pred_b"] if "pred_b" in frame else [])
    names = sorted({str(v) for c in columns for v in frame[c].astype(str)})
    index = {n: i for i, n in enumerate(names)}
    coded = {c: frame[c].astype(str).map(index).to_numpy(np.int64) for c in columns}
    result = classification.evaluate(coded["true"], coded["pred"], names)
    out = {"task": "classification", "n": len(frame), "accuracy": result.accuracy,
           "mean_class_accuracy": result.mean_class_accuracy, "macro": result.macro, "weighted": result.weighted,
           "per_class": result.per_class.to_dict(orient="records"), "confusion": result.confusion.tolist(),
           "classes": names}
    if "pred_b" in coded:
        correct_a, correct_b = coded["pred"] == coded["true"], coded["pred_b"] == coded["true"]
        stat, p, method = paired.mcnemar(correct_a, correct_b)
        boot = paired.paired_bootstrap(paired.weighted_mean(correct_a), paired.weighted_mean(correct_b), len(frame),
                                       "accuracy")
        out["comparisons"] = [boot.as_dict("pred", "pred_b"), {"metric": "accuracy", "a": "pred", "b": "pred_b",
                                                               "statistic": stat, "p_value": p, "test": method}]
    return out


def _verification_scores(frame: pd.DataFrame, suffix: str) -> np.ndarray:
    if f"score{suffix}" in frame:
        return frame[f"score{suffix}"].to_numpy(float)
    return verification.normalised_similarity(frame[f"distance{suffix}"].to_numpy(float))


def run_verification(args: argparse.Namespace) -> dict:
    frame = _read_csv(args.file, [["label"], ["score", "distance"]])
    labels = frame["label"].to_numpy()
    result = verification.evaluate(_verification_scores(frame, ""), labels)
    out = {"task": "verification", "n": len(frame), "AUC": result.auc, "EER": result.eer,
           "EER_threshold": result.eer_threshold, "best_accuracy": result.best_accuracy,
           "best_threshold": result.best_threshold,
           **{f"TAR@FAR={far:g}": tar for far, tar in result.tar_at_far.items()}}
    if "score_b" in frame or "distance_b" in frame:
        test = paired.delong(_verification_scores(frame, ""), _verification_scores(frame, "_b"), labels)
        out["comparisons"] = [test.as_dict("score", "score_b")]
    return out


def run_regression(args: argparse.Namespace) -> dict:
    frame = _read_csv(args.file, [["true"], ["pred"]])
    result = regression.evaluate(frame["true"].to_numpy(float), frame["pred"].to_numpy(float))
    out = {"task": "regression", **asdict(result)}
    if "pred_b" in frame:
        err_a = np.abs(frame["pred"].to_numpy(float) - frame["true"].to_numpy(float))
        err_b = np.abs(frame["pred_b"].to_numpy(float) - frame["true"].to_numpy(float))
        boot = paired.paired_bootstrap(paired.weighted_mean(err_a), paired.weighted_mean(err_b), len(frame), "MAE")
        out["comparisons"] = [boot.as_dict("pred", "pred_b")]
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.metrics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True)
    det = sub.add_parser("detection", help="COCO json ground truth and detections")
    det.add_argument("gt")
    det.add_argument("pred")
    det.add_argument("--iou", type=float, nargs="+", help="IoU thresholds (default 0.50:0.05:0.95)")
    for task, columns in (("classification", "true, pred[, pred_b]"), ("verification", "label, score|distance[, _b]"),
                          ("regression", "true, pred[, pred_b]")):
        sub.add_parser(task, help=f"CSV with columns {columns}").add_argument("file")
    return p


RUNNERS = {"detection": run_detection, "classification": run_classification, "verification": run_verification,
           "regression": run_regression}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        out = RUNNERS[args.task](args)
    except (ValueError, KeyError, TypeError) as exc:
        message = exc.args[0] if exc.args else repr(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
