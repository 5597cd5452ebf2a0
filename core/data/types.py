"""What every dataset adapter returns: labelled images, detection sets, verification pairs, and problems.

Adapters never stop at a bad sample: they skip it and record a Problem (file, line, message),
so the valid samples stay usable. DataError is for a set that cannot be read at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.images import load_path


class DataError(ValueError):
    """A dataset that cannot be used at all; the message says why and what to do."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


ImageRef = Path | np.ndarray  # a file, or pixels (H, W) / (H, W, 3) uint8


def open_image(ref: ImageRef) -> Image.Image:
    """RGB image from a file (checked like an upload) or from uint8 pixels."""
    if isinstance(ref, np.ndarray):
        return Image.fromarray(ref).convert("RGB")
    return load_path(ref).image


@dataclass(frozen=True)
class LabelledImages:
    """Images with one target each: a class index (classification) or a number (regression)."""

    name: str
    images: list[ImageRef]
    targets: np.ndarray  # (N,) int class index, or float target
    split: np.ndarray  # (N,) str: "train", "val", "test" or "all"
    classes: list[str] | None  # None for regression
    source: str = ""
    licence: str = ""
    problems: list[Problem] = field(default_factory=list)
    target_name: str = "class"

    @property
    def task(self) -> str:
        return "classification" if self.classes is not None else "regression"

    def subset(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.split.tolist()))

    def class_counts(self) -> dict[str, int]:
        if self.classes is None:
            return {}
        return {self.classes[i]: int(n) for i, n in enumerate(np.bincount(self.targets, minlength=len(self.classes)))}


@dataclass(frozen=True)
class DetectionSample:
    image: Path
    boxes: np.ndarray  # (N, 4) float, x1 y1 x2 y2 in pixels
    labels: np.ndarray  # (N,) int class index
    split: str = "all"


@dataclass(frozen=True)
class DetectionSet:
    name: str
    samples: list[DetectionSample]
    classes: list[str]
    source: str = ""
    licence: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def task(self) -> str:
        return "detection"

    def counts(self) -> dict[str, int]:
        return dict(Counter(s.split for s in self.samples))

    def split_samples(self, split: str) -> list[DetectionSample]:
        return [s for s in self.samples if s.split == split]

    def class_counts(self) -> dict[str, int]:
        labels = np.concatenate([s.labels for s in self.samples]) if self.samples else np.zeros(0, int)
        return {self.classes[i]: int(n) for i, n in enumerate(np.bincount(labels.astype(int), minlength=len(self.classes)))}


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    split: str = "all"


@dataclass(frozen=True)
class VerificationSet:
    name: str
    pairs: list[Pair]
    source: str = ""
    licence: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def task(self) -> str:
        return "verification"

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.split for p in self.pairs))


Dataset = LabelledImages | DetectionSet | VerificationSet


def readable_image(path: Path, problems: list[Problem], root: Path) -> bool:
    """True when the file decodes as an image; otherwise records why."""
    if not path.is_file():
        problems.append(Problem(relative_name(path, root), None, "image file is missing"))
        return False
    try:
        with Image.open(path) as im:
            im.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        problems.append(Problem(relative_name(path, root), None, f"unreadable image ({exc})"))
        return False
    return True


def relative_name(path: Path, root: Path) -> str:
    """path inside root as a posix string, for problem reports; the full path when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
