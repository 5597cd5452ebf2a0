"""The training loop: a frozen config in, one event per epoch out, whatever the task.

Images stream through a DataLoader (core.engine.streams): read and resized per sample, augmented
(flip, colour jitter, rotation, resized crop) as uint8, normalised per batch with the weights'
statistics on the training device. What is optimised and scored is the objective's business
(core.engine.objectives). With the "frozen" strategy and no augmentation, the backbone's features
are computed once and cached, so an epoch trains only the head.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2 as T

from core.data.types import LabelledImages
from core.engine import config as settings
from core.engine import distributed, objectives, streams
from core.engine.events import EpochEnd, Phase
from core.engine.strategies import StrategyConfig, apply, count_trainable, set_train_mode
from core.models import backbones

AUGMENTATIONS = ("flip", "jitter", "rotation", "crop")


@dataclass(frozen=True)
class TrainConfig:
    backbone: str = "mobilenet_v2"
    head: str = "linear"
    strategy: StrategyConfig = field(default_factory=lambda: StrategyConfig("finetune"))
    optimizer: str = "adam"
    batch_size: int = 64
    image_size: int = 64
    epochs: int = 3
    augment: tuple[str, ...] = ()
    class_weighted: bool = field(default=True, metadata={"flag": "class-weights"})
    mixed_precision: bool = True  # on CUDA only: fp16 autocast and channels_last
    seed: int = 0
    workers: int | None = None  # DataLoader worker processes; None: chosen from the split's size (streams.workers_for)
    limit_batches: int | None = None  # at most this many batches per pass (train, val, test): a quick look at a huge set

    def __post_init__(self) -> None:
        if self.backbone not in backbones.BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose from {sorted(backbones.BACKBONES)}")
        if self.head not in backbones.HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose from {list(backbones.HEADS)}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from ['adam', 'sgd']")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}; choose from {list(AUGMENTATIONS)}")
        if min(self.batch_size, self.epochs) < 1 or self.image_size < 16:
            raise ValueError("batch_size and epochs must be >= 1 and image_size >= 16")
        if (self.workers is not None and self.workers < 0) or (self.limit_batches is not None and self.limit_batches < 1):
            raise ValueError("workers must be >= 0 and limit_batches >= 1")

    def with_strategy(self, name: str) -> TrainConfig:
        """The same settings (learning rate and strategy parameters too) under another strategy."""
        return replace(self, strategy=replace(self.strategy, name=name))

    def to_dict(self) -> dict:
        """JSON-ready: what the run store keeps, and what from_dict reads back (core.engine.config)."""
        return settings.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config a table of its fields describes (a strategy given by name alone takes its defaults); keys
        that are no field are left out."""
        values = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        if isinstance(values.get("strategy"), str):
            values["strategy"] = {"name": values["strategy"]}
        return settings.read(cls, values)[0]


@dataclass(frozen=True)
class Predictions:
    """The trained model's outputs on the test split, after the last epoch."""

    index: np.ndarray  # (N,) positions in the dataset
    targets: np.ndarray  # (N,) class index or target value
    outputs: np.ndarray  # what the objective keeps: (N, C) class probabilities, (N,) predicted values
    seconds: float  # whole run: preprocessing, every epoch and the test pass


Event = Phase | EpochEnd | Predictions
VAL_FRACTION = 0.15


def _carve(idx: np.ndarray, targets: np.ndarray | None, fraction: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Split idx into (rest, carved); stratified by class when targets are given, at least one per class."""
    groups = [idx[targets[idx] == c] for c in np.unique(targets[idx])] if targets is not None else [idx]
    carved = []
    for g in groups:
        take = max(1, round(len(g) * fraction)) if len(g) > 1 else 0
        carved.append(rng.permutation(g)[:take])
    out = np.sort(np.concatenate(carved)) if carved else np.zeros(0, int)
    return np.setdiff1d(idx, out), out


def split_indices(data: LabelledImages, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) positions. A set without splits is cut 70/15/15; without val, 15% of train
    becomes val (stratified, seeded); without test, val doubles as test. The trainers cut with the default seed
    whatever a run's own seed: the split belongs to the data, so a setting's replicates are scored on the same test
    images and pair image by image (core.metrics.hierarchical)."""
    rng = np.random.default_rng(seed)
    targets = data.targets if data.classes is not None else None
    train, val, test = data.subset("train"), data.subset("val"), data.subset("test")
    if len(train) == 0 and len(val) == 0 and len(test) == 0:
        train, test = _carve(data.subset("all"), targets, VAL_FRACTION, rng)
    if len(val) == 0 and len(train):
        train, val = _carve(train, targets, VAL_FRACTION, rng)
    return train, val, test if len(test) else val


def check_dataset(data: LabelledImages, seed: int = 0, open_set: bool = False) -> None:
    """Refuse what cannot train, with the reason: too few images, one class, an empty class, NaN targets.
    open_set: the classes are people, and val/test people are not in training (verification)."""
    if data.classes is None:
        bad = np.flatnonzero(~np.isfinite(data.targets.astype(float)))
        if len(bad):
            raise ValueError(f"{data.name} has a NaN or infinite target (first at index {int(bad[0])}); "
                             "fix or remove that sample")
    elif len(data.classes) < 2 or len(np.unique(data.targets)) < 2:
        only = data.classes[int(data.targets[0])] if len(data.targets) else data.classes[0]
        raise ValueError(f"{data.name} has one class ({only}); a classifier needs at least two")
    train, val, _ = split_indices(data, seed)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"{data.name} has too few images to train and validate: {data.counts()}")
    if data.classes is not None and not open_set:
        counts = np.bincount(data.targets[train], minlength=len(data.classes))
        empty = [data.classes[i] for i in np.flatnonzero(counts == 0)]
        if empty:
            raise ValueError(f"{data.name}: class {empty[0]!r} has no training samples")


