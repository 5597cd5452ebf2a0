"""Predictors: a registry variant built on a device, turning PIL images into outputs.

Above the registry and the models: it reads a Variant and builds its network from core.models."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import nn

from core import tasks
from core.data.cartoon_faces import VERIFICATION_CROP
from core.models import backbones, classifiers, embeddings, imported, mtcnn_batched, yolo
from core.models.dlib_face import DlibFaceEmbedder
from core.models.outputs import Detections, TopK
from core.registry import Variant, availability
from core.weights import WeightsUnavailable


@dataclass(frozen=True)
class Value:
    """A regression model's prediction for one image."""

    name: str  # what is predicted, e.g. "age" or "fatness"
    value: float


class Predictor(Protocol):
    variant: Variant
    device: torch.device

    def predict(self, images: list[Image.Image]) -> list: ...


class Classifier:
    """A classification model with its preprocessing and label names."""

    def __init__(self, variant: Variant, model: nn.Module, prep: classifiers.Preprocess, labels: list[str],
                 device: torch.device, k: int = 5) -> None:
        self.variant, self.device, self.labels, self.k = variant, device, labels, min(k, len(labels))
        self.model = model.to(device).eval()
        self.prep = prep
        self.transform = prep.transform()

    def batch(self, images: list[Image.Image]) -> torch.Tensor:
        """(B, 3, H, W) float tensor on the predictor's device."""
        return torch.stack([self.transform(im.convert("RGB")) for im in images]).to(self.device)

    @torch.inference_mode()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float().softmax(dim=1)

    def predict(self, images: list[Image.Image]) -> list[TopK]:
        probs, idx = self.probabilities(self.batch(images)).topk(self.k, dim=1)
        return [TopK([self.labels[i] for i in row_idx.tolist()], row_p.cpu().numpy())
                for row_p, row_idx in zip(probs, idx, strict=True)]


class Regressor(Classifier):
    """A backbone with a one-output head, predicting a number per image."""

    def __init__(self, variant: Variant, model: nn.Module, prep: classifiers.Preprocess, target: str,
                 device: torch.device) -> None:
        super().__init__(variant, model, prep, [target], device, k=1)
        self.target = target

    def predict(self, images: list[Image.Image]) -> list[Value]:
        with torch.inference_mode():
            out = self.model(self.batch(images)).float().reshape(-1).cpu().numpy()
        return [Value(self.target, float(v)) for v in out]


class FaceDetector:
    """MTCNN on one device (facenet-pytorch's networks, run by core.models.mtcnn_batched).
    thresholds: the three stages' score thresholds."""

    def __init__(self, variant: Variant, device: torch.device,
                 thresholds: tuple[float, float, float] = mtcnn_batched.DEFAULT_THRESHOLDS, min_face_size: int = 20) -> None:
        from facenet_pytorch import MTCNN

        self.variant, self.device = variant, device
        self.mtcnn = MTCNN(keep_all=True, device=device, thresholds=list(thresholds), min_face_size=min_face_size,
                           post_process=False)
        if variant.run_id:
            state = torch.load(variant.checkpoint, map_location="cpu", weights_only=True)
            for stage in ("pnet", "rnet", "onet"):
                if stage in state:
                    getattr(self.mtcnn, stage).load_state_dict(state[stage])
        self.mtcnn.eval()

    def predict_staged(self, images: list[Image.Image]) -> list[mtcnn_batched.StagedDetections]:
        """Detections with each box's PNet, RNet and ONet score, all images batched together."""
        m = self.mtcnn
        return mtcnn_batched.detect(images, m.pnet, m.rnet, m.onet, tuple(m.thresholds), m.min_face_size, m.factor,
                                    self.device)

    def predict(self, images: list[Image.Image]) -> list[Detections]:
        return [Detections(d.boxes, d.scores) for d in self.predict_staged(images)]


@dataclass(frozen=True)
class Embeddings:
    """Face embeddings of a list of images."""

    vectors: np.ndarray  # (N, D) float
    found: np.ndarray  # (N,) bool: a face was detected (always True for the ImageNet backbones, which take the image)


EMBED_SIZE = VERIFICATION_CROP  # the pretrained backbones embed at the cartoon crops' size, like the runs they are compared with
EMBED_BATCH = 32


