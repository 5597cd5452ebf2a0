"""dlib's ResNet face descriptor: a model trained on faces, the reference the ImageNet embeddings are measured against.

Each image: find the face (dlib's HOG detector, the largest), place 5 landmarks, align a 150 px chip,
and compute the 128-d descriptor (same person below about 0.6 Euclidean, by dlib's convention).
An image where no face is found is not dropped: the whole image is taken as the face box, and
the image is counted, so a page can say how many were embedded that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from core import weights

DESCRIPTOR_SOURCE = "dlib_face_resnet"
LANDMARKS_SOURCE = "dlib_landmarks_5"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class FaceEmbeddings:
    vectors: np.ndarray  # (N, 128) float
    found: np.ndarray  # (N,) bool: False where no face was detected and the whole image was used


class DlibFaceEmbedder:
    """Loaded once per process (both files are dlib's own format, read by dlib)."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise weights.WeightsUnavailable("dlib is not installed. Install it with: "
                                             f"{weights.source(DESCRIPTOR_SOURCE).install}") from None
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(weights.require(LANDMARKS_SOURCE)))
        self.descriptor = dlib.face_recognition_model_v1(str(weights.require(DESCRIPTOR_SOURCE)))

    def _face_box(self, pixels: np.ndarray) -> tuple[object, bool]:
        found = list(self.detector(pixels, 1))
        if found:
            return max(found, key=lambda r: r.width() * r.height()), True
        return self._dlib.rectangle(0, 0, pixels.shape[1] - 1, pixels.shape[0] - 1), False

    def chip(self, image: Image.Image) -> tuple[np.ndarray, bool]:
        """The aligned face (150, 150, 3) uint8 and whether a face was detected."""
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        box, found = self._face_box(pixels)
        shape = self.landmarks(pixels, box)
        return np.asarray(self._dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CHIP_PADDING)), found

    def embed(self, images: list[Image.Image]) -> FaceEmbeddings:
        chips, found = zip(*(self.chip(im) for im in images), strict=True) if images else ((), ())
        vectors = [np.asarray(self.descriptor.compute_face_descriptor(c)) for c in chips]
        return FaceEmbeddings(np.asarray(vectors, np.float32).reshape(len(images), 128), np.asarray(found, bool))
