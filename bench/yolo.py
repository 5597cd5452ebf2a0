"""YOLO from scratch and from pretrained weights: training images/s and inference ms/image for both, and the
time of our AP computation against ultralytics' own metric code on the same predictions.

Training runs as the pages run it (python -m core.studies.object_detection, its own process) into a temporary run folder."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core.data.types import open_image

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--epochs", "2", "--every", "1", "--image-size", "256", "--fraction", "0.35"]
BATCHES = (1, 16)
REPEATS = 5
SCALED_IMAGES = 2000  # the metric timing on a set as large as a typical validation split


def _train(runs: Path, device: torch.device) -> list[dict]:
    env = {**os.environ, "TLDASH_RUNS_DIR": str(runs)}
    out = subprocess.run([sys.executable, "-m", "core.studies.object_detection", *SETTINGS, *(["--cpu"] if device.type == "cpu"
                                                                                 else [])],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _median_ms(fn: object, n_images: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000 / n_images


def run(device: torch.device) -> dict:
    """Train both starts (2 epochs, 256 px, 35% of the cartoon training images), then time them."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        _train(runs, device)
        os.environ["TLDASH_RUNS_DIR"] = str(runs)
        from core.engine.store import RunStore
        from core.models import yolo
        from core.studies.object_detection import experiment as od

        found = od.runs_on(od.DATASET, RunStore(runs))
        data, samples = od.test_split(od.DATASET)
        images = [open_image(s.image) for s in samples[:32]]
        rows = []
        for start in ("scratch", "pretrained"):
            run_ = found[start][0]
            last = od.checkpoints(run_)[-1]
            detector = yolo.Detector.from_checkpoint(last.path, int(run_.config["image_size"]), device)
            row = {"start": start, "device": device.type, "architecture": run_.base_variant,
                   "source": run_.config["source"] if start == "pretrained" else "yaml",
                   "image_size": run_.config["image_size"], "train_images_per_s": run_.metrics["train_images_per_s"]}
            for batch in BATCHES:
                row[f"ms_per_image_batch{batch}"] = _median_ms(
                    lambda b=batch, d=detector: d.find(images[:max(b, 16)], batch=b), max(batch, 16))
            rows.append(row)
        scored = od.checkpoint_found(od.checkpoints(found["pretrained"][0])[-1], data, device)
        metric = metric_times(samples, scored)
    return {"runs": rows, "ap_time": metric}


def metric_times(samples: list, found: list) -> dict:
    """Ours (det.evaluate, COCO rules, ten IoUs) against ultralytics' matching + ap_per_class, the same
    predictions, interleaved; on the test split and on it repeated to SCALED_IMAGES images."""
    from core.metrics import detection as det
    from core.models import yolo

    out = {}
    for label, reps in (("test", 1), ("scaled", SCALED_IMAGES // len(samples))):
        s_all, f_all = samples * reps, found * reps
        truth = [(np.asarray(s.boxes, float).reshape(-1, 4), np.asarray(s.labels, int)) for s in s_all]
        gt = {i: det.ImageTruth(b, lab) for i, (b, lab) in enumerate(truth)}
        dt = {i: det.ImageDetections(f.boxes, f.scores, f.classes) for i, f in enumerate(f_all)}
        ours, theirs = [], []
        for _ in range(REPEATS):
            start = time.perf_counter()
            mine = det.evaluate(gt, dt, class_names={0: "face"}).stats
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            other = yolo.ultralytics_scores(truth, f_all)
            theirs.append(time.perf_counter() - start)
        out[label] = {"images": len(s_all), "detections": int(sum(len(f.scores) for f in f_all)),
                      "ours_s": statistics.median(ours), "ultralytics_s": statistics.median(theirs),
                      "ratio": statistics.median(ours) / statistics.median(theirs),
                      "AP50_ours": mine["AP50"], "AP50_ultralytics": other["AP50"]}
    return out
