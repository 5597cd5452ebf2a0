"""Models trained elsewhere, imported to stand beside ours: "yours".

Accepted, with no code run on load:
- a **state dict** (`.safetensors` through the safetensors library, or `.pt`/`.pth` read with
  `torch.load(weights_only=True)`) for an architecture the registry builds: a backbone with this project's head
  (`transfer:BACKBONE:HEAD`, e.g. a run's own checkpoint) or a torchvision classifier with its own last layer
  (`torchvision:ARCH`); the output size is read from the tensors, mismatched or missing keys are named;
- an **ONNX** graph (onnxruntime): an image classifier, a regressor or an embedder with one image input, whose size
  and layout (NCHW or NHWC) are read from the graph, or a YOLO detector exported by ultralytics;
- a **YOLO `.pt`** from ultralytics, only when the user says they trust it: its loader unpickles arbitrary code.

Each import lives in its own folder under the runs folder (models/NAME: the file and meta.json with its origin,
sha256, size, format, task, classes and preprocessing). It is written to a temporary folder, loaded and run once on
a blank image there, and only then renamed into place: a refused file leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import tasks, weights
from core.files import runs_dir
from core.models import backbones, classifiers
from core.models import yolo as yolo_models

MAX_BYTES = 1 << 30  # 1 GiB: the largest file an import reads (the upload limit is the same)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PREPROCESSING = {  # how pixels become the input: the user picks one for ONNX, and it is remembered
    "imagenet": (classifiers.IMAGENET_MEAN, classifiers.IMAGENET_STD),
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # [0, 1]
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # [-1, 1]
}
IMPORTABLE = ("classifier", "regressor", "embedder", "yolo_detector")  # the predictors an import can stand behind
TASKS = tuple(t.name for t in tasks.TASKS.values() if t.predictor in IMPORTABLE)
FORMATS = ("state_dict", "safetensors", "onnx", "yolo_pt")
DEFAULT_SIZE = 224


class ImportRefused(ValueError):
    """Why a file was not imported, in one message; nothing of it is left on disk."""


@dataclass(frozen=True)
class Imported:
    """An imported model's record (meta.json)."""

    name: str
    format: str  # one of FORMATS
    task: str
    file: str  # its file's name inside the folder
    arch: str = ""  # "transfer:mobilenet_v2:linear", "torchvision:resnet18", "onnx", "yolo"
    classes: list[str] = field(default_factory=list)
    outputs: int = 0  # the model's output width (classes, 1 for a regressor, the embedding's size)
    preprocessing: str = "imagenet"
    size: tuple[int, int] = (DEFAULT_SIZE, DEFAULT_SIZE)  # (height, width) the model takes
    layout: str = "NCHW"
    origin: str = ""  # the path or upload it came from
    sha256: str = ""
    bytes: int = 0
    created: str = ""

    @property
    def folder(self) -> Path:
        return folder() / self.name

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def preprocess(self) -> classifiers.Preprocess | Exact:
        """Square inputs as every variant here is fed (short side resized, centre crop); others resized exactly."""
        mean, std = PREPROCESSING[self.preprocessing]
        h, w = self.size
        return classifiers.Preprocess(h, h, mean, std) if h == w else Exact((h, w), mean, std)

    def describe(self) -> str:
        what = {"classifier": f"{len(self.classes)}-class classifier", "regressor": "regressor",
                "embedder": f"{self.outputs}-d embedder", "yolo_detector": "YOLO detector"}[tasks.get(self.task).predictor]
        how = self.format if self.arch in (self.format, "") else f"{self.format}, {self.arch}"
        return (f"{what} ({how}), {self.size[0]}×{self.size[1]} px, {self.preprocessing} preprocessing, "
                f"from {self.origin}")


@dataclass(frozen=True)
class Exact:
    """A non-square input: the image resized to exactly (height, width), then normalised."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def transform(self):  # noqa: ANN201 - a torchvision transform
        import torchvision.transforms.v2 as T

        return T.Compose([T.ToImage(), T.Resize(self.size, antialias=True), T.ToDtype(torch.float32, scale=True),
                          T.Normalize(self.mean, self.std)])


def folder() -> Path:
    return runs_dir() / "models"


def listing() -> list[Imported]:
    """Every import here, by name; a folder whose meta.json cannot be read is skipped."""
    found = []
    for meta in sorted(folder().glob("*/meta.json")):
        try:
            found.append(_read(meta))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return found


def get(name: str) -> Imported:
    meta = folder() / name / "meta.json"
    if not meta.is_file():
        raise KeyError(f"no imported model named {name!r}; `python -m core.models list` shows them")
    return _read(meta)


def remove(name: str) -> None:
    get(name)
    shutil.rmtree(folder() / name)


def _read(meta: Path) -> Imported:
    raw = json.loads(meta.read_text())
    raw["size"] = tuple(raw["size"])
    return Imported(**raw)


# --- reading the file ------------------------------------------------------------------------------------------------

def sniff(path: Path) -> str:
    """The format a file's name and first bytes say: state_dict, safetensors or onnx (yolo_pt only when asked)."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if suffix == ".onnx":
        return "onnx"
    if suffix in (".pt", ".pth", ".bin"):
        return "state_dict"
    raise ImportRefused(f"{path.name}: unknown kind of file; import a .safetensors, .pt/.pth (a state dict), .onnx "
                        "or an ultralytics YOLO .pt (trusted)")