def _augmenter(names: tuple[str, ...], size: int) -> T.Compose | None:
    steps = {"flip": T.RandomHorizontalFlip(), "jitter": T.ColorJitter(0.2, 0.2, 0.2),
             "rotation": T.RandomRotation(10), "crop": T.RandomResizedCrop(size, scale=(0.7, 1.0), antialias=True)}
    return T.Compose([steps[n] for n in names]) if names else None


class _Batches:
    """Turns a loader's (uint8 images, targets) into (normalised float images on the device, targets)."""

    def __init__(self, normalise: T.Normalize, device: torch.device, channels_last: bool, target_dtype: torch.dtype,
                 limit: int | None) -> None:
        self.normalise, self.device, self.channels_last = normalise, device, channels_last
        self.target_dtype, self.limit = target_dtype, limit

    def images(self, loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in itertools.islice(loader, self.limit):
            x = self.normalise(x.to(self.device, non_blocking=True).float().div_(255))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.target_dtype)

    def tensors(self, loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in itertools.islice(loader, self.limit):
            yield x.to(self.device, non_blocking=True), y


@torch.inference_mode()
def _outputs(forward: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
             fast: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs as float on the CPU, targets) over a whole pass."""
    outs, targets = [], []
    with torch.autocast(device.type, dtype=torch.float16, enabled=fast):
        for x, y in batches:
            outs.append(forward(x).float().cpu())
            targets.append(y)
    return torch.cat(outs), torch.cat(targets)


BATCH_REPORT_SECONDS = 1.0  # at most one progress report a second while an epoch trains
TRAINING = "training, epoch"  # a Phase named "training, epoch k of n": done and total count this epoch's images
FEATURE_REPORT_EVERY = 4  # batches between two progress reports while a frozen backbone's features are computed


def _reported_outputs(forward: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                      fast: bool, phase: Phase) -> Iterator[Phase]:
    """_outputs over a pass, reporting the phase's progress every few batches; returns (outputs, targets, phase)."""
    outs, targets = [], []
    for n, (x, y) in enumerate(batches, start=1):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=fast):
            outs.append(forward(x).float().cpu())
        targets.append(y)
        phase = Phase(phase.name, phase.done + len(y), phase.total)
        if n % FEATURE_REPORT_EVERY == 0:
            yield phase
    return torch.cat(outs), torch.cat(targets), phase


