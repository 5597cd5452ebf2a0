"""Face detection: MTCNN pretrained on real faces against its fine-tuned variants, on cartoon faces.

Each variant runs once over the test split with the study's permissive stage thresholds, keeping
its whole cascade; any stricter stage thresholds and any IoU threshold are then scored from that
cache without a network. AP (COCO 101-point and VOC), best F1 and a paired bootstrap CI of
the AP difference (resampling images) come from the matched detections.

    python -m core.experiments face_detection --json
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from core import devices, plots, registry, timing, weights
from core.data import catalogue, samples
from core.data.types import DetectionSet, open_image
from core.engine.store import Run, RunStore
from core.engine.study import Scores, Study
from core.experiments.comparison import Comparison
from core.files import runs_dir
from core.metrics import detection as det
from core.metrics import paired, verification
from core.metrics.hierarchical import Replicate
from core.models import mtcnn_batched
from core.predictors import FaceDetector, build
from core.studies.face_detection import train as mtcnn_train
from core.studies.face_detection.samples import STAGE_SIZE

FLOOR = mtcnn_batched.STUDY_THRESHOLDS  # the study's stage thresholds are the cache's floor
STUDY_IOU = mtcnn_batched.STUDY_IOU
DATASET = "cartoon_faces/detection"
REAL_PHOTOS = ("astronaut", "grace_hopper", "zidane")
STUDY_STAGES = (("pnet",), ("pnet", "rnet", "onet"))  # the study's variant, and going beyond it
TIMED_IMAGES = 4  # ms_per_image: interleaved timed passes over the first test images (core.timing)


@dataclass(frozen=True)
class VariantRun:
    """One variant's cached cascades over the test images, and its speed."""

    name: str
    cascades: list[mtcnn_batched.Cascade]
    ms_per_image: float


@dataclass(frozen=True)
class ScoredCascade:
    name: str
    detections: list[mtcnn_batched.StagedDetections]
    matches: list[det.ImageMatch]
    curve: det.PRCurve
    ap: float
    ap_voc: float
    best: det.OperatingPoint
    ap_of_counts: object  # Callable[[np.ndarray], float] for the bootstrap


def test_images(dataset: str = DATASET, split: str = "test") -> tuple[list[Image.Image], list[np.ndarray]]:
    data = catalogue.load(dataset)
    if not isinstance(data, DetectionSet):
        raise ValueError(f"{dataset} is a {data.task} set, not a detection set")
    chosen = data.split_samples(split) or data.samples
    return [open_image(s.image) for s in chosen], [s.boxes for s in chosen]


def run_variant(name: str, images: list[Image.Image], device: torch.device, cache: bool = False) -> VariantRun:
    """Time a plain pass at the floor thresholds over the first TIMED_IMAGES, then keep the exhaustive cascade
    over all of them for re-scoring. With cache, a run kept on disk for the same variant files, images and
    device is read back instead (see cascade_cache): the page opens in a second after a restart."""
    path = cascade_cache(name, images, device) if cache else None
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return _read_run(name, path, len(images))
    model = build(registry.variant(name), device)
    if not isinstance(model, FaceDetector):
        raise ValueError(f"{name} is not a face detector")
    m = model.mtcnn
    timed = images[:TIMED_IMAGES]
    devices.synchronize(device)
    start = time.perf_counter()
    mtcnn_batched.detect(timed, m.pnet, m.rnet, m.onet, FLOOR, device=device)
    devices.synchronize(device)
    ms = (time.perf_counter() - start) * 1000 / max(len(timed), 1)
    run = VariantRun(name, mtcnn_batched.cascade(images, m.pnet, m.rnet, m.onet, FLOOR, exhaustive=True,
                                                 device=device), ms)
    if path is not None:
        with contextlib.suppress(OSError):  # a cache that cannot be written: the run is still good
            _write_run(run, path)
    return run


CACHE_ENV = "TLDASH_CACHE_DIR"
CACHE_VERSION = 1  # raise when Cascade or the cascade computation changes
CASCADE_FIELDS = ("proposals", "rnet_score", "rnet_reg", "refined", "onet_score", "onet_reg")


