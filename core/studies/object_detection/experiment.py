"""Object detection: one YOLO architecture trained from scratch and from pretrained weights, checkpoint by
checkpoint, and beside MTCNN on the cartoon faces.

Each kept checkpoint's test-split predictions (cached by the trainer) are scored twice: by our
metrics module (COCO rules: 101 recall points, at most 100 detections per image and class) and
by ultralytics' own code on the same predictions (its AP integrates the interpolated PR curve by
the trapezoid rule, and its P and R are read at the score that maximises a smoothed mean F1).
Both match greedily in descending score. P, R and F1 here are at each class's best-F1 score at
IoU 0.5, averaged over classes. The best checkpoint is the kept one with the highest validation
fitness as ultralytics defines it (0.1 AP50 + 0.9 AP50-95 on the val split).

    python -m core.experiments object_detection --json [--quick]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from core import devices, registry, timing
from core.data import yolo_layout
from core.data.types import DetectionSet, open_image
from core.engine.events import Finished
from core.engine.store import Run, RunStore
from core.engine.study import Scores, Study
from core.experiments.comparison import Comparison
from core.metrics import detection as det
from core.metrics import paired
from core.metrics.hierarchical import Replicate
from core.models import imported, yolo
from core.studies.face_detection import experiment as face_detection
from core.studies.object_detection import train as trainer
from core.studies.object_detection.scoring import IOU, ScoredBoxes, mean_ap_of_counts, score

DATASET = trainer.DEFAULT_DATASET
TIMED_IMAGES = 8  # ms_per_image: interleaved rounds over the first test images
MTCNN_VARIANTS = ("mtcnn/pretrained",)


@dataclass(frozen=True)
class Checkpoint:
    """One kept checkpoint of a run."""

    run: Run
    label: str  # "epoch 3"
    epoch: int
    path: str
    val: dict[str, float]  # ultralytics' validation numbers when it was kept

    @property
    def variant(self) -> str:
        return registry.yolo_variant(self.run).name

    @property
    def fitness(self) -> float:
        return 0.1 * self.val.get("AP50", 0.0) + 0.9 * self.val.get("AP50-95", 0.0)


def checkpoints(run: Run) -> list[Checkpoint]:
    return [Checkpoint(run, c["label"], int(c["epoch"]), c["path"],
                       {k: float(c[k]) for k in ("P", "R", "AP50", "AP50-95") if k in c})
            for c in run.metrics.get("checkpoints", [])]


def best_and_last(run: Run) -> dict[str, Checkpoint]:
    kept = checkpoints(run)
    if not kept:
        return {}
    return {"best": max(kept, key=lambda c: (c.fitness, c.epoch)), "last": kept[-1]}


def runs_on(dataset: str, store: RunStore | None = None) -> dict[str, list[Run]]:
    """Usable YOLO runs on this set by start ("scratch", "pretrained"): finished ones first, newest first; then
    those stopped after a kept checkpoint."""
    found: dict[str, list[Run]] = {s: [] for s in trainer.STARTS}
    for run in reversed((store or RunStore()).list()):
        if run.task == trainer.TASK and registry.usable(run) and run.config.get("dataset") == dataset \
                and checkpoints(run):
            found[str(run.config.get("start"))].append(run)
    return {start: sorted(runs, key=lambda r: r.status != "done") for start, runs in found.items()}


def test_split(dataset: str) -> tuple[DetectionSet, list]:
    data = trainer.detection_set(dataset)
    return data, yolo_layout.assign_splits(data)["test"]


def checkpoint_found(c: Checkpoint, data: DetectionSet, device: torch.device) -> list[yolo.Found]:
    return trainer.predict_split(c.path, data, "test", int(c.run.config["image_size"]), device)


def time_checkpoints(chosen: dict[str, Checkpoint], samples: list, device: torch.device,
                     rounds: int = timing.ROUNDS) -> dict[str, timing.Timing]:
    """The chosen checkpoints timed together on the first test images at the floor score: warmed up,
    interleaved rounds, median and range (core.timing)."""
    images = [open_image(s.image) for s in samples[:TIMED_IMAGES]]
    detectors = {n: yolo.Detector.from_checkpoint(c.path, int(c.run.config["image_size"]), device)
                 for n, c in chosen.items()}
    return timing.interleaved({n: (lambda d=d: d.find(images)) for n, d in detectors.items()}, items=len(images),
                              rounds=rounds, device=device)


def yours_found(name: str, data: DetectionSet, device: torch.device) -> list[yolo.Found]:
    """Your imported detector's predictions on the set's test split, cached beside it; ValueError when its classes
    are not the set's."""
    meta = imported.get(name)
    if meta.task != "object_detection":
        raise ValueError(f"yours/{name} is a {meta.task} model, not a detector")
    if list(meta.classes) != list(data.classes):
        raise ValueError(f"yours/{name} detects {', '.join(meta.classes)}; this set's classes are "
                         f"{', '.join(data.classes)}")
    samples = yolo_layout.assign_splits(data)["test"]
    cache = meta.folder / f"found.{yolo_layout.key(data)}.test.{meta.sha256[:12]}.npz"
    return yolo.cached_find(cache, lambda: yolo.Detector.from_import(meta, device), [s.image for s in samples],
                            open_image)


