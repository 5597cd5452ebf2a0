"""What a model outputs for one image, as the predictors return it and the plots draw it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TopK:
    """The k most probable classes of one image, most probable first."""

    labels: list[str]
    probs: np.ndarray  # (k,) float in [0, 1]


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image."""

    boxes: np.ndarray  # (N, 4) float, x1 y1 x2 y2 in pixels
    scores: np.ndarray  # (N,) float in [0, 1]
    classes: tuple[str, ...] = ()  # each box's class name, when the detector has several classes