def cache_dir() -> Path:
    """Where results that take long to compute are kept: $TLDASH_CACHE_DIR, else cache/ in the runs folder."""
    return Path(os.environ.get(CACHE_ENV) or runs_dir() / "cache")


def cascade_cache(name: str, images: list[Image.Image], device: torch.device) -> Path:
    """The file a variant's cascades over these images are kept in: named by a hash of everything they depend
    on (the variant's weight files, as size and time, the images' pixels, the floor, the device type), so a
    retrained checkpoint or another test split is never served an old result."""
    variant = registry.variant(name)
    h = hashlib.sha256(json.dumps([CACHE_VERSION, name, list(FLOOR), device.type]).encode())
    files = [weights.local_path(key) for key in variant.weights] + ([Path(variant.checkpoint)] if variant.checkpoint
                                                                   else [])
    for f in files:
        stat = f.stat() if f is not None and f.is_file() else None
        h.update(f"{f}:{stat and stat.st_size}:{stat and stat.st_mtime_ns};".encode())
    for image in images:
        h.update(f"{image.mode}{image.size}".encode())
        h.update(image.tobytes())
    return cache_dir() / "face_detection" / f"{h.hexdigest()[:40]}.npz"


def _write_run(run: VariantRun, path: Path) -> None:
    arrays = {f"{i}.{f}": getattr(c, f).cpu().numpy() for i, c in enumerate(run.cascades) for f in CASCADE_FIELDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, ms_per_image=np.float64(run.ms_per_image), **arrays)
    os.replace(tmp, path)  # whole or not at all, also with two processes writing the same run


def _read_run(name: str, path: Path, n_images: int) -> VariantRun:
    with np.load(path, allow_pickle=False) as z:  # plain arrays only: a planted file cannot run code
        cascades = [mtcnn_batched.Cascade(**{f: torch.from_numpy(z[f"{i}.{f}"]) for f in CASCADE_FIELDS},
                                          floor=FLOOR) for i in range(n_images)]
        if f"{n_images}.proposals" in z.files:
            raise ValueError(f"{path} holds more images than asked for")
        return VariantRun(name, cascades, float(z["ms_per_image"]))


def time_variants(names: list[str], images: list[Image.Image], device: torch.device,
                  rounds: int = timing.ROUNDS) -> dict[str, timing.Timing]:
    """Each variant's speed on the same first TIMED_IMAGES test images at MTCNN's default thresholds (what a
    deployed detector runs; the floor thresholds of the PR sweep keep far more candidates), warmed up and
    interleaved."""
    timed = images[:TIMED_IMAGES]
    models = {}
    for name in names:
        model = build(registry.variant(name), device)
        if not isinstance(model, FaceDetector):
            raise ValueError(f"{name} is not a face detector")
        models[name] = model
    return timing.interleaved({n: (lambda m=m: m.predict(timed)) for n, m in models.items()}, items=len(timed),
                              rounds=rounds, device=device)


def score(run: VariantRun, truth: list[np.ndarray], thresholds: tuple[float, float, float],
          iou: float = STUDY_IOU) -> ScoredCascade:
    """Detections at these stage thresholds, matched at this IoU: no network runs."""
    found = [mtcnn_batched.resolve(c, thresholds) for c in run.cascades]
    matches = [det.match_image(d.boxes, d.scores, t, iou) for d, t in zip(found, truth, strict=True)]
    scores = np.concatenate([d.scores for d in found]) if found else np.zeros(0)
    is_tp = np.concatenate([m.is_tp for m in matches]) if matches else np.zeros(0, bool)
    image_index = np.concatenate([np.full(len(d.scores), i) for i, d in enumerate(found)]) if found else np.zeros(0)
    n_gt = np.array([len(t) for t in truth])
    curve = det.pr_curve(scores, is_tp, int(n_gt.sum()))
    return ScoredCascade(run.name, found, matches, curve, det.ap_coco101(curve), det.ap_voc(curve), det.best_f1(curve),
                  det.ap_of_counts(image_index, scores, is_tp, n_gt))


def compare_ap(a: ScoredCascade, b: ScoredCascade, n_images: int, n_boot: int = paired.N_BOOT) -> paired.Paired:
    return paired.paired_bootstrap(a.ap_of_counts, b.ap_of_counts, n_images, "AP", n_boot=n_boot)


