"""Fine-tune MTCNN's stages on a detection set (the face study: PNet on cartoon faces).

    python -m core.studies.face_detection --stages pnet            # the study: PNet only
    python -m core.studies.face_detection --stages pnet rnet onet  # all stages
    python -m core.studies.face_detection --run RUN_ID             # a run already queued in the store (by a page)

Each stage trains on its mined samples (core.studies.face_detection.samples) with a classification loss on
faces and background and a box-regression loss on faces and part faces. PNet gets an optional
round of hard negatives: its own confident proposals on training images that overlap no face.
The run goes through the run store's lifecycle (a checkpoint of the stages trained so far after
every epoch); when it finishes, its checkpoint is a variant on every page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from facenet_pytorch import MTCNN
from torch import nn

from core import devices
from core.data import catalogue
from core.data.types import DetectionSample, DetectionSet, open_image
from core.engine import config as settings
from core.engine import finals
from core.engine.events import EpochEnd, Finished, Phase
from core.engine.store import Recorder, Run, RunStore
from core.metrics import detection as det
from core.metrics import paired
from core.models import mtcnn_batched
from core.studies.face_detection import samples as ms

BASE_VARIANT = "mtcnn/pretrained"
EVAL_THRESHOLDS = mtcnn_batched.STUDY_THRESHOLDS
EVAL_IOU = mtcnn_batched.STUDY_IOU
HARD_NEGATIVE_IMAGES = 200
HARD_NEGATIVES_PER_IMAGE = 10


@dataclass(frozen=True)
class MTCNNConfig:
    stages: tuple[str, ...] = ("pnet",)
    dataset: str = "cartoon_faces/detection"
    epochs: int = 8
    lr: float = 5e-4
    batch_size: int = 256
    box_weight: float = 0.5
    hard_negatives: bool = True
    per_face: int = 10
    refine_epochs: int = 4  # RNet and ONet: larger inputs, fewer passes keep all stages under 2 minutes on 2 cores
    refine_per_face: int = 6
    seed: int = 0
    max_train_images: int | None = None  # caps for quick runs and tests
    max_val_images: int | None = None

    def __post_init__(self) -> None:
        if not self.stages or any(s not in ms.STAGE_SIZE for s in self.stages):
            raise ValueError(f"stages must be a non-empty subset of {sorted(ms.STAGE_SIZE)}, got {self.stages}")
        if min(self.epochs, self.refine_epochs, self.batch_size, self.per_face, self.refine_per_face) < 1 or self.lr <= 0:
            raise ValueError("epochs, batch sizes and samples per face must be >= 1 and lr > 0")

    @property
    def strategy(self) -> str:
        return "finetuned-" + ("all" if set(self.stages) == set(ms.STAGE_SIZE) else "-".join(self.stages))

    def to_dict(self) -> dict:
        return settings.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MTCNNConfig:
        return settings.read(cls, d, LABELS)[0]


QUICK = MTCNNConfig(stages=("pnet",))  # the study's variant: about 15 s on 2 CPU cores
LABELS = ("strategy", "head")  # stored beside the settings, for the tables and the registry


@dataclass(frozen=True)
class Evaluated:
    """AP at the study's IoU on the validation split, before and after."""

    ap_pretrained: float
    ap_finetuned: float
    ci_finetuned: tuple[float, float] = (float("nan"), float("nan"))  # 95%, resampling validation images
    images: int = 0


Event = Phase | EpochEnd | Evaluated | Finished


