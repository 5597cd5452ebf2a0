"""Score prediction files (COCO json, CSV) into a JSON-ready summary plus the result objects the figures need.

Shared by the CLI (python -m core.metrics) and the "Score your predictions" page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from core.metrics import classification, detection, paired, regression, verification


@dataclass(frozen=True)
class Report:
    summary: dict  # JSON-ready
    results: dict = field(default_factory=dict)  # variant name -> result object
    points: dict = field(default_factory=dict)  # regression: variant name -> (y_true, y_pred)
    comparisons: list[tuple[str, str, paired.Paired]] = field(default_factory=list)


def require_columns(frame: pd.DataFrame, required: list[list[str]], source: str) -> None:
    for options in required:
        if not any(c in frame.columns for c in options):
            raise ValueError(f"{source} needs a column named {' or '.join(options)}; it has {list(frame.columns)}")


def numeric(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A column as floats; ValueError naming the first cell that is not a number (its CSV line and column)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{source}, line {row + 2} (data row {row + 1}), column {column}: "
                         f"{frame[column].iloc[row]!r} is not a number")
    return values.to_numpy(float)


def detection_report(gt: object, results: object, ious: tuple[float, ...] = detection.COCO_IOUS) -> Report:
    if not isinstance(gt, dict) or "images" not in gt or "annotations" not in gt:
        raise ValueError("the ground truth must be COCO json: an object with 'images' and 'annotations'")
    if isinstance(results, dict) and "annotations" in results:
        results = results["annotations"]
    if not isinstance(results, list):
        raise ValueError("the detections must be a COCO result list: [{image_id, category_id, bbox, score}, ...]")
    for i, r in enumerate(results):
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"detection {i} lacks {missing}")
    truth, dets, names = detection.from_coco(gt, results)
    result = detection.evaluate(truth, dets, iou_thresholds=ious, class_names=names)
    summary = {"task": "detection", **result.stats, "iou_thresholds": list(result.iou_thresholds),
               "n_images": result.n_images, "n_gt": result.n_gt, "n_detections": result.n_detections,
               "per_class": result.per_class.to_dict(orient="records")}
    return Report(summary, {"detections": result})


def classification_report(frame: pd.DataFrame, source: str = "the CSV") -> Report:
    require_columns(frame, [["true"], ["pred"]], source)
    variants = ["pred"] + (["pred_b"] if "pred_b" in frame else [])
    names = sorted({str(v) for c in ["true", *variants] for v in frame[c].astype(str)})
    index = {n: i for i, n in enumerate(names)}
    coded = {c: frame[c].astype(str).map(index).to_numpy(np.int64) for c in ["true", *variants]}
    results = {v: classification.evaluate(coded["true"], coded[v], names) for v in variants}
    r = results["pred"]
    summary = {"task": "classification", "n": len(frame), "accuracy": r.accuracy,
               "mean_class_accuracy": r.mean_class_accuracy, "macro": r.macro, "weighted": r.weighted,
               "per_class": r.per_class.to_dict(orient="records"), "confusion": r.confusion.tolist(), "classes": names}
    summary["variants"] = {v: {"accuracy": res.accuracy, "mean_class_accuracy": res.mean_class_accuracy,
                               "macro_f1": res.macro["f1"]} for v, res in results.items()}
    comparisons = []
    if "pred_b" in coded:
        correct_a, correct_b = coded["pred"] == coded["true"], coded["pred_b"] == coded["true"]
        mca = {v: classification.mca_of_counts(coded["true"], coded[v], len(names)) for v in variants}
        comparisons = [("pred", "pred_b", c) for c in (
            paired.paired_bootstrap(mca["pred"], mca["pred_b"], len(frame), "mean class accuracy"),
            paired.paired_bootstrap(paired.weighted_mean(correct_a), paired.weighted_mean(correct_b), len(frame),
                                    "accuracy"),
            paired.mcnemar(correct_a, correct_b))]
        summary["comparisons"] = [c.as_dict(a, b) for a, b, c in comparisons]
    return Report(summary, results, comparisons=comparisons)


def _similarity(frame: pd.DataFrame, suffix: str, source: str) -> np.ndarray:
    if f"score{suffix}" in frame:
        return numeric(frame, f"score{suffix}", source)
    return verification.normalised_similarity(numeric(frame, f"distance{suffix}", source))


def verification_report(frame: pd.DataFrame, source: str = "the CSV") -> Report:
    require_columns(frame, [["label"], ["score", "distance"]], source)
    labels = numeric(frame, "label", source)
    suffixes = [""] + (["_b"] if "score_b" in frame or "distance_b" in frame else [])
    results = {f"score{s}": verification.evaluate(_similarity(frame, s, source), labels) for s in suffixes}
    r = results["score"]
    summary = {"task": "verification", "n": len(frame), "AUC": r.auc, "EER": r.eer, "EER_threshold": r.eer_threshold,
               "best_accuracy": r.best_accuracy, "best_threshold": r.best_threshold,
               **{f"TAR@FAR={far:g}": tar for far, tar in r.tar_at_far.items()}}
    comparisons = []
    if len(suffixes) == 2:
        scores = {s: _similarity(frame, s, source) for s in suffixes}
        comparisons = [("score", "score_b", paired.delong(scores[""], scores["_b"], labels)),
                       ("score", "score_b", paired.paired_bootstrap(paired.weighted_auc(scores[""], labels),
                                                                    paired.weighted_auc(scores["_b"], labels),
                                                                    len(frame), "AUC"))]
        summary["comparisons"] = [c.as_dict(a, b) for a, b, c in comparisons]
    return Report(summary, results, comparisons=comparisons)


def regression_report(frame: pd.DataFrame, source: str = "the CSV") -> Report:
    require_columns(frame, [["true"], ["pred"]], source)
    true = numeric(frame, "true", source)
    variants = ["pred"] + (["pred_b"] if "pred_b" in frame else [])
    points = {v: (true, numeric(frame, v, source)) for v in variants}
    results = {v: regression.evaluate(*points[v]) for v in variants}
    summary = {"task": "regression", **asdict(results["pred"])}
    if "pred_b" in frame:
        errors = {v: np.abs(p - t) for v, (t, p) in points.items()}
        boot = paired.paired_bootstrap(paired.weighted_mean(errors["pred"]), paired.weighted_mean(errors["pred_b"]),
                                       len(frame), "MAE")
        comparisons = [("pred", "pred_b", boot)]
        summary["comparisons"] = [boot.as_dict("pred", "pred_b")]
    else:
        comparisons = []
    return Report(summary, results, points, comparisons)


def for_family(scoring: str) -> Callable[..., Report]:
    """The report of a metric family (a task's `scoring`): detection_report, classification_report, …"""
    found = globals().get(f"{scoring}_report")
    if found is None:
        raise KeyError(f"no report for {scoring!r}; choose from detection, classification, verification, regression")
    return found