def _patch_scores(detector: FaceDetector, patches: list[Image.Image]) -> np.ndarray:
    """The cascade's face probability of whole patches: PNet x RNet x ONet, each on the patch resized."""
    total = np.ones(len(patches))
    with torch.inference_mode():
        for stage, size in STAGE_SIZE.items():
            x = torch.stack([torch.as_tensor(np.array(p.resize((size, size), Image.Resampling.BILINEAR)))
                             for p in patches]).permute(0, 3, 1, 2).float().to(detector.device)
            prob = getattr(detector.mtcnn, stage)(mtcnn_batched.normalise(x))[-1].reshape(len(patches), 2)
            total *= prob[:, 1].cpu().numpy()
    return total


def forgetting(name: str, reference: dict[str, np.ndarray], device: torch.device) -> dict[str, float]:
    """Real faces after fine-tuning for cartoons: recall of the faces the pretrained model finds in the
    sample photos (at its default thresholds, IoU 0.5), and face vs non-face AUC on lfw_subset patches."""
    detector = build(registry.variant(name), device)
    photos = [samples.load_sample(p).image for p in reference]
    found = mtcnn_batched.detect(photos, detector.mtcnn.pnet, detector.mtcnn.rnet, detector.mtcnn.onet,
                                 mtcnn_batched.DEFAULT_THRESHOLDS, device=device)
    hits = sum(int(det.match_image(d.boxes, d.scores, ref, 0.5).gt_matched.sum())
               for d, ref in zip(found, reference.values(), strict=True))
    faces = catalogue.load("lfw_subset")
    patches = [Image.fromarray(p).convert("RGB") for p in faces.images]
    auc = verification.evaluate(_patch_scores(detector, patches), faces.targets).auc
    return {"real_photo_recall": hits / max(sum(len(r) for r in reference.values()), 1), "lfw_patch_AUC": auc}


def reference_faces(device: torch.device) -> dict[str, np.ndarray]:
    """The faces the pretrained MTCNN finds in the sample photos: the reference for forgetting."""
    detector = build(registry.variant("mtcnn/pretrained"), device)
    photos = {p: samples.load_sample(p).image for p in REAL_PHOTOS}
    found = detector.predict(list(photos.values()))
    return {name: d.boxes for name, d in zip(photos, found, strict=True)}


def finetuned_variants(store: RunStore | None = None) -> list[str]:
    """Names of the fine-tuned MTCNN variants (finished runs, and stopped ones at their last epoch), newest first."""
    runs = [v for v in registry.for_task("face_detection", store) if v.run_id]
    return [v.name for v in sorted(runs, key=lambda v: v.run_id, reverse=True)]


def ensure_finetuned(store: RunStore, device: torch.device, stages: tuple[str, ...] = ("pnet",)) -> str:
    """The newest run fine-tuning these stages, training one (PNet: about 15 s on 2 CPU cores) if none."""
    strategy = mtcnn_train.MTCNNConfig(stages=stages).strategy
    existing = [n for n in finetuned_variants(store) if n.startswith(f"mtcnn/{strategy}-")]
    if existing:
        return existing[0]
    finished = [e for e in mtcnn_train.finetune(mtcnn_train.MTCNNConfig(stages=stages), store, device)
                if isinstance(e, mtcnn_train.Finished)]
    return finished[0].variant


