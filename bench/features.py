"""Feature extraction: a 5-fold linear SVM on 2,000 x 1,280 cached features, and extraction throughput against the
plain backbone forward pass.

The features are MobileNetV2's last block (ImageNet weights, 64 px, average-pooled) on 2,000 images of the imbalanced
Fashion-MNIST set, extracted once into a temporary cache, as a page leaves them. The SVM is timed from the cache:
read, probe with 5 folds (libsvm's linear kernel, the default, and liblinear's LinearSVC), medians of interleaved
runs. Throughput: the same images through the traced extractor (core.features) and through the backbone's own
forward pass (blocks, then pooling), on the same uint8 batches, interleaved.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch
from torchvision.transforms import v2 as T

from core.data import catalogue
from core.engine import streams
from core.engine.store import RunStore
from core.features import probe, taps
from core.studies.feature_extraction import extract

DATASET = "fashion_mnist_imbalanced3"
LAYER = "blocks.18"
SIZE = 64
REPEATS = 3


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def svm_on_cached_features() -> dict:
    data = catalogue.labelled(DATASET)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        source = extract.FeatureSource("mobilenet_v2", "imagenet")
        first = extract.extract(source, data, [LAYER], SIZE, store=store)
        x, y = first.features[LAYER], first.targets
        times: dict[str, list[float]] = {"linear_svm": [], "linear_svc": []}
        scores: dict[str, float] = {}
        for _ in range(REPEATS):
            for name in times:
                def run(name: str = name) -> None:
                    cached = extract.extract(source, data, [LAYER], SIZE, store=store)
                    scores[name] = probe.cross_validated(cached.features[LAYER], cached.targets,
                                                         probe.ProbeConfig(name, folds=5), data.classes).mean
                times[name].append(_timed(run))
        return {"dataset": DATASET, "images": int(x.shape[0]), "features": int(x.shape[1]), "classes": len(set(y)),
                "extract_s": first.seconds, "repeats": REPEATS,
                **{f"{n}_median_s": statistics.median(t) for n, t in times.items()},
                **{f"{n}_balanced_accuracy": s for n, s in scores.items()}}


@torch.inference_mode()
def throughput(device: torch.device, batch: int = 128, images: int = 1024) -> dict:
    data = catalogue.labelled(DATASET)
    model, mean, std = extract.load(extract.FeatureSource("mobilenet_v2", "imagenet"))
    model = model.to(device)
    tapped = taps.tapped(model, [LAYER]).to(device)
    normalise = T.Normalize(mean, std)
    stream = streams.ImageStream(data.images, data.targets, torch.arange(images).numpy(), SIZE)
    batches = [normalise(x.to(device).float().div_(255))
               for x, _ in streams.image_loader(stream, batch, False, 0, device, 0)]

    def plain() -> None:
        for x in batches:
            model.pool(model.blocks(x)).flatten(1).cpu()

    def traced() -> None:
        for x in batches:
            with taps.FX_LOCK:
                taps.pool(tapped(x)[LAYER], "avg").cpu()

    plain(), traced()  # warm-up
    t_plain, t_traced = [], []
    for _ in range(REPEATS):
        t_plain.append(_timed(plain))
        t_traced.append(_timed(traced))
    p, t = statistics.median(t_plain), statistics.median(t_traced)
    return {"device": device.type, "images": images, "batch": batch, "image_size": SIZE,
            "plain_images_per_s": images / p, "extractor_images_per_s": images / t, "ratio": p / t}


def run(targets: list[torch.device]) -> dict:
    return {"svm": svm_on_cached_features(), "throughput": [throughput(d) for d in targets]}