class Embedder:
    """A face-verification variant: an ImageNet backbone cut at its tap (pretrained or fine-tuned in a run),
    or dlib's face descriptor."""

    def __init__(self, variant: Variant, device: torch.device) -> None:
        self.variant, self.device = variant, device
        if variant.family == "dlib":
            self.dlib, self.model = DlibFaceEmbedder(), None
            return
        self.dlib = None
        if variant.strategy == "yours":
            meta = imported_meta(variant)
            self.model = imported.load(meta).to(device).eval()
            self.transform = meta.preprocess().transform()
            return
        tap = str(variant.config.get("tap", variant.head))
        model, prep = embeddings.build(variant.family, tap, pretrained=not variant.run_id)
        if variant.run_id:
            model.load_state_dict(torch.load(variant.checkpoint, map_location="cpu", weights_only=True))
        size = int(variant.config.get("image_size", EMBED_SIZE))
        self.model = model.to(device).eval()
        self.transform = classifiers.Preprocess(size, size, prep.mean, prep.std).transform()

    def embed(self, images: list[Image.Image]) -> Embeddings:
        if self.dlib is not None:
            faces = self.dlib.embed(images)
            return Embeddings(faces.vectors, faces.found)
        out = [embeddings.embed(self.model, torch.stack([self.transform(im.convert("RGB")) for im in chunk])
                                .to(self.device)).numpy()
               for chunk in (images[i:i + EMBED_BATCH] for i in range(0, len(images), EMBED_BATCH))]
        vectors = np.concatenate(out) if out else np.zeros((0, self.model.width), np.float32)
        return Embeddings(vectors, np.ones(len(vectors), bool))

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        return list(self.embed(images).vectors)


class YoloDetector:
    """A YOLO variant at its run's last kept checkpoint, at its training image size. threshold: the lowest score kept."""

    def __init__(self, variant: Variant, device: torch.device, threshold: float = 0.25) -> None:
        self.variant, self.device, self.threshold = variant, device, threshold
        if variant.strategy == "yours":
            self.detector = yolo.Detector.from_import(imported_meta(variant), device)
            return
        self.detector = yolo.Detector.from_checkpoint(variant.checkpoint, int(variant.config.get("image_size", 640)),
                                                      device)

    def predict(self, images: list[Image.Image]) -> list[Detections]:
        names = self.detector.names
        return [Detections(f.boxes, f.scores, tuple(names[c] for c in f.classes) if len(names) > 1 else ())
                for f in self.detector.find(images, conf=self.threshold)]


def _transfer(v: Variant, device: torch.device) -> Classifier:
    """A backbone trained in a run: its architecture, the run's weights, its image size and its labels."""
    c = v.config
    labels = [str(x) for x in c["labels"]] if c.get("labels") else None
    model, prep = backbones.build(c["backbone"], len(labels) if labels else 1, c.get("head", "linear"), pretrained=False)
    model.load_state_dict(torch.load(v.checkpoint, map_location="cpu", weights_only=True))
    size = int(c.get("image_size", prep.crop))
    prep = classifiers.Preprocess(size, size, prep.mean, prep.std)
    if labels is None:
        return Regressor(v, model, prep, str(c.get("target_name", "value")), device)
    return Classifier(v, model, prep, labels, device)


def imported_meta(v: Variant) -> imported.Imported:
    return imported.Imported(**{**{k: x for k, x in v.config.items() if k != "imported"},
                                "size": tuple(v.config["size"])})


def _imported(v: Variant, device: torch.device) -> Classifier:
    meta = imported_meta(v)
    model = imported.load(meta)
    if meta.task == "regression":
        return Regressor(v, model, meta.preprocess(), "value", device)
    return Classifier(v, model, meta.preprocess(), list(meta.classes), device)


def _classifier(v: Variant, device: torch.device) -> Classifier:
    if v.strategy == "yours":
        return _imported(v, device)
    if v.run_id and "backbone" in v.config:
        return _transfer(v, device)
    if v.run_id:
        source = str(v.config.get("source", v.weights[0]))
        labels = [str(x) for x in v.config["labels"]]
        model, prep = classifiers.architecture(source, num_classes=len(labels))
        model.load_state_dict(torch.load(v.checkpoint, map_location="cpu", weights_only=True))
    else:
        model, prep = classifiers.pretrained(v.weights[0])
        labels = classifiers.imagenet_categories()
    return Classifier(v, model, prep, labels, device)


def build(v: Variant, device: torch.device) -> Predictor:
    """The predictor for a variant; WeightsUnavailable (one clear message) when its files are missing."""
    status = availability(v)
    if not status.ok:
        raise WeightsUnavailable(status.message)
    kind = tasks.get(v.task).predictor
    try:
        if kind in ("classifier", "regressor"):
            return _classifier(v, device)
        if kind == "face_detector":
            return FaceDetector(v, device)
        if kind == "embedder":
            return Embedder(v, device)
        if kind == "yolo_detector":
            return YoloDetector(v, device)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as exc:
        raise WeightsUnavailable(f"{v.name}: its checkpoint {v.checkpoint} cannot be loaded ({exc}); "
                                 "train it again or delete the run") from None
    raise ValueError(f"no predictor for task {v.task!r} of variant {v.name!r}")