def study(runs: list[Run], dataset: str = DATASET, device: torch.device | None = None, n_boot: int = paired.N_BOOT,
          timed: bool = True, yours: tuple[str, ...] = ()) -> tuple[Comparison, dict[str, ScoredBoxes]]:
    """Each run's best and last checkpoints scored on the test split; AP50 of each run against the first one's,
    at the last and at the best checkpoint, by paired bootstrap over images. yours: imported detectors scored on
    the same images, each against the first run's best checkpoint (ValueError for one that does not fit the set)."""
    device = device or devices.pick_device()
    data, samples = test_split(dataset)
    variants, scored, rows, picks, timed_ones = {}, {}, [], [], {}
    for run in runs:
        chosen = best_and_last(run)
        for c in checkpoints(run):
            s = score(f"{c.variant}@{c.label.replace(' ', '')}", checkpoint_found(c, data, device), samples,
                      data.classes)
            rows.append({"variant": c.variant, "start": run.config.get("start"), "checkpoint": c.label,
                         "epoch": c.epoch, **{f"val_{k}": v for k, v in c.val.items()}, **s.metrics})
            if c in chosen.values():
                scored[s.name] = s
                timed_ones[s.name] = c
                variants[s.name] = {**s.metrics, "val_AP50": c.val.get("AP50", float("nan")), "epoch": c.epoch,
                                    "ms_per_image": float("nan"),
                                    "train_images_per_s": float(run.metrics.get("train_images_per_s", float("nan")))}
        picks.append({"variant": registry.yolo_variant(run).name, "start": run.config.get("start"),
                      **{k: f"{registry.yolo_variant(run).name}@{c.label.replace(' ', '')}" for k, c in chosen.items()}})
    speeds = time_checkpoints(timed_ones, samples, device) if timed and timed_ones else {}
    for name, t in speeds.items():
        variants[name]["ms_per_image"] = t.median_ms
    comparisons = []
    for name in yours:
        s = score(f"yours/{name}", yours_found(name, data, device), samples, data.classes)
        scored[s.name] = s
        variants[s.name] = {**s.metrics, "val_AP50": float("nan"), "epoch": float("nan"), "ms_per_image": float("nan"),
                            "train_images_per_s": float("nan")}
        if picks:
            first = scored[picks[0]["best"]]
            comparisons.append((s.name, first.name, paired.paired_bootstrap(s.ap_of_counts, first.ap_of_counts,
                                                                           len(samples), "AP50", n_boot=n_boot)))
    for pick in picks[1:]:
        for which in ("last", "best")[:1 + (pick["best"] != pick["last"] or picks[0]["best"] != picks[0]["last"])]:
            a, b = scored[pick[which]], scored[picks[0][which]]
            comparisons.append((a.name, b.name, paired.paired_bootstrap(a.ap_of_counts, b.ap_of_counts, len(samples),
                                                                          "AP50", n_boot=n_boot)))
    extra = {"images": len(samples), "objects": int(sum(len(s.boxes) for s in samples)), "classes": data.classes,
             "checkpoints": picks, "per_checkpoint": rows, "iou_threshold": IOU,
             "ms_range": {n: [t.low_ms, t.high_ms] for n, t in speeds.items()},
             "timing_busy": timing.busy_words(speeds),
             "settings": {r.id: r.config for r in runs}, "yours": [f"yours/{n}" for n in yours]}
    return Comparison("object_detection", f"{dataset}/test", device.type, variants, comparisons, extra), scored


