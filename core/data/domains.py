"""Second domains for sets that already exist, with the same class names: what the cross-domain measure
(CDFG) of the feature-extraction study compares.

- cartoon face / non-face patches, cut from the cartoon detection set like scikit-image's LFW
  patches (25 x 25 grayscale, faces from the annotated boxes, non-faces with IoU < 0.3 to every face);
- a set's images inverted (255 - pixel) or blurred (Gaussian, sigma 1.5 px): a shift of the same
  photos, for Fashion-MNIST.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from core.data.types import DetectionSet, LabelledImages, open_image
from core.metrics.detection import iou_matrix

PATCH = 25  # scikit-image's lfw_subset patches are 25 x 25
NEGATIVE_IOU = 0.3
SHIFTS = {"inverted": "each pixel v becomes 255 - v", "blurred": "Gaussian blur, sigma 1.5 px"}


def _square(box: np.ndarray) -> np.ndarray:
    cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1])
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def _patch(image: Image.Image, box: np.ndarray) -> np.ndarray:
    crop = image.crop(tuple(int(round(v)) for v in box)).convert("L")
    return np.asarray(crop.resize((PATCH, PATCH), Image.Resampling.BILINEAR))


def face_patches(detection: DetectionSet, name: str, per_class: int = 100, seed: int = 0) -> LabelledImages:
    """per_class face and per_class non-face patches from a face detection set's images, in image order; every
    fifth patch of each class is "test" (as the lfw_subset entry splits)."""
    rng = np.random.default_rng(seed)
    faces: list[np.ndarray] = []
    others: list[np.ndarray] = []
    for sample in detection.samples:
        if len(faces) >= per_class and len(others) >= per_class:
            break
        image = open_image(sample.image)
        for box in sample.boxes[: max(per_class - len(faces), 0)]:
            faces.append(_patch(image, _square(box)))
        for _ in range(20):
            if len(others) >= per_class:
                break
            side = rng.uniform(PATCH, max(PATCH + 1, min(image.size) / 3))
            x, y = rng.uniform(0, image.width - side), rng.uniform(0, image.height - side)
            crop = np.array([x, y, x + side, y + side])
            if not len(sample.boxes) or iou_matrix(crop[None], sample.boxes).max() < NEGATIVE_IOU:
                others.append(_patch(image, crop))
                break
    n = min(len(faces), len(others))
    labels = np.repeat([1, 0], n)
    split = np.tile(np.where(np.arange(n) % 5 == 0, "test", "train"), 2)
    return LabelledImages(name, faces[:n] + others[:n], labels, split, ["non-face", "face"], source=detection.source,
                          licence=detection.licence)


def shifted(data: LabelledImages, shift: str) -> LabelledImages:
    """The same images and labels under a pixel-level shift (SHIFTS); named NAME/SHIFT."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose from {sorted(SHIFTS)}")

    def apply(ref: object) -> np.ndarray:
        image = open_image(ref)
        if shift == "blurred":
            return np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)))
        return 255 - np.asarray(image)

    return LabelledImages(f"{data.name}/{shift}", [apply(ref) for ref in data.images], data.targets, data.split,
                          data.classes, source=f"{data.source}, {SHIFTS[shift]}", licence=data.licence,
                          target_name=data.target_name)