def read_state_dict(path: Path, fmt: str, label: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a state dict file; ImportRefused for a truncated file or a pickle that is more than weights.
    label: the file's name in messages (its original name while a staged copy is read)."""
    label = label or path.name
    if fmt == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ImportRefused(f"{label} is not a readable safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).split("\n")
        why = next((line.strip() for line in reason if "Unsupported global" in line or "GLOBAL" in line), reason[0])
        raise ImportRefused(f"{label} holds more than weights ({why[:200]}); it was refused, because unpickling "
                            "it could run code. Save model.state_dict() with torch.save, or export the model to "
                            "ONNX or safetensors") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused(f"{label} cannot be read as a PyTorch file: it is truncated or not one "
                            f"({str(exc).splitlines()[0][:200]})") from None
    for key in ("state_dict", "model_state_dict", "model"):  # a training checkpoint around the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        kinds = sorted({type(v).__name__ for v in state.values()}) if isinstance(state, dict) else [type(state).__name__]
        raise ImportRefused(f"{label} is not a state dict (a mapping of names to tensors): "
                            + (f"it maps names to {', '.join(kinds[:3])}" if isinstance(state, dict) and state
                               else f"it holds {'an empty mapping' if isinstance(state, dict) else kinds[0]}"))
    return {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel's prefix


def architectures() -> list[str]:
    """The architectures a state dict can be for."""
    return [f"transfer:{b}:{h}" for b in backbones.BACKBONES for h in backbones.HEADS] + \
        [f"torchvision:{a}" for a in sorted(set(classifiers.TORCHVISION_ARCH.values()))]


def build_arch(arch: str, outputs: int) -> tuple[nn.Module, classifiers.Preprocess]:
    """The empty network of an architecture name with this many outputs."""
    kind, _, rest = arch.partition(":")
    if kind == "transfer":
        backbone, _, head = rest.partition(":")
        return backbones.build(backbone, outputs, head or "linear", pretrained=False)
    if kind == "torchvision":
        import torchvision

        model = torchvision.models.get_model(rest, weights=None, num_classes=outputs)
        return model, classifiers.TORCHVISION_PREPROCESS
    raise ImportRefused(f"unknown architecture {arch!r}; choose from {', '.join(architectures())}")


def _out_width(model: nn.Module, state: dict[str, torch.Tensor]) -> int | None:
    """The file's output width: the last layer's rows, where the empty network's key set matches the file's."""
    ours = model.state_dict()
    if set(ours) != set(state):
        return None
    last = [k for k in ours if k.endswith("weight") and ours[k].ndim == 2][-1]
    return int(state[last].shape[0])


def _key_report(ours: dict, theirs: dict) -> str:
    missing, extra = [k for k in ours if k not in theirs], [k for k in theirs if k not in ours]
    shapes = [k for k in ours if k in theirs and tuple(ours[k].shape) != tuple(theirs[k].shape)]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", extra), ("of another shape", shapes)):
        if keys:
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}")
    return "; ".join(parts)


def _shapes_only(arch: str) -> nn.Module:
    """The empty network of an architecture with one output, on the meta device where it builds there (shapes
    without memory: trying a VGG16 costs no 500 MB), else on the CPU."""
    try:
        with torch.device("meta"):
            return build_arch(arch, 1)[0]
    except (RuntimeError, NotImplementedError):  # a builder that copies values while it initialises
        return build_arch(arch, 1)[0]


def match_state_dict(state: dict[str, torch.Tensor], arch: str | None) -> tuple[str, nn.Module, int]:
    """(architecture, network with the weights loaded, output width). With no arch named, every known one is tried;
    none fitting: ImportRefused naming the nearest (most keys in common)."""
    candidates = [arch] if arch else architectures()
    nearest: list[tuple[float, str, str]] = []
    for name in candidates:
        try:
            empty = _shapes_only(name)
        except (KeyError, ValueError) as exc:
            raise ImportRefused(str(exc)) from None
        width = _out_width(empty, state)
        if width is not None:
            model, _ = build_arch(name, width)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError:
                nearest.append((1.0, name, _key_report(model.state_dict(), state)))
                continue
            return name, model.eval(), width
        ours = empty.state_dict()
        shared = len(set(ours) & set(state))
        nearest.append((shared / max(len(set(ours) | set(state)), 1), name,
                        f"{shared} of its {len(ours)} keys in the file; " + _key_report(ours, state)))
    nearest.sort(reverse=True)
    if arch:
        raise ImportRefused(f"the state dict does not fit {arch}: {nearest[0][2]}")
    named = "; ".join(f"{n} ({why})" for _, n, why in nearest[:2])
    raise ImportRefused(f"the state dict fits no architecture this dashboard builds; the nearest: {named}")


class OnnxModel(nn.Module):
    """An ONNX graph run by onnxruntime behind a torch module's face: (B, 3, H, W) in, its first output out."""

    def __init__(self, path: Path, layout: str = "NCHW") -> None:
        super().__init__()
        import onnxruntime as ort

        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input = self.session.get_inputs()[0].name
        self.layout = layout
        self.register_buffer("_device", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "NHWC":
            x = x.permute(0, 2, 3, 1)
        out = self.session.run(None, {self.input: x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(np.asarray(out, np.float32)).to(self._device.device)


def onnx_signature(path: Path, label: str = "") -> dict:
    """What the graph takes and gives: its one image input's layout and size (None where dynamic), its first
    output's shape, and ultralytics' metadata (task, names, imgsz) when it has some. ImportRefused otherwise."""
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for every kind of bad graph
        raise ImportRefused(f"{label or path.name} is not an ONNX graph onnxruntime can load "
                            f"({str(exc).splitlines()[0][:200]})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ImportRefused(f"the graph takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); an image "
                            "model takes one")
    (i,) = inputs
    if i.type != "tensor(float)" or len(i.shape) != 4:
        raise ImportRefused(f"its input {i.name!r} is {i.type} of shape {i.shape}; an image model takes a float "
                            "tensor of 4 dimensions (batch, channels, height, width, or channels last)")
    dims = [d if isinstance(d, int) else None for d in i.shape]
    if dims[1] == 3:
        layout, (h, w) = "NCHW", dims[2:]
    elif dims[3] == 3:
        layout, (h, w) = "NHWC", dims[1:3]
    else:
        raise ImportRefused(f"its input {i.name!r} has shape {i.shape}: no axis of 3 colour channels (dynamic or "
                            "other channel counts are not supported); export it with a fixed channel axis of 3")
    out = session.get_outputs()[0]
    meta = session.get_modelmeta().custom_metadata_map
    return {"layout": layout, "size": (h, w), "output": [d if isinstance(d, int) else None for d in out.shape],
            "ultralytics": {k: meta[k] for k in ("task", "names", "imgsz") if k in meta}}


# --- importing --------------------------------------------------------------------------------------------------------

def _names(value: str) -> list[str]:
    """ultralytics' names metadata, "{0: 'face', 1: 'car'}", as a list, without evaluating it."""
    return [m[1] for m in sorted(((int(k), v) for k, v in re.findall(r"(\d+):\s*'([^']*)'", value)))]


def import_file(path: Path, name: str, task: str | None = None, arch: str | None = None,
                classes: list[str] | None = None, preprocessing: str | None = None, size: int | None = None,
                trust: bool = False, yolo: bool = False, origin: str = "") -> Imported:
    """Import one file under a new name; ImportRefused with the reason (nothing stored) when it cannot be."""
    path = Path(path)
    if not NAME.match(name or ""):
        raise ImportRefused(f"name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter "
                            "or digit")
    if (folder() / name).exists():
        raise ImportRefused(f"a model named {name!r} exists already: pick another name, or remove it first "
                            f"(python -m core.models remove {name})")
    if task is not None and task not in TASKS:
        raise ImportRefused(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise ImportRefused(f"unknown preprocessing {preprocessing!r}; choose from {', '.join(PREPROCESSING)}")
    try:
        size_bytes = path.stat().st_size
    except OSError as exc:
        raise ImportRefused(f"{path}: {exc.strerror or exc}") from None
    if size_bytes > MAX_BYTES:
        raise ImportRefused(f"{path.name} is {size_bytes / 1e9:.1f} GB, over the {MAX_BYTES / 1e9:.1f} GB limit")
    fmt = "yolo_pt" if yolo else sniff(path)
    if fmt == "yolo_pt" and not trust:
        raise ImportRefused("a YOLO .pt is a pickle that ultralytics unpickles with code in it: import it only if you "
                            "trust where it came from (--trust, or tick the box), or export it to ONNX "
                            "(yolo export format=onnx) and import that: ONNX runs no code")
    folder().mkdir(parents=True, exist_ok=True)
    staging = folder() / f".{name}.importing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        shutil.copyfile(path, staging / f"model{path.suffix.lower()}")
        meta = _describe(staging / f"model{path.suffix.lower()}", path.name, fmt, name, task, arch, classes,
                         preprocessing, size)
        meta = Imported(**{**asdict(meta), "origin": origin or str(path), "sha256": weights.sha256_of(path),
                           "bytes": size_bytes, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
        (staging / "meta.json").write_text(json.dumps(asdict(meta), indent=1))
        _check_runs(meta, staging / meta.file)
        os.replace(staging, folder() / name)
    except ImportRefused:
        raise
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        raise ImportRefused(f"{path.name} could not be loaded and run: {str(exc).splitlines()[0][:300]}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return get(name)


def _describe(file: Path, label: str, fmt: str, name: str, task: str | None, arch: str | None, classes: list[str] | None,
              preprocessing: str | None, size: int | None) -> Imported:
    base = {"name": name, "format": fmt, "file": file.name}
    if fmt in ("state_dict", "safetensors"):
        state = read_state_dict(file, fmt, label)
        found, _, width = match_state_dict(state, arch)
        task = task or ("regression" if width == 1 else "classification")
        _, prep = build_arch(found, width)
        return Imported(**base, task=task, arch=found, outputs=width, classes=_classes(task, classes, width),
                        preprocessing=preprocessing or _prep_name(prep), size=(size or prep.crop,) * 2)
    if fmt == "onnx":
        sig = onnx_signature(file, label)
        ul = sig["ultralytics"]
        if ul.get("task") == "detect" or task == "object_detection":
            names = _names(ul.get("names", "")) or list(classes or [])
            if not names:
                raise ImportRefused("a detector needs its class names: ultralytics writes them into the graph's "
                                    "metadata; pass --classes for another exporter")
            imgsz = [int(x) for x in re.findall(r"\d+", ul.get("imgsz", ""))] or [sig["size"][0] or size or 640]
            return Imported(**base, task="object_detection", arch="yolo", classes=names, outputs=len(names),
                            preprocessing="unit", size=(imgsz[0], imgsz[-1]), layout=sig["layout"])
        h, w = sig["size"]
        if (h is None or w is None) and size is None:
            h = w = DEFAULT_SIZE  # a dynamic image size: the default, unless the user names one
        h, w = (size, size) if size else (h, w)
        width = sig["output"][-1] if len(sig["output"]) >= 2 else 1
        if width is None:
            raise ImportRefused(f"its output has shape {sig['output']}: the output width must be fixed")
        task = task or ("regression" if width == 1 else "classification")
        return Imported(**base, task=task, arch="onnx", classes=_classes(task, classes, width), outputs=int(width),
                        preprocessing=preprocessing or "imagenet", size=(int(h), int(w)), layout=sig["layout"])
    model, names = yolo_models.load_trusted(file)
    return Imported(**base, task="object_detection", arch="yolo", classes=names, outputs=len(names),
                    preprocessing="unit", size=(size or 640,) * 2)


def _prep_name(prep: classifiers.Preprocess) -> str:
    return next((k for k, (m, s) in PREPROCESSING.items() if tuple(m) == tuple(prep.mean)), "imagenet")


def _classes(task: str, classes: list[str] | None, width: int) -> list[str]:
    if task != "classification":
        return []
    if classes is None:
        return [f"class {i}" for i in range(width)]
    if len(classes) != width:
        raise ImportRefused(f"{len(classes)} class names given for a model with {width} outputs")
    return list(classes)


def load(meta: Imported, file: Path | None = None) -> nn.Module:
    """The network of an import (eval mode, on the CPU); an OnnxModel for ONNX. file: where it lies, if not in
    its folder (while it is staged)."""
    file = file or meta.path
    if meta.format in ("state_dict", "safetensors"):
        model, _ = build_arch(meta.arch, meta.outputs)
        model.load_state_dict(read_state_dict(file, meta.format), strict=True)
        return model.eval()
    if meta.format == "onnx" and meta.task != "object_detection":
        return OnnxModel(file, meta.layout).eval()
    raise ValueError(f"{meta.name} is a detector: core.models.yolo runs it")


def _check_runs(meta: Imported, file: Path) -> None:
    """Load the staged file and run it once on a blank image: what will not run is refused now, not on a page."""
    from PIL import Image

    blank = Image.new("RGB", (64, 64))
    if meta.task == "object_detection":
        yolo_models.Detector.from_import(meta, torch.device("cpu"), file).find([blank])
        return
    model = load(meta, file)
    with torch.inference_mode():
        out = model(torch.stack([meta.preprocess().transform()(blank)]))
    if out.ndim < 1 or out.shape[0] != 1 or (out.ndim > 1 and out.shape[-1] != meta.outputs):
        raise ImportRefused(f"on one image it gave an output of shape {tuple(out.shape)}, not (1, {meta.outputs})")