def _outputs(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(box regression (N, 4), face probability pair (N, 2)) for any of the three nets."""
    out = net(x)
    reg, prob = out[0], out[-1]
    return reg.reshape(len(x), 4), prob.reshape(len(x), 2)


def _losses(net: nn.Module, x: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor,
            box_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    reg, prob = _outputs(net, x)
    scored = labels >= 0
    class_loss = nn.functional.nll_loss(torch.log(prob[scored] + 1e-7), labels[scored]) if scored.any() else \
        reg.sum() * 0
    boxed = labels != ms.LABEL_NEGATIVE
    box_loss = nn.functional.mse_loss(reg[boxed], offsets[boxed]) if boxed.any() else reg.sum() * 0
    return class_loss + box_weight * box_loss, class_loss, box_loss


@torch.no_grad()
def _accuracy(net: nn.Module, data: ms.StageSamples, device: torch.device) -> float:
    scored = data.labels >= 0
    _, prob = _outputs(net, data.images[scored].to(device))
    return float(((prob[:, 1] > 0.5).long().cpu() == data.labels[scored]).float().mean())


def fit_stage(net: nn.Module, stage: str, train: ms.StageSamples, val: ms.StageSamples, cfg: MTCNNConfig,
              device: torch.device, epochs: int, first_epoch: int = 0) -> Iterator[EpochEnd]:
    """Adam over shuffled mini-batches; one event per epoch."""
    generator = torch.Generator().manual_seed(cfg.seed + first_epoch)
    optimiser = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for epoch in range(first_epoch, first_epoch + epochs):
        start = time.perf_counter()
        net.train()
        order = torch.randperm(len(train), generator=generator)
        totals = np.zeros(3)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss, class_loss, box_loss = _losses(net, train.images[idx].to(device), train.labels[idx].to(device),
                                                 train.offsets[idx].to(device), cfg.box_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            totals += np.array([loss.item(), class_loss.item(), box_loss.item()]) * len(idx)
        net.eval()
        loss, class_loss, box_loss = (totals / len(order)).tolist()
        yield EpochEnd(epoch, loss, None, {"face_accuracy": _accuracy(net, val, device)}, time.perf_counter() - start,
                       sum(p.numel() for p in net.parameters()), phase=stage,
                       losses={"class": class_loss, "box": box_loss})


MINING_CHUNK = 8  # images mined between two progress reports


@torch.no_grad()
def hard_negatives(pnet: nn.Module, samples: list[DetectionSample], device: torch.device,
                   per_image: int = HARD_NEGATIVES_PER_IMAGE) -> ms.StageSamples:
    """PNet's most confident proposals that overlap no face (IoU < 0.3), as 12 px negatives."""
    crops = []
    for sample in samples:
        image = open_image(sample.image)
        tensor = torch.as_tensor(np.array(image), device=device).permute(2, 0, 1).float()[None]
        boxes, scores, _ = mtcnn_batched.proposals(tensor, pnet, EVAL_THRESHOLDS[0], 20, 0.709)
        boxes, scores = boxes[:, :4].cpu().numpy(), scores.cpu().numpy()
        if len(sample.boxes) and len(boxes):
            free = det.iou_matrix(boxes, sample.boxes).max(axis=1) < ms.NEGATIVE_IOU
            boxes, scores = boxes[free], scores[free]
        inside = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= image.width) & \
                 (boxes[:, 3] <= image.height) & (boxes[:, 2] - boxes[:, 0] >= ms.MIN_SIDE)
        for box in boxes[inside][np.argsort(-scores[inside])][:per_image]:
            crops.append(ms.crop_resized(image, box, ms.STAGE_SIZE["pnet"]))
    if not crops:
        return ms.StageSamples(torch.zeros(0, 3, 12, 12), torch.zeros(0, dtype=torch.long), torch.zeros(0, 4))
    pixels = torch.as_tensor(np.stack(crops), dtype=torch.float32).permute(0, 3, 1, 2)
    return ms.StageSamples(mtcnn_batched.normalise(pixels), torch.zeros(len(crops), dtype=torch.long),
                           torch.zeros(len(crops), 4))


def validation_ap(nets: MTCNN, samples: list[DetectionSample], device: torch.device,
                  n_boot: int = 0) -> tuple[float, tuple[float, float]]:
    """AP (COCO 101-point) at the study's IoU, on the given images, with its permissive thresholds; and with
    n_boot, its 95% percentile CI from resampling images (else (nan, nan))."""
    found = mtcnn_batched.detect([open_image(s.image) for s in samples], nets.pnet, nets.rnet, nets.onet,
                                 EVAL_THRESHOLDS, device=device)
    truth = {i: det.ImageTruth(s.boxes, np.zeros(len(s.boxes), int)) for i, s in enumerate(samples)}
    dets = {i: det.ImageDetections(d.boxes, d.scores, np.zeros(len(d.boxes), int)) for i, d in enumerate(found)}
    ap = det.evaluate(truth, dets, iou_thresholds=(EVAL_IOU,)).stats["AP"]
    if n_boot < 1 or len(samples) < 2:
        return ap, (float("nan"), float("nan"))
    matches = [det.match_image(d.boxes, d.scores, s.boxes, EVAL_IOU) for d, s in zip(found, samples, strict=True)]
    metric = det.ap_of_counts(np.concatenate([np.full(len(d.scores), i) for i, d in enumerate(found)]),
                              np.concatenate([d.scores for d in found]), np.concatenate([m.is_tp for m in matches]),
                              np.array([len(s.boxes) for s in samples]))
    return ap, paired.ci_of(metric, len(samples), n_boot)


def _detection_set(name: str) -> tuple[list[DetectionSample], list[DetectionSample]]:
    data = catalogue.load(name)
    if not isinstance(data, DetectionSet):
        raise ValueError(f"{name} is a {data.task} set; MTCNN fine-tuning needs boxes")
    train, val = data.split_samples("train"), data.split_samples("val")
    if not train or not val:
        raise ValueError(f"{name} needs train and val splits with images; it has {data.counts()}")
    return train, val


