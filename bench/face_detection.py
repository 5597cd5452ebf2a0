"""MTCNN over the cartoon test split: facenet-pytorch's per-image detect loop against the batched
cascade, same thresholds, with the detections compared; and resolving new thresholds from a cache."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from facenet_pytorch import MTCNN

from core import devices
from core.data import catalogue
from core.data.types import open_image
from core.models import mtcnn_batched

THRESHOLDS = mtcnn_batched.STUDY_THRESHOLDS
STRICT = mtcnn_batched.DEFAULT_THRESHOLDS
REPEATS = 3


def _same(reference: list, ours: list) -> bool:
    for (boxes, _), d in zip(reference, ours, strict=True):
        boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, float)
        if boxes.shape != d.boxes.shape:
            return False
        if len(boxes) and np.abs(np.sort(boxes, 0) - np.sort(d.boxes, 0)).max() > 1e-3:
            return False
    return True


def run(device: torch.device) -> dict:
    images = [open_image(s.image) for s in catalogue.load("cartoon_faces/detection").split_samples("test")]
    m = MTCNN(keep_all=True, thresholds=list(THRESHOLDS), device=device, post_process=False).eval()
    mtcnn_batched.detect(images[:4], m.pnet, m.rnet, m.onet, THRESHOLDS, device=device)  # warm-up
    [m.detect(im) for im in images[:4]]
    loop_t, ours_t = [], []
    for _ in range(REPEATS):  # interleaved
        devices.synchronize(device)
        start = time.perf_counter()
        reference = [m.detect(im) for im in images]
        devices.synchronize(device)
        loop_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = mtcnn_batched.detect(images, m.pnet, m.rnet, m.onet, THRESHOLDS, device=device)
        devices.synchronize(device)
        ours_t.append(time.perf_counter() - start)
    cached = mtcnn_batched.cascade(images, m.pnet, m.rnet, m.onet, THRESHOLDS, exhaustive=True, device=device)
    start = time.perf_counter()
    [mtcnn_batched.resolve(c, STRICT) for c in cached]
    resolve_s = time.perf_counter() - start
    return {"device": device.type, "images": len(images), "thresholds": list(THRESHOLDS), "repeats": REPEATS,
            "facenet_loop_s": statistics.median(loop_t), "batched_s": statistics.median(ours_t),
            "speedup": statistics.median(r / o for r, o in zip(loop_t, ours_t, strict=True)),
            "identical_detections": _same(reference, ours), "resolve_new_thresholds_ms": resolve_s * 1000}
