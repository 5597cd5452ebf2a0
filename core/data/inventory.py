"""Which datasets are present on this machine: what the home page and `python -m core.data` list."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.data import samples

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    content: str
    count: int
    source: str
    licence: str
    present: bool


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def present() -> list[DatasetInfo]:
    fashion = FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz"
    return [
        DatasetInfo("sample photos", "real photos shipped by installed packages", len(samples.available()),
                    "scikit-image, scikit-learn, ultralytics, matplotlib", "per photo (see gallery)",
                    bool(samples.available())),
        DatasetInfo("lfw_subset", "25×25 grayscale: 100 faces, 100 non-faces", 200, "scikit-image",
                    "LFW terms of use", _has("skimage")),
        DatasetInfo("fashion_mnist", "28×28 clothing photos, 10 classes", 70_000,
                    f"Debian dataset-fashion-mnist ({FASHION_MNIST_DIR})", "MIT", fashion.is_file()),
        DatasetInfo("digits", "8×8 handwritten digits, 10 classes", 1_797, "scikit-learn", "CC BY 4.0",
                    _has("sklearn")),
    ]
