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

from core import devices, registry, tasks, timing
from core.data import yolo_layout
from core.data.types import DetectionSet, open_image
from core.experiments import face_detection
from core.experiments.comparison import Comparison
from core.metrics import detection as det
from core.metrics import paired
from core.models import yolo
from core.train import yolo as trainer
from core.train.events import Finished
from core.train.runstore import Run, RunStore

DATASET = trainer.DEFAULT_DATASET
IOU = 0.5  # AP50's, and the IoU of the PR curves and the cross-family table
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


@dataclass(frozen=True)
class Scored:
    """A detector's test predictions, matched and scored."""

    name: str
    found: list[yolo.Found]
    result: det.DetectionResult
    metrics: dict[str, float]
    ap_of_counts: object  # Callable[[np.ndarray], float]: AP50 from per-image draw counts, for the bootstrap


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


def score(name: str, found: list[yolo.Found], samples: list, classes: list[str]) -> Scored:
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
    return Scored(name, found, result, metrics, mean_ap_of_counts(found, truth, list(names)))


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


def study(runs: list[Run], dataset: str = DATASET, device: torch.device | None = None, n_boot: int = paired.N_BOOT,
          timed: bool = True) -> tuple[Comparison, dict[str, Scored]]:
    """Each run's best and last checkpoints scored on the test split; AP50 of each run against the first one's,
    at the last and at the best checkpoint, by paired bootstrap over images."""
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
    for pick in picks[1:]:
        for which in ("last", "best")[:1 + (pick["best"] != pick["last"] or picks[0]["best"] != picks[0]["last"])]:
            a, b = scored[pick[which]], scored[picks[0][which]]
            comparisons.append((a.name, b.name, paired.paired_bootstrap(a.ap_of_counts, b.ap_of_counts, len(samples),
                                                                          "AP50", n_boot=n_boot)))
    extra = {"images": len(samples), "objects": int(sum(len(s.boxes) for s in samples)), "classes": data.classes,
             "checkpoints": picks, "per_checkpoint": rows, "iou_threshold": IOU,
             "ms_range": {n: [t.low_ms, t.high_ms] for n, t in speeds.items()},
             "settings": {r.id: r.config for r in runs}}
    return Comparison("object_detection", f"{dataset}/test", device.type, variants, comparisons, extra), scored


def cross_family(yolo_scored: dict[str, Scored], dataset: str = DATASET, device: torch.device | None = None,
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


def default_comparison(task: tasks.Task, dataset: str | None = None, store: RunStore | None = None,
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
