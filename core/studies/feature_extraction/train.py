"""Train the small convolutional autoencoder on a set's images, as a run in the run store.

    python -m core.studies.feature_extraction --dataset fashion_mnist_sample --epochs 5
    python -m core.studies.feature_extraction --runs RUN_ID   # a run queued by the feature-extraction page

No labels are used: the loss is the mean squared error between the image (resized, in [0, 1]) and
its reconstruction, on the train split; the val split's error is reported each epoch. The run's
checkpoint ({"channels", "state"}) is written after every epoch; its encoder's features then go
through the same probes as a backbone's (core.features). One JSON line per event on stdout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core import devices
from core.data import catalogue
from core.data.types import LabelledImages
from core.engine import config as settings
from core.engine import streams
from core.engine.events import EpochEnd, Finished, Phase
from core.engine.loop import split_indices
from core.engine.store import Recorder, Run, RunStore
from core.models.autoencoder import CHANNELS, ConvAutoencoder
from core.studies.feature_extraction.extract import AUTOENCODER

TASK = "feature_extraction"


@dataclass(frozen=True)
class AutoencoderConfig:
    dataset: str = "fashion_mnist_sample"
    image_size: int = 32
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    channels: tuple[int, ...] = CHANNELS

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (the encoder halves it three times), "
                             f"got {self.image_size}")
        if min(self.epochs, self.batch_size) < 1 or self.lr <= 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")

    @classmethod
    def from_dict(cls, d: dict) -> AutoencoderConfig:
        return settings.read(cls, d)[0]


def queue(cfg: AutoencoderConfig, store: RunStore) -> str:
    """A queued run, the data checked first (DataError, ValueError with the reason)."""
    data = catalogue.labelled(cfg.dataset)
    train, val, _ = split_indices(data)
    if len(train) < 2 or len(val) < 1:
        raise ValueError(f"{cfg.dataset} has too few images to train and validate an autoencoder: {data.counts()}")
    return store.create(TASK, AUTOENCODER, TASK, settings.to_dict(cfg))


def _loader(data: LabelledImages, idx: np.ndarray, cfg: AutoencoderConfig, train: bool, device: torch.device
            ) -> torch.utils.data.DataLoader:
    """Seeded batches of uint8 images; a split that fits in memory is decoded once and kept."""
    workers = streams.workers_for(len(idx), cfg.image_size, None)
    stream = streams.ImageStream(data.images, data.targets, idx, cfg.image_size, keep=workers == 0)
    return streams.image_loader(stream, cfg.batch_size, train, cfg.seed, device, workers)


def _pass(model: nn.Module, loader: torch.utils.data.DataLoader, device: torch.device,
          optimiser: torch.optim.Optimizer | None) -> float:
    """Mean squared reconstruction error over a pass; trains when an optimiser is given."""
    total, n = 0.0, 0
    model.train(optimiser is not None)
    with torch.set_grad_enabled(optimiser is not None):
        for x, _ in loader:
            x = x.to(device).float().div_(255)
            loss = nn.functional.mse_loss(model(x), x)
            if optimiser is not None:
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            total += loss.item() * len(x)
            n += len(x)
    return total / max(n, 1)


def train(cfg: AutoencoderConfig, store: RunStore | None = None, device: torch.device | None = None,
          run_id: str | None = None) -> Iterator[Phase | EpochEnd | Finished]:
    store = store or RunStore()
    device = device or devices.pick_device()
    run_id = run_id or queue(cfg, store)
    start = time.perf_counter()
    with store.recording(run_id) as rec:
        yield from _fit(cfg, rec, device)
    yield Finished(run_id, f"{AUTOENCODER}-{run_id}", time.perf_counter() - start)


def queue_config(cfg: AutoencoderConfig, store: RunStore) -> list[str]:
    """The study's queue: one run for this config."""
    return [queue(cfg, store)]


def train_run(run: Run, rec: Recorder, device: torch.device) -> Iterator[Phase | EpochEnd]:
    """The study's trainer: a queued run, carried out inside its recording (the one worker opens it)."""
    return _fit(AutoencoderConfig.from_dict(run.config), rec, device)


def _fit(cfg: AutoencoderConfig, rec: Recorder, device: torch.device) -> Iterator[Phase | EpochEnd]:
    start = time.perf_counter()
    rec.event(Phase("reading the data"))
    yield Phase("reading the data")
    data = catalogue.labelled(cfg.dataset)
    train_idx, val_idx, _ = split_indices(data)
    torch.manual_seed(cfg.seed)
    model = ConvAutoencoder(cfg.channels).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    train_loader = _loader(data, train_idx, cfg, True, device)
    val_loader = _loader(data, val_idx, cfg, False, device)
    trainable = sum(p.numel() for p in model.parameters())
    for epoch in range(cfg.epochs):
        t = time.perf_counter()
        train_loss = _pass(model, train_loader, device, optimiser)
        val_loss = _pass(model, val_loader, device, None)
        event = EpochEnd(epoch, train_loss, val_loss, {"mse": val_loss}, time.perf_counter() - t, trainable)
        rec.event(event)
        rec.checkpoint({"channels": list(cfg.channels), "state": {k: v.detach().cpu().clone()
                                                                   for k, v in model.state_dict().items()}},
                       event.label)
        yield event
    rec.note(seconds=time.perf_counter() - start, train_images=len(train_idx))
