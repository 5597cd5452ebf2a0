"""Evaluation speed: COCO-style evaluation against pycocotools on the same data, ROC/AUC of a million scores."""

from __future__ import annotations

import contextlib
import copy
import io
import statistics
import time

import numpy as np

from core.metrics import detection, verification
from core.metrics.synthetic import make_coco_set

COCO_IMAGES, COCO_DETS_PER_IMAGE, COCO_REPEATS = 5000, 20, 3
ROC_SCORES, ROC_REPEATS = 1_000_000, 5
STATS = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium",
         "AR_large"]


def _pycocotools(gt: dict, results: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        e = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return np.array(e.stats)


def _ours(gt: dict, results: list[dict]) -> np.ndarray:
    truth, dets, names = detection.from_coco(gt, results)
    stats = detection.evaluate(truth, dets, class_names=names).stats
    return np.array([stats[k] for k in STATS])


def coco_vs_pycocotools() -> dict:
    gt, results = make_coco_set(2026, COCO_IMAGES, dets_per_image=COCO_DETS_PER_IMAGE)
    ours_t, ref_t = [], []
    for _ in range(COCO_REPEATS):  # interleaved, so drift on a shared machine hits both alike
        start = time.perf_counter()
        ref = _pycocotools(gt, results)
        ref_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = _ours(gt, results)
        ours_t.append(time.perf_counter() - start)
    return {"images": COCO_IMAGES, "detections": len(results), "repeats": COCO_REPEATS,
            "ours_s": statistics.median(ours_t), "pycocotools_s": statistics.median(ref_t),
            "ratio": statistics.median(o / r for o, r in zip(ours_t, ref_t, strict=True)),
            "max_abs_difference": float(np.abs(ours - ref).max()), "AP": float(ours[0]), "AP50": float(ours[1])}


def roc_million() -> dict:
    rng = np.random.default_rng(0)
    labels = rng.random(ROC_SCORES) < 0.3
    scores = rng.normal(labels.astype(float), 1.0)
    times = []
    for _ in range(ROC_REPEATS):
        start = time.perf_counter()
        result = verification.evaluate(scores, labels)
        times.append(time.perf_counter() - start)
    return {"scores": ROC_SCORES, "repeats": ROC_REPEATS, "median_s": statistics.median(times), "AUC": result.auc,
            "measures": "ROC, AUC, EER, TAR@FAR and best accuracy"}
