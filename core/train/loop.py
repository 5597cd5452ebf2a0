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
    train_loss: float
    val_loss: float
    val: dict[str, float]  # classification: accuracy, mCA, macro_f1; regression: MAE, pearson, spearman
    trainable: int
    seconds: float


def check_dataset(data: LabelledImages) -> None:
    """Refuse what cannot train, with the reason: one class, an empty class, missing splits, NaN targets."""
    train, val = data.subset("train"), data.subset("test") if len(data.subset("val")) == 0 else data.subset("val")
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"{data.name} needs a train split and a val or test split; it has {data.counts()}")
    if data.classes is None:
        bad = np.flatnonzero(~np.isfinite(data.targets.astype(float)))
        if len(bad):
            raise ValueError(f"{data.name} has a NaN or infinite target (first at index {int(bad[0])})")
        return
    if len(data.classes) < 2:
        raise ValueError(f"{data.name} has one class ({data.classes[0]}); a classifier needs at least two")
    counts = np.bincount(data.targets[train], minlength=len(data.classes))
    empty = [data.classes[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(f"{data.name}: class {empty[0]!r} has no training samples")


def to_tensors(data: LabelledImages, idx: np.ndarray, size: int, mean: tuple, std: tuple) -> torch.Tensor:
    """(N, 3, size, size) float tensors: any size or mode in, RGB resized and normalised out."""
    resize = T.Compose([T.ToImage(), T.Resize((size, size), antialias=True), T.ToDtype(torch.float32, scale=True),
                        T.Normalize(mean, std)])
    return torch.stack([resize(open_image(data.images[i])) for i in idx])


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


def fit(data: LabelledImages, cfg: TrainConfig, device: torch.device | None = None,
        model: backbones.TransferModel | None = None) -> Iterator[EpochEnd]:
    """Train on data's train split, validate on val (or test); one EpochEnd per epoch."""
    check_dataset(data)
    device = device or torch.device("cpu")
    torch.manual_seed(cfg.seed)
    classification_task = data.classes is not None
    outputs = len(data.classes) if classification_task else 1
    if model is None:
        model, prep = backbones.build(cfg.backbone, outputs, cfg.head, pretrained=cfg.strategy.pretrained)
    else:
        _, prep = backbones.build(cfg.backbone, outputs, cfg.head, pretrained=False)
    model = model.to(device)
    train_idx = data.subset("train")
    val_idx = data.subset("val") if len(data.subset("val")) else data.subset("test")
    x_train = to_tensors(data, train_idx, cfg.image_size, prep.mean, prep.std)
    x_val = to_tensors(data, val_idx, cfg.image_size, prep.mean, prep.std)
    dtype = torch.long if classification_task else torch.float32
    y_train, y_val = (torch.as_tensor(data.targets[i], dtype=dtype) for i in (train_idx, val_idx))
    if classification_task:
        counts = torch.bincount(y_train, minlength=outputs).float()
        weight = (counts.sum() / (outputs * counts)).to(device) if cfg.class_weighted else None
        loss_fn: nn.Module = nn.CrossEntropyLoss(weight=weight)
    else:
        loss_fn = nn.L1Loss()
    augment = _augmenter(cfg.augment, cfg.image_size)
    cached = cfg.strategy.name == "frozen" and augment is None
    if cached:  # the backbone never changes: its features once, then the head alone trains
        model.eval()
        with torch.inference_mode():
            x_train, x_val = (torch.cat([model.features(x[i:i + 256].to(device)).cpu() for i in range(0, len(x), 256)])
                              for x in (x_train, x_val))
    forward = model.head if cached else model
    generator = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        groups = apply(model, cfg.strategy, epoch)
        optimiser = (torch.optim.Adam(groups) if cfg.optimizer == "adam" else
                     torch.optim.SGD(groups, momentum=0.9))
        set_train_mode(model, cfg.strategy, epoch)
        total = 0.0
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x = x_train[idx]
            if augment is not None:
                x = torch.stack([augment(sample) for sample in x])
            target = y_train[idx].to(device)
            out = forward(x.to(device))
            loss = loss_fn(out if classification_task else out.squeeze(1), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.inference_mode():
            out = torch.cat([forward(x_val[i:i + 256].to(device)).float().cpu() for i in range(0, len(x_val), 256)])
            val_loss = loss_fn(out.to(device) if classification_task else out.squeeze(1).to(device),
                               y_val.to(device)).item()
        yield EpochEnd(epoch, total / len(order), val_loss, _scores(out, y_val, data.classes),
                       count_trainable(model, cfg.strategy, epoch), time.perf_counter() - start)
