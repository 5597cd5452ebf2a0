"""Training samples for an MTCNN stage, cut from a detection set's boxes.

For each face: positives (square crops with IoU >= 0.65 with the face), part faces (IoU 0.4 to
0.65, used for box regression only) and, per image, negatives (IoU < 0.3 with every face).
Each crop is resized to the stage's input (12, 24 or 48 px) and carries its regression target,
the face box's offsets from the crop in units of the crop's side, as MTCNN's bbreg reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from core.data.types import DetectionSample, open_image
from core.metrics.detection import iou_matrix
from core.models import mtcnn_batched

STAGE_SIZE = {"pnet": 12, "rnet": 24, "onet": 48}
POSITIVE_IOU, PART_IOU, NEGATIVE_IOU = 0.65, 0.4, 0.3
LABEL_NEGATIVE, LABEL_POSITIVE, LABEL_PART = 0, 1, -1
MIN_SIDE = 12


@dataclass(frozen=True)
class StageSamples:
    images: torch.Tensor  # (N, 3, S, S) float, normalised as MTCNN's input (mtcnn_batched.normalise)
    labels: torch.Tensor  # (N,) long: 1 face, 0 background, -1 part face (no class loss)
    offsets: torch.Tensor  # (N, 4) float: face box minus crop box, over the crop side (0 for negatives)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == value).sum())
                for name, value in (("positive", LABEL_POSITIVE), ("part", LABEL_PART), ("negative", LABEL_NEGATIVE))}


def crop_resized(image: Image.Image, box: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(image.crop(tuple(int(round(v)) for v in box)).resize((size, size), Image.Resampling.BILINEAR))


def _jittered(face: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    """A square around the face, shifted and scaled at random."""
    w, h = face[2] - face[0], face[3] - face[1]
    side = max(w, h) * rng.uniform(1 - spread, 1 + spread)
    cx = (face[0] + face[2]) / 2 + rng.uniform(-spread, spread) * w
    cy = (face[1] + face[3]) / 2 + rng.uniform(-spread, spread) * h
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def offsets(face: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """Regression target: (face - crop) / crop side, per coordinate; bbreg inverts it."""
    side = crop[2] - crop[0]
    return (face - crop) / side


def mine(samples: list[DetectionSample], stage: str, per_face: int = 6, negatives_per_image: int = 12,
         seed: int = 0) -> StageSamples:
    """Positives, part faces and negatives for one stage; boxes below MIN_SIDE px are not used."""
    if stage not in STAGE_SIZE:
        raise ValueError(f"unknown MTCNN stage {stage!r}; choose from {sorted(STAGE_SIZE)}")
    size = STAGE_SIZE[stage]
    rng = np.random.default_rng(seed)
    crops, labels, targets = [], [], []
    for sample in samples:
        image = open_image(sample.image)
        faces = sample.boxes[(sample.boxes[:, 2] - sample.boxes[:, 0] >= MIN_SIDE) &
                             (sample.boxes[:, 3] - sample.boxes[:, 1] >= MIN_SIDE)]
        for face in faces:
            wanted = {LABEL_POSITIVE: per_face, LABEL_PART: per_face}
            for _ in range(per_face * 20):
                if not any(wanted.values()):
                    break
                crop = _jittered(face, rng, 0.3)
                iou = iou_matrix(crop[None], face[None])[0, 0]
                kind = LABEL_POSITIVE if iou >= POSITIVE_IOU else LABEL_PART if iou >= PART_IOU else None
                if kind is None or not wanted[kind]:
                    continue
                wanted[kind] -= 1
                crops.append(crop_resized(image, crop, size))
                labels.append(kind)
                targets.append(offsets(face, crop))
        found = 0
        for _ in range(negatives_per_image * 10):
            if found == negatives_per_image:
                break
            side = rng.uniform(MIN_SIDE, max(MIN_SIDE + 1, min(image.size) / 2))
            x, y = rng.uniform(0, image.width - side), rng.uniform(0, image.height - side)
            crop = np.array([x, y, x + side, y + side])
            if len(sample.boxes) and iou_matrix(crop[None], sample.boxes).max() >= NEGATIVE_IOU:
                continue
            found += 1
            crops.append(crop_resized(image, crop, size))
            labels.append(LABEL_NEGATIVE)
            targets.append(np.zeros(4))
    if not crops:
        raise ValueError("no training samples could be cut: the set has no faces or images")
    pixels = torch.as_tensor(np.stack(crops), dtype=torch.float32).permute(0, 3, 1, 2)
    return StageSamples(mtcnn_batched.normalise(pixels), torch.as_tensor(labels, dtype=torch.long),
                        torch.as_tensor(np.stack(targets), dtype=torch.float32))


def concat(parts: list[StageSamples]) -> StageSamples:
    return StageSamples(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                        torch.cat([p.offsets for p in parts]))