def compare(runs: list[VariantRun], truth: list[np.ndarray], thresholds: tuple[float, float, float] = FLOOR,
            iou: float = STUDY_IOU, n_boot: int = paired.N_BOOT, forgotten: dict[str, dict[str, float]] | None = None,
            dataset: str = DATASET, device: str = "cpu", timings: dict[str, timing.Timing] | None = None
            ) -> tuple[Comparison, dict[str, ScoredCascade]]:
    """The Comparison of cached variant runs at these thresholds (no network runs), the first variant as the
    baseline of the paired AP bootstrap; and each variant's scored detections, for figures. timings (from
    time_variants) give ms_per_image as interleaved medians, their ranges in extra["ms_range"]; without them it
    is the single pass run_variant timed."""
    scored = {r.name: score(r, truth, thresholds, iou) for r in runs}
    metrics = {}
    for r in runs:
        s = scored[r.name]
        metrics[r.name] = {"AP": s.ap, "AP_VOC": s.ap_voc, "best_F1": s.best.f1,
                           "best_F1_threshold": s.best.threshold,
                           "ms_per_image": timings[r.name].median_ms if timings else r.ms_per_image,
                           **(forgotten or {}).get(r.name, {})}
    base = scored[runs[0].name]
    comparisons = [(s.name, base.name, compare_ap(s, base, len(truth), n_boot)) for s in list(scored.values())[1:]]
    return Comparison("face_detection", f"{dataset}/test", device, metrics, comparisons,
                      {"stage_thresholds": list(thresholds), "iou_threshold": iou, "images": len(truth),
                       "faces": int(sum(len(t) for t in truth)),
                       "ms_range": {n: [t.low_ms, t.high_ms] for n, t in (timings or {}).items()},
                       "timing_busy": timing.busy_words(timings or {})}), scored


def run(variants: list[str], thresholds: tuple[float, float, float] = FLOOR, iou: float = STUDY_IOU,
        device: torch.device | None = None, dataset: str = DATASET, n_boot: int = paired.N_BOOT,
        max_images: int | None = None) -> Comparison:
    """Each variant over the test split (its first max_images, for a quick look), compared."""
    device = device or devices.pick_device()
    images, truth = test_images(dataset)
    images, truth = images[:max_images], truth[:max_images]
    runs = [run_variant(v, images, device) for v in variants]
    reference = reference_faces(device)
    forgotten = {v: forgetting(v, reference, device) for v in variants}
    timings = time_variants(variants, images, device)
    return compare(runs, truth, thresholds, iou, n_boot, forgotten, dataset, device.type, timings)[0]


def default_comparison(task: Study, dataset: str | None = None, store: RunStore | None = None,
                       device: torch.device | None = None, n_boot: int = paired.N_BOOT) -> Comparison:
    """The CLI's entry (the task table names it): pretrained MTCNN against PNet fine-tuned (the study) and all
    stages fine-tuned, training each that the store lacks."""
    store = store or RunStore()
    device = device or devices.pick_device()
    finetuned = [ensure_finetuned(store, device, s) for s in STUDY_STAGES]
    return run(["mtcnn/pretrained", *finetuned], device=device, dataset=dataset or task.default_dataset, n_boot=n_boot)


@functools.lru_cache(maxsize=2)
def _test_split(dataset: str) -> tuple[tuple[Image.Image, ...], tuple[np.ndarray, ...]]:
    images, truth = test_images(dataset)
    return tuple(images), tuple(truth)


def _scores(name: str, seed: int | None, dataset: str, device: torch.device) -> Scores:
    images, truth = _test_split(dataset)
    scored = score(run_variant(name, list(images), device, cache=True), list(truth), FLOOR)
    return {"AP": Replicate(seed, np.arange(len(images)), scored.ap_of_counts)}


def scores(run: Run, device: torch.device) -> Scores:
    """A fine-tuned run's AP on the test split (its cascade cached on disk) as a function of per-image draw counts."""
    return _scores(registry.run_variant(run).name, int(run.config.get("seed", 0)),
                   run.config.get("dataset") or DATASET, device)


def untrained(dataset: str, device: torch.device) -> dict[str, Scores]:
    """Pretrained MTCNN: the same for every seed."""
    return {"pretrained": _scores("mtcnn/pretrained", None, dataset, device)}


def key_figure(runs: dict[str, Run], dataset: str, device: torch.device) -> go.Figure:
    """The talk's figure: the PR overlay of pretrained MTCNN and each compared run (cascades cached on disk)."""
    images, truth = _test_split(dataset)
    named = {"pretrained": "mtcnn/pretrained", **{n: registry.run_variant(r).name for n, r in runs.items()}}
    scored = {n: score(run_variant(v, list(images), device, cache=True), list(truth), FLOOR) for n, v in named.items()}
    return plots.pr_figure({n: s.curve for n, s in scored.items()}, ap={n: s.ap for n, s in scored.items()})
