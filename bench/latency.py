"""Inference latency of every variant whose weights ship in a package, at batch 1 and batch 32."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from PIL import Image, ImageOps

from core import devices, registry, weights
from core.data import samples
from core.models import classifiers
from core.predictors import Classifier, FaceDetector, build

BATCHES = (1, 32)
REPEATS = {1: 20, 32: 5}
DETECTION_SIDE = 512  # MTCNN batches need images of one size


def _median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up: allocator, thread pools, cudnn autotuning
    times = []
    for _ in range(repeats):
        devices.synchronize(device)
        start = time.perf_counter()
        fn()
        devices.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _photos(n: int) -> list[Image.Image]:
    names = samples.available()
    return [ImageOps.fit(samples.load_sample(names[i % len(names)]).image, (DETECTION_SIDE, DETECTION_SIDE))
            for i in range(n)]


def _packaged(v: registry.Variant) -> bool:
    return all(weights.source(k).package for k in v.weights) and registry.availability(v).ok


def _rows_for(name: str, run: Callable[[int], Callable[[], object]], device: torch.device, what: str) -> list[dict]:
    rows = []
    for batch in BATCHES:
        total = _median_ms(run(batch), REPEATS[batch], device)
        rows.append({"variant": name, "device": device.type, "batch": batch, "ms_per_image": total / batch,
                     "repeats": REPEATS[batch], "measures": what})
    return rows


def _forward_runner(model: torch.nn.Module, prep: classifiers.Preprocess,
                    device: torch.device) -> Callable[[int], Callable[[], object]]:
    transform = prep.transform()
    model = model.to(device).eval()

    def make(batch: int) -> Callable[[], object]:
        x = torch.stack([transform(im) for im in _photos(batch)]).to(device)
        return lambda: torch.inference_mode()(model)(x).softmax(dim=1)
    return make


def _detect_runner(model: FaceDetector) -> Callable[[int], Callable[[], object]]:
    def make(batch: int) -> Callable[[], object]:
        images = _photos(batch)
        return lambda: model.predict(images)
    return make


def run(device: torch.device) -> list[dict]:
    rows: list[dict] = []
    for v in registry.BUILTIN.values():
        if not _packaged(v):
            continue
        model = build(v, device)
        if isinstance(model, Classifier):
            rows += _rows_for(v.name, _forward_runner(model.model, model.prep, device),
                              device, "forward + softmax on preprocessed tensors")
        else:
            rows += _rows_for(v.name, _detect_runner(model), device,
                              f"full detect on {DETECTION_SIDE}x{DETECTION_SIDE} photos")
    backbone, prep = classifiers.pretrained("mobilenet_v2_features")
    rows += _rows_for("mobilenet_v2/features (backbone)", _forward_runner(backbone, prep, device), device,
                      "backbone forward to 1280-d features")
    return rows