def queue(cfg: MTCNNConfig, store: RunStore) -> str:
    """A queued run for this config, its data checked first."""
    _detection_set(cfg.dataset)
    return store.create("face_detection", BASE_VARIANT, "face_detection",
                        {**cfg.to_dict(), "strategy": cfg.strategy, "head": "boxes"})


def config_of(run: Run) -> MTCNNConfig:
    return MTCNNConfig.from_dict(run.config)


def finetune(cfg: MTCNNConfig, store: RunStore | None = None, device: torch.device | None = None,
             run_id: str | None = None) -> Iterator[Event]:
    """Train the configured stages from the pretrained weights, evaluate, save; events as it goes.
    run_id: a queued run to carry out (else one is created)."""
    store = store or RunStore()
    device = device or devices.pick_device()
    run_id = run_id or queue(cfg, store)
    with store.recording(run_id) as rec:
        yield from _finetune(cfg, rec, device)
    yield Finished(run_id, f"mtcnn/{cfg.strategy}-{run_id}", store.get(run_id).metrics.get("seconds", 0.0))


def queue_config(cfg: MTCNNConfig, store: RunStore) -> list[str]:
    """The study's queue: one run for this config."""
    return [queue(cfg, store)]


def train_run(run: Run, rec: Recorder, device: torch.device) -> Iterator[Event]:
    """The study's trainer: a queued run, carried out inside its recording (the one worker opens it)."""
    return _finetune(config_of(run), rec, device)


def _finetune(cfg: MTCNNConfig, rec: Recorder, device: torch.device) -> Iterator[Event]:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    train, val = _detection_set(cfg.dataset)
    train, val = train[: cfg.max_train_images], val[: cfg.max_val_images]
    nets = MTCNN(device=device).eval()
    for event in _stages(cfg, nets, train, val, device):
        if isinstance(event, Evaluated):
            rec.note(**{f"val_AP{round(EVAL_IOU * 100)}_pretrained": event.ap_pretrained,
                        f"val_AP{round(EVAL_IOU * 100)}": event.ap_finetuned},
                     final=finals.record(f"validation AP at IoU {EVAL_IOU:g}", event.ap_finetuned,
                                         event.ci_finetuned, f"{event.images:,} validation images"))
        else:
            rec.event(event)
        if isinstance(event, EpochEnd):  # the stages trained so far
            rec.checkpoint({s: getattr(nets, s).state_dict() for s in _trained(cfg, event.phase)}, event.label)
        yield event
    rec.note(seconds=time.perf_counter() - start)


def _trained(cfg: MTCNNConfig, stage: str) -> list[str]:
    """The stages with new weights once `stage` has started: those before it, and itself."""
    return list(cfg.stages[: cfg.stages.index(stage) + 1])


def _stages(cfg: MTCNNConfig, nets: MTCNN, train: list[DetectionSample], val: list[DetectionSample],
            device: torch.device) -> Iterator[Phase | EpochEnd | Evaluated]:
    """Each stage in turn, trained in place in nets."""
    for k, stage in enumerate(cfg.stages):
        net = getattr(nets, stage)
        epochs, per_face = (cfg.epochs, cfg.per_face) if stage == "pnet" else (cfg.refine_epochs, cfg.refine_per_face)
        yield Phase(f"mining {stage} samples from the boxes")
        train_samples = ms.mine(train, stage, per_face, seed=cfg.seed + k)
        val_samples = ms.mine(val, stage, 2, seed=cfg.seed + 100 + k)
        yield from fit_stage(net, stage, train_samples, val_samples, cfg, device, epochs)
        if stage == "pnet" and cfg.hard_negatives:
            pool, parts = train[:HARD_NEGATIVE_IMAGES], []
            for i in range(0, len(pool), MINING_CHUNK):  # in chunks, so the page can show how far it got
                yield Phase("mining PNet's hard negatives", i, len(pool))
                parts.append(hard_negatives(net, pool[i:i + MINING_CHUNK], device))
            hard = ms.concat(parts) if parts else hard_negatives(net, [], device)
            yield from fit_stage(net, stage, ms.concat([train_samples, hard]), val_samples, cfg, device, epochs=1,
                                 first_epoch=epochs)
    # scored after training, so that training starts at once and a stopped run skips it
    yield Phase("scoring the pretrained and the fine-tuned model on the validation images")
    ap, ci = validation_ap(nets, val, device, paired.N_BOOT_LIVE)
    yield Evaluated(validation_ap(MTCNN(device=device).eval(), val, device)[0], ap, ci, len(val))
