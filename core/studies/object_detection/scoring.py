"""A detector's test predictions scored: ours (COCO rules) and ultralytics' on the same predictions, and AP50 as a
function of per-image draw counts for the bootstrap. The trainer scores its last checkpoint with it, the
experiment every kept one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.metrics import detection as det
from core.models import yolo

IOU = 0.5  # AP50's, and the IoU of the PR curves and the cross-family table


@dataclass(frozen=True)
class ScoredBoxes:
    """A detector's test predictions, matched and scored."""

    name: str
    found: list[yolo.Found]
    result: det.DetectionResult
    metrics: dict[str, float]
    ap_of_counts: object  # Callable[[np.ndarray], float]: AP50 from per-image draw counts, for the bootstrap


def _matched(found: list, truth: list, iou: float, classes: list[int]) -> tuple:
    """Per class: (image index, scores, is_tp, truths per image) of the matched detections."""
    out = {}
    for c in classes:
        img, scores, tp = [], [], []
        n_gt = np.zeros(len(truth))
        for i, (f, (boxes, labels)) in enumerate(zip(found, truth, strict=True)):
            mine, theirs = f.classes == c, labels == c
            match = det.match_image(f.boxes[mine], f.scores[mine], boxes[theirs], iou)
            img.append(np.full(int(mine.sum()), i))
            scores.append(f.scores[mine])
            tp.append(match.is_tp)
            n_gt[i] = theirs.sum()
        out[c] = (np.concatenate(img), np.concatenate(scores), np.concatenate(tp).astype(bool), n_gt)
    return out


def mean_ap_of_counts(found: list, truth: list, classes: list[int], iou: float = IOU) -> object:
    """AP at this IoU, averaged over the classes with truths, as a function of per-image draw counts."""
    per_class = [det.ap_of_counts(*m) for m in _matched(found, truth, iou, classes).values() if m[3].sum()]

    def metric(counts: np.ndarray) -> float:
        values = [v for v in (f(counts) for f in per_class) if np.isfinite(v)]  # a class drawn without truths: skipped
        return float(np.mean(values)) if values else float("nan")
    return metric


def score(name: str, found: list[yolo.Found], samples: list, classes: list[str]) -> ScoredBoxes:
    """Ours (COCO rules) and ultralytics' (the same predictions) for one detector on these samples."""
    truth = [(np.asarray(s.boxes, float).reshape(-1, 4), np.asarray(s.labels, int)) for s in samples]
    names = dict(enumerate(classes))
    result = det.evaluate({i: det.ImageTruth(b, lab) for i, (b, lab) in enumerate(truth)},
                          {i: det.ImageDetections(f.boxes, f.scores, f.classes) for i, f in enumerate(found)},
                          class_names=names)
    points = [det.best_f1(result.curves[n]) for n, row in zip(result.curves, result.per_class.itertuples(),
                                                                strict=True) if row.n_gt > 0]
    theirs = yolo.ultralytics_scores(truth, found)
    metrics = {"AP50": result.stats["AP50"], "AP50-95": result.stats["AP"],
               "P": float(np.mean([p.precision for p in points])) if points else float("nan"),
               "R": float(np.mean([p.recall for p in points])) if points else float("nan"),
               "F1": float(np.mean([p.f1 for p in points])) if points else float("nan"),
               "ultralytics_P": theirs["P"], "ultralytics_R": theirs["R"],
               "ultralytics_AP50": theirs["AP50"], "ultralytics_AP50-95": theirs["AP50-95"]}
    return ScoredBoxes(name, found, result, metrics, mean_ap_of_counts(found, truth, list(names)))