def cross_family(yolo_scored: dict[str, ScoredBoxes], dataset: str = DATASET, device: torch.device | None = None,
                 mtcnn_variants: tuple[str, ...] = MTCNN_VARIANTS, n_boot: int = paired.N_BOOT
                 ) -> tuple[Comparison, dict[str, det.PRCurve]]:
    """MTCNN variants and YOLO checkpoints on the same test images at IoU 0.5: AP50 each, PR curves, and each
    one against the first YOLO entry by paired bootstrap."""
    device = device or devices.pick_device()
    data, samples = test_split(dataset)
    truth = [(np.asarray(s.boxes, float).reshape(-1, 4), np.zeros(len(s.boxes), int)) for s in samples]
    images = [open_image(s.image) for s in samples]
    entries = dict(yolo_scored)
    for name in mtcnn_variants:
        run = face_detection.run_variant(name, images, device)
        staged = face_detection.score(run, [t[0] for t in truth], face_detection.FLOOR, IOU).detections
        found = [yolo.Found(d.boxes, d.scores, np.zeros(len(d.scores), int)) for d in staged]
        entries[name] = score(name, found, samples, ["face"])
    metrics = {n: {"AP50": s.metrics["AP50"], "F1": s.metrics["F1"]} for n, s in entries.items()}
    first = next(iter(yolo_scored.values()))
    comparisons = [(n, first.name, paired.paired_bootstrap(s.ap_of_counts, first.ap_of_counts, len(samples), "AP50",
                                                           n_boot=n_boot))
                   for n, s in entries.items() if n != first.name]
    curves = {n: next(iter(s.result.curves.values())) for n, s in entries.items()}
    return Comparison("object_detection", f"{dataset}/test", device.type, metrics, comparisons,
                      {"iou_threshold": IOU, "images": len(samples)}), curves


def ensure_pair(cfg: trainer.YoloConfig, store: RunStore, device: torch.device) -> list[Run]:
    """The newest scratch and pretrained runs with these settings on cfg.dataset, training those missing."""
    wanted = {k: v for k, v in asdict(cfg).items() if k not in ("start", "source")}

    def same(run: Run) -> bool:
        return all(run.config.get(k) == v for k, v in wanted.items())
    found = {s: [r for r in rs if same(r) and r.status == "done"] for s, rs in runs_on(cfg.dataset, store).items()}
    missing = [s for s in trainer.STARTS if not found[s]]
    for start in missing:
        queued = trainer.queue_run(replace(cfg, start=start), store)
        finished = [e for e in trainer.train(cfg, store, device, queued) if isinstance(e, Finished)]
        found[start] = [store.get(finished[0].run_id)]
    return [found[s][0] for s in trainer.STARTS]


def default_comparison(task: Study, dataset: str | None = None, store: RunStore | None = None,
                       device: torch.device | None = None, quick: bool = False, n_boot: int = paired.N_BOOT
                       ) -> Comparison:
    """The CLI's entry: scratch against pretrained at the quick settings (or the full ones), trained when the
    store lacks them; on the cartoon faces, MTCNN joins in the cross-family table."""
    store = store or RunStore()
    device = device or devices.pick_device()
    cfg = replace(trainer.QUICK if quick else trainer.FULL, dataset=dataset or task.default_dataset)
    runs = ensure_pair(cfg, store, device)
    result, scored = study(runs, cfg.dataset, device, n_boot)
    if cfg.dataset == DATASET:
        best = [p["best"] for p in reversed(result.extra["checkpoints"])]  # the pretrained start first: the baseline
        family, _ = cross_family({n: scored[n] for n in best}, cfg.dataset, device, n_boot=n_boot)
        result.extra["cross_family"] = family.as_json()
    return result


def scores(run: Run, device: torch.device) -> Scores:
    """A run's AP50 (mean over classes) on the test split at its best kept checkpoint (by validation fitness, as
    ultralytics keeps best.pt), as a function of per-image draw counts."""
    best = best_and_last(run).get("best")
    if best is None:
        raise ValueError(f"run {run.id} kept no checkpoint")
    data, samples = test_split(run.config.get("dataset") or DATASET)
    truth = [(np.asarray(s.boxes, float).reshape(-1, 4), np.asarray(s.labels, int)) for s in samples]
    metric = mean_ap_of_counts(checkpoint_found(best, data, device), truth, list(range(len(data.classes))))
    return {"AP50": Replicate(int(run.config.get("seed", 0)), np.arange(len(samples)), metric)}
