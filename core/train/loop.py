"""The transfer training loop: a frozen config in, one event per epoch out.

Images are preprocessed once to tensors at the configured size with the weights' normalisation;
augmentation (flip, colour jitter, rotation, resized crop) runs per sample on the training batch.
With the "frozen" strategy and no augmentation, the backbone's features are computed once and
cached, so an epoch trains only the head.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2 as T

from core.data.types import LabelledImages, open_image
from core.metrics import classification, regression
from core.models import backbones
from core.train.strategies import StrategyConfig, apply, count_trainable, set_train_mode

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
    class_weighted: bool = True
    mixed_precision: bool = True  # on CUDA only: fp16 autocast and channels_last
    seed: int = 0

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


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    train_loss: float  # the training loss; regression: L1 in the target's units, like val_loss
    val_loss: float
    val: dict[str, float]  # classification: accuracy, mCA, macro_f1; regression: MAE, pearson, spearman
    trainable: int
    seconds: float
    train_accuracy: float | None = None  # classification: on the training batches as they went by


@dataclass(frozen=True)
class Predictions:
    """The trained model's outputs on the test split, after the last epoch."""

    index: np.ndarray  # (N,) positions in the dataset
    targets: np.ndarray  # (N,) class index or target value
    outputs: np.ndarray  # (N, C) class probabilities, or (N,) predicted values
    seconds: float  # whole run: preprocessing, every epoch and the test pass


Event = EpochEnd | Predictions
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
    becomes val (stratified, seeded); without test, val doubles as test."""
    rng = np.random.default_rng(seed)
    targets = data.targets if data.classes is not None else None
    train, val, test = data.subset("train"), data.subset("val"), data.subset("test")
    if len(train) == 0 and len(val) == 0 and len(test) == 0:
        train, test = _carve(data.subset("all"), targets, VAL_FRACTION, rng)
    if len(val) == 0 and len(train):
        train, val = _carve(train, targets, VAL_FRACTION, rng)
    return train, val, test if len(test) else val


def check_dataset(data: LabelledImages, seed: int = 0) -> None:
    """Refuse what cannot train, with the reason: too few images, one class, an empty class, NaN targets."""
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
    if data.classes is not None:
        counts = np.bincount(data.targets[train], minlength=len(data.classes))
        empty = [data.classes[i] for i in np.flatnonzero(counts == 0)]
        if empty:
            raise ValueError(f"{data.name}: class {empty[0]!r} has no training samples")


def to_tensors(data: LabelledImages, idx: np.ndarray, size: int, mean: tuple | None = None,
               std: tuple | None = None) -> torch.Tensor:
    """(N, 3, size, size) float tensors: any size or mode in, RGB resized out, in [0, 1] or, given mean
    and std, normalised."""
    steps = [T.ToImage(), T.Resize((size, size), antialias=True), T.ToDtype(torch.float32, scale=True)]
    resize = T.Compose(steps + ([T.Normalize(mean, std)] if mean is not None else []))
    return torch.stack([resize(open_image(data.images[i])) for i in idx])


def train_batch(x: torch.Tensor, augment: T.Compose | None, normalise: T.Normalize) -> torch.Tensor:
    """Augment each image in [0, 1] (colour jitter clamps to that range), then normalise the batch."""
    if augment is not None:
        x = torch.stack([augment(sample) for sample in x])
    return normalise(x)


def _augmenter(names: tuple[str, ...], size: int) -> T.Compose | None:
    steps = {"flip": T.RandomHorizontalFlip(), "jitter": T.ColorJitter(0.2, 0.2, 0.2),
             "rotation": T.RandomRotation(10), "crop": T.RandomResizedCrop(size, scale=(0.7, 1.0), antialias=True)}
    return T.Compose([steps[n] for n in names]) if names else None


def _scores(outputs: torch.Tensor, targets: torch.Tensor, classes: list[str] | None) -> dict[str, float]:
    if classes is None:
        r = regression.evaluate(targets.numpy(), outputs.squeeze(1).numpy())
        return {"MAE": r.mae, "pearson": r.pearson, "spearman": r.spearman}
    r = classification.evaluate(targets.numpy(), outputs.argmax(1).numpy(), classes)
    return {"accuracy": r.accuracy, "mCA": r.mean_class_accuracy, "macro_f1": r.macro["f1"]}


def _batches(forward: nn.Module, x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """forward over x in chunks of 256, outputs as float on the CPU."""
    out = []
    for i in range(0, len(x), 256):
        chunk = x[i:i + 256].to(device)
        out.append(forward(chunk.contiguous(memory_format=torch.channels_last) if channels_last else chunk)
                   .float().cpu())
    return torch.cat(out)


def _test_outputs(out: torch.Tensor, classification_task: bool) -> np.ndarray:
    return out.softmax(1).numpy() if classification_task else out.squeeze(1).numpy()


@torch.no_grad()
def _fold_scale(head: nn.Module, shift: float, scale: float) -> None:
    """Make the head's last linear layer output y * scale + shift instead of y."""
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    last.weight.mul_(scale)
    last.bias.mul_(scale).add_(shift)


