"""Images streamed to a training loop through a DataLoader, never stacked into one tensor.

Each sample is read, converted to RGB and resized when it is asked for (in worker processes when
a split is large), and augmented as uint8; the loop normalises each batch on its device. A split
small enough to keep at its training size (CACHE_BYTES) is kept after its first pass instead, so
small sets pay the decoding once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, TensorDataset
from torchvision.transforms import v2 as T

from core.data.types import ImageRef, open_image

CACHE_BYTES = 256 * 2**20  # resized uint8 images a split may keep in memory
EVAL_PIXELS = 256 * 64 * 64  # an evaluation batch holds about this many pixels: 256 images at 64 px, 21 at 224


def eval_batch(train_batch: int, size: int) -> int:
    """Evaluation needs no gradients, so its batches can be larger than training's, but not at any size: a
    batch's activations grow with its pixels."""
    return max(train_batch, min(256, EVAL_PIXELS // (size * size)))


class ImageStream(Dataset):
    """(uint8 (3, size, size), target) for each position idx[k] of a dataset's images."""

    def __init__(self, images: Sequence[ImageRef], targets: np.ndarray, idx: np.ndarray, size: int,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, keep: bool = False) -> None:
        self.images, self.targets, self.idx, self.size, self.augment = images, targets, idx, size, augment
        self.resize = T.Compose([T.ToImage(), T.Resize((size, size), antialias=True)])
        self.kept: dict[int, torch.Tensor] | None = {} if keep else None

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, object]:
        i = int(self.idx[k])
        x = self.kept.get(k) if self.kept is not None else None
        if x is None:
            x = self.resize(open_image(self.images[i])).as_subclass(torch.Tensor)
            if self.kept is not None:
                self.kept[k] = x
        if self.augment is not None:
            x = self.augment(x)
        return x, self.targets[i]


def fits_in_memory(n: int, size: int) -> bool:
    return n * 3 * size * size <= CACHE_BYTES


def workers_for(n: int, size: int, asked: int | None) -> int:
    """Worker processes: as asked, else none for a split kept in memory (decoded once), else up to 4,
    leaving half the cores to the training itself."""
    if asked is not None:
        return asked
    return 0 if fits_in_memory(n, size) else max(1, min(4, (os.cpu_count() or 2) // 2))


def image_loader(stream: ImageStream, batch_size: int, shuffle: bool, seed: int, device: torch.device,
                 workers: int, sampler: Sampler | None = None) -> DataLoader:
    """Seeded order (the same for a seed whatever the workers), pinned memory on CUDA; a sampler (positions
    into the stream) replaces the shuffle when given."""
    return DataLoader(stream, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers,
                      generator=torch.Generator().manual_seed(seed), pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0)


def tensor_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int,
                  sampler: Sampler | None = None) -> DataLoader:
    """Batches of already computed tensors (cached features), sliced whole rather than sample by sample."""
    data = TensorDataset(x, y)
    order = sampler or (RandomSampler(data, generator=torch.Generator().manual_seed(seed)) if shuffle
                        else SequentialSampler(data))
    return DataLoader(data, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None)