def fit(data: LabelledImages, cfg: TrainConfig, device: torch.device | None = None,
        model: backbones.TransferModel | None = None, objective: objectives.Objective | None = None
        ) -> Iterator[Event]:
    """Train on the train split, validate on val each epoch (EpochEnd), then score the test split (Predictions).
    The objective defaults to the data's (classification or regression). On CUDA the model runs channels_last
    under fp16 autocast with a gradient scaler, unless cfg says not."""
    check_dataset(data, open_set=objective is not None and objective.open_set)
    run_start = time.perf_counter()
    device = device or torch.device("cpu")
    torch.manual_seed(cfg.seed)
    train_idx, val_idx, test_idx = split_indices(data)
    objective = (objective or objectives.for_data(data, train_idx, cfg.class_weighted)).to(device)
    sampler = objective.sampler(data.targets[train_idx], cfg.batch_size, cfg.seed)
    if sampler is not None and distributed.world() > 1:  # each process takes its slice of every drawn batch
        sampler = distributed.ShardedBatches(sampler, cfg.batch_size)
    step_batch = distributed.per_process_batch(cfg.batch_size)  # this process's share of each step
    shares = []  # the distributed samplers of the training passes, told the epoch each time
    if model is None:
        model, _ = backbones.build(cfg.backbone, objective.outputs, cfg.head, pretrained=cfg.strategy.pretrained)
    prep = backbones.preprocess(cfg.backbone)
    fast = device.type == "cuda" and cfg.mixed_precision
    model = model.to(device, memory_format=torch.channels_last) if fast else model.to(device)
    augment = _augmenter(cfg.augment, cfg.image_size)
    cached = cfg.strategy.name == "frozen" and augment is None
    batches = _Batches(T.Normalize(prep.mean, prep.std), device, fast, objective.target_dtype, cfg.limit_batches)

    def loader(idx: np.ndarray, train: bool, keep: bool) -> torch.utils.data.DataLoader:
        """keep: a split read every epoch stays in memory after its first pass when it fits (no workers then)."""
        workers = streams.workers_for(len(idx), cfg.image_size, cfg.workers)
        stream = streams.ImageStream(data.images, data.targets, idx, cfg.image_size, augment if train else None,
                                     keep=keep and workers == 0 and streams.fits_in_memory(len(idx), cfg.image_size))
        batch = step_batch if train else streams.eval_batch(cfg.batch_size, cfg.image_size)
        return streams.image_loader(stream, batch, train, cfg.seed, device, workers,
                                    (sampler or _share(stream)) if train else None)

    def _share(dataset: object) -> torch.utils.data.Sampler:
        shares.append(distributed.train_sampler(dataset, cfg.seed))  # type: ignore[arg-type]
        return shares[-1]

    test_loader = loader(test_idx, train=False, keep=False)
    if cached:  # the backbone never changes: its features once, then the head alone trains
        phase = Phase("computing the frozen backbone's features", 0, len(train_idx) + len(val_idx))
        yield phase
        model.eval()
        feats = {}
        for name, idx in (("train", train_idx), ("val", val_idx)):
            outputs, targets, phase = yield from _reported_outputs(
                model.features, batches.images(loader(idx, False, False)), device, fast, phase)
            feats[name] = (outputs, targets)
        train_loader = streams.tensor_loader(*feats["train"], step_batch, True, cfg.seed,
                                             sampler or _share(feats["train"][0]))
        val_batches = lambda: batches.tensors(streams.tensor_loader(*feats["val"], 256, False, 0))
        train_batches = lambda: batches.tensors(train_loader)
        forward: nn.Module = model.head
    else:
        train_loader, val_loader = loader(train_idx, True, True), loader(val_idx, False, True)
        train_batches, val_batches = (lambda: batches.images(train_loader)), (lambda: batches.images(val_loader))
        forward = model
    scaler = torch.amp.GradScaler("cuda", enabled=fast)
    optimiser, opened, step = None, None, forward
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        for share in shares:
            share.set_epoch(epoch)
        groups = apply(model, cfg.strategy, epoch)
        blocks = tuple(g["block"] for g in groups)
        if blocks != opened:  # a new optimiser only when the trainable set changes, so Adam keeps its moments
            optimiser = (torch.optim.Adam(groups) if cfg.optimizer == "adam" else
                         torch.optim.SGD(groups, momentum=0.9))
            opened = blocks
            step = distributed.wrap(forward, device)  # DDP syncs what is trainable now
        set_train_mode(model, cfg.strategy, epoch)
        total, seen, correct = 0.0, 0, None
        reported = time.perf_counter()
        for x, target in train_batches():
            target = target.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=fast):
                out = step(x)
                loss = objective.loss(out, target)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += loss.item() * len(target)
            seen += len(target)
            right = objective.correct(out, target)
            if right is not None:
                correct = right if correct is None else correct + right
            if time.perf_counter() - reported > BATCH_REPORT_SECONDS:  # the live view moves within an epoch
                reported = time.perf_counter()
                yield Phase(f"{TRAINING} {epoch + 1} of {cfg.epochs}", seen, len(train_idx))
        total, seen, correct = distributed.total(total, seen, float(correct) if correct is not None else -1.0)
        correct = None if correct < 0 else correct
        model.eval()
        val_loss, scores = objective.evaluate(*_outputs(forward, val_batches(), device, fast))
        yield EpochEnd(epoch, objective.train_loss_units(total / seen), val_loss, scores, time.perf_counter() - start,
                       count_trainable(model, cfg.strategy, epoch), None if correct is None else float(correct) / seen)
    model.eval()
    out, targets = _outputs(model, batches.images(test_loader), device, fast)
    shown = test_idx[:len(targets)]  # all of it, unless limit_batches cut the pass short
    yield Predictions(shown, data.targets[shown], objective.test_outputs(out), time.perf_counter() - run_start)