def fit(data: LabelledImages, cfg: TrainConfig, device: torch.device | None = None,
        model: backbones.TransferModel | None = None) -> Iterator[Event]:
    """Train on the train split, validate on val each epoch (EpochEnd), then score the test split (Predictions).
    On CUDA the model runs channels_last under fp16 autocast with a gradient scaler, unless cfg says not."""
    check_dataset(data, cfg.seed)
    run_start = time.perf_counter()
    device = device or torch.device("cpu")
    torch.manual_seed(cfg.seed)
    classification_task = data.classes is not None
    outputs = len(data.classes) if classification_task else 1
    if model is None:
        model, _ = backbones.build(cfg.backbone, outputs, cfg.head, pretrained=cfg.strategy.pretrained)
    prep = backbones.preprocess(cfg.backbone)
    normalise = T.Normalize(prep.mean, prep.std)
    fast = device.type == "cuda" and cfg.mixed_precision
    model = model.to(device, memory_format=torch.channels_last) if fast else model.to(device)
    train_idx, val_idx, test_idx = split_indices(data, cfg.seed)
    x_train = to_tensors(data, train_idx, cfg.image_size)  # normalised per batch, after augmentation
    x_val, x_test = (to_tensors(data, i, cfg.image_size, prep.mean, prep.std) for i in (val_idx, test_idx))
    dtype = torch.long if classification_task else torch.float32
    y_train, y_val = (torch.as_tensor(data.targets[i], dtype=dtype) for i in (train_idx, val_idx))
    # regression trains on standardised targets (one scale for every set); outputs are mapped back
    shift, scale = (0.0, 1.0) if classification_task else (float(y_train.mean()), float(y_train.std()) or 1.0)
    if not classification_task:
        y_train = (y_train - shift) / scale
    if classification_task:
        counts = torch.bincount(y_train, minlength=outputs).float()
        weight = (counts.sum() / (outputs * counts)).to(device) if cfg.class_weighted else None
        loss_fn: nn.Module = nn.CrossEntropyLoss(weight=weight)
        val_loss_fn: nn.Module = nn.CrossEntropyLoss(weight=None if weight is None else weight.cpu())
    else:
        loss_fn = val_loss_fn = nn.L1Loss()
    augment = _augmenter(cfg.augment, cfg.image_size)
    cached = cfg.strategy.name == "frozen" and augment is None
    if cached:  # the backbone never changes: its features once, then the head alone trains
        model.eval()
        with torch.inference_mode():
            x_train, x_val, x_test = (_batches(model.features, x, device, fast)
                                      for x in (normalise(x_train), x_val, x_test))
    forward = model.head if cached else model
    images_in = fast and not cached
    scaler = torch.amp.GradScaler("cuda", enabled=fast)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimiser, opened = None, None
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        groups = apply(model, cfg.strategy, epoch)
        blocks = tuple(g["block"] for g in groups)
        if blocks != opened:  # a new optimiser only when the trainable set changes, so Adam keeps its moments
            optimiser = (torch.optim.Adam(groups) if cfg.optimizer == "adam" else
                         torch.optim.SGD(groups, momentum=0.9))
            opened = blocks
        set_train_mode(model, cfg.strategy, epoch)
        total, correct = 0.0, torch.zeros((), device=device)
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x = x_train[idx] if cached else train_batch(x_train[idx], augment, normalise)
            x = x.to(device, non_blocking=True)
            if images_in:
                x = x.contiguous(memory_format=torch.channels_last)
            target = y_train[idx].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=fast):
                out = forward(x)
                loss = loss_fn(out.float() if classification_task else out.float().squeeze(1), target)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += loss.item() * len(idx)
            if classification_task:
                correct += (out.detach().argmax(1) == target).sum()
        model.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=fast):
            out = _batches(forward, x_val, device, images_in)
        if not classification_task:
            out = out * scale + shift
        val_loss = val_loss_fn(out if classification_task else out.squeeze(1), y_val).item()
        yield EpochEnd(epoch, total / len(order) * scale, val_loss, _scores(out, y_val, data.classes),
                       count_trainable(model, cfg.strategy, epoch), time.perf_counter() - start,
                       float(correct) / len(order) if classification_task else None)
    if not classification_task:
        _fold_scale(model.head, shift, scale)  # the saved model then predicts in the target's units
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=fast):
        out = _batches(forward, x_test, device, images_in)
    yield Predictions(test_idx, data.targets[test_idx], _test_outputs(out, classification_task),
                      time.perf_counter() - run_start)
