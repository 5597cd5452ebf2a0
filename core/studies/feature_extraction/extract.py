"""Features of a dataset's images at chosen layers of a network, cached on disk.

A feature source is a backbone with one set of weights: its ImageNet weights, a random
initialisation (seed 0), a transfer run's fine-tuned weights, or a convolutional autoencoder run's
encoder. Images are resized to size x size (as the trainers do), normalised with the statistics the
backbone's weights expect, and each tapped activation is pooled to one vector per image.

The cache holds one file per (source, weights identity, layer, pooling, dataset sample, image size).
A run's identity includes its checkpoint's size and modification time, so a run trained again, or a
new run, never meets features of older weights.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2 as T

from core.data.types import DataError, LabelledImages
from core.engine import streams
from core.engine.store import Run, RunStore
from core.features import taps
from core.files import atomic_write
from core.models import backbones
from core.models.autoencoder import ConvAutoencoder, encoder_from_checkpoint

AUTOENCODER = "conv_autoencoder"
MAX_IMAGES = 2000  # a larger set is sampled down (stratified, seeded) before extraction
WEIGHTS = {"imagenet": "ImageNet weights", "random": "random initialisation (seed 0)"}


@dataclass(frozen=True)
class FeatureSource:
    """backbone: a key of core.models.backbones.BACKBONES, or AUTOENCODER. weights: "imagenet", "random", or the
    id of a run in the store (a transfer run of that backbone, or an autoencoder run)."""

    backbone: str
    weights: str

    def __post_init__(self) -> None:
        if self.backbone != AUTOENCODER and self.backbone not in backbones.BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose from {sorted(backbones.BACKBONES)}")
        if self.backbone == AUTOENCODER and self.weights in WEIGHTS:
            raise ValueError("an autoencoder's features come from one of its runs: give the run id")

    @property
    def label(self) -> str:
        kind = {"imagenet": "ImageNet", "random": "random init"}.get(self.weights, f"run {self.weights}")
        return f"{self.backbone} · {kind}"

    @property
    def run_id(self) -> str:
        return "" if self.weights in WEIGHTS else self.weights


@dataclass(frozen=True)
class Features:
    features: dict[str, np.ndarray]  # layer -> (N, D) float32, rows in the order of `index`
    index: np.ndarray  # (N,) positions in the dataset
    targets: np.ndarray  # (N,) class indices
    seconds: float  # time spent extracting now (0 when every layer came from the cache)
    computed: int  # images passed through the network now


@functools.lru_cache(maxsize=8)
def architecture(backbone: str) -> nn.Module:
    """A randomly initialised copy: what the layer lists are read from (the same graph for every weights)."""
    if backbone == AUTOENCODER:
        return ConvAutoencoder().encoder
    model, _ = backbones.build(backbone, 1, pretrained=False)
    return model


def layers_of(backbone: str) -> list[taps.Node]:
    return taps.nodes(architecture(backbone))


def default_layer(backbone: str) -> str:
    """The last block's output: the usual place to read features from."""
    return taps.block_outputs(architecture(backbone))[-1].name


def _run(source: FeatureSource, store: RunStore) -> Run:
    run = store.get(source.run_id)
    if not run.checkpoint or not Path(run.checkpoint).is_file():
        raise DataError(f"run {run.id} has no checkpoint to read features from ({run.status})")
    expected = AUTOENCODER if source.backbone == AUTOENCODER else source.backbone
    if run.base_variant != expected:
        raise ValueError(f"run {run.id} trained {run.base_variant}, not {expected}")
    return run


def load(source: FeatureSource, store: RunStore | None = None) -> tuple[nn.Module, tuple, tuple]:
    """(network in eval mode, normalisation mean, std) for a source; WeightsUnavailable when ImageNet weights are not
    on this machine."""
    if source.backbone == AUTOENCODER:
        return encoder_from_checkpoint(_run(source, store or RunStore()).checkpoint), (0.0,) * 3, (1.0,) * 3
    prep = backbones.preprocess(source.backbone)
    if source.weights == "imagenet":
        model, _ = backbones.build(source.backbone, 1, pretrained=True)
    elif source.weights == "random":
        torch.manual_seed(0)
        model, _ = backbones.build(source.backbone, 1, pretrained=False)
    else:
        run = _run(source, store or RunStore())
        c = run.config
        outputs = len(c["labels"]) if c.get("labels") else 1
        model, _ = backbones.build(source.backbone, outputs, c.get("head", "linear"), pretrained=False)
        model.load_state_dict(torch.load(run.checkpoint, map_location="cpu", weights_only=True))
    return model.eval(), prep.mean, prep.std


def identity(source: FeatureSource, store: RunStore | None = None) -> str:
    """What the cache key says of the weights: a run's checkpoint by size and modification time."""
    if source.weights == "imagenet":
        return f"imagenet:{backbones.BACKBONES[source.backbone].source}"
    if source.weights == "random":
        return "random:seed0"
    st = os.stat(_run(source, store or RunStore()).checkpoint)
    return f"run:{source.run_id}:{st.st_size}:{st.st_mtime_ns}"


def sample(data: LabelledImages, max_images: int = MAX_IMAGES, seed: int = 0) -> np.ndarray:
    """Positions of the images used: all of them, or a stratified seeded sample of max_images."""
    n = len(data.images)
    if n <= max_images:
        return np.arange(n)
    from sklearn.model_selection import train_test_split  # here: scikit-learn stays out of the trainers' start

    idx, _ = train_test_split(np.arange(n), train_size=max_images, stratify=data.targets, random_state=seed)
    return np.sort(idx)


def dataset_key(data: LabelledImages, index: np.ndarray) -> str:
    """The dataset sample's identity: its name, which images, their labels, and each file's size and time."""
    h = hashlib.sha1(f"{data.name}|{len(data.images)}".encode())
    h.update(np.ascontiguousarray(index, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(data.targets[index]).tobytes())
    for i in index:
        ref = data.images[int(i)]
        if isinstance(ref, Path):
            st = ref.stat()
            h.update(f"{ref}:{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(hashlib.sha1(np.ascontiguousarray(ref).tobytes()).digest())
    return h.hexdigest()[:16]


def cache_dir(store: RunStore | None = None) -> Path:
    return (store or RunStore()).folder / "features"


def _cache_file(folder: Path, key: dict) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return folder / f"{digest}.npy"


def _save(path: Path, array: np.ndarray, key: dict) -> None:
    atomic_write(path, lambda f: np.save(f, array))  # a reader never meets half a file
    path.with_suffix(".json").write_text(json.dumps(key))


def _load_cached(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False) if path.is_file() else None
    except (OSError, ValueError):  # cut short or overwritten: computed again
        return None


@torch.inference_mode()
def _forward(model: nn.Module, layers: list[str], data: LabelledImages, index: np.ndarray, size: int, how: str,
             mean: tuple, std: tuple, device: torch.device) -> dict[str, np.ndarray]:
    tapped = taps.tapped(model, layers).to(device)
    normalise = T.Normalize(mean, std)
    stream = streams.ImageStream(data.images, data.targets, index, size)
    workers = streams.workers_for(len(index), size, None)
    loader = streams.image_loader(stream, streams.eval_batch(32, size), False, 0, device, workers)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for x, _ in loader:
        with taps.FX_LOCK:
            out = tapped(normalise(x.to(device).float().div_(255)))
        for name in layers:
            parts[name].append(taps.pool(out[name], how).float().cpu().numpy())
    return {name: np.concatenate(p).astype(np.float32) for name, p in parts.items()}


def extract(source: FeatureSource, data: LabelledImages, layers: list[str], size: int = 64, how: str = "avg",
            max_images: int = MAX_IMAGES, device: torch.device | None = None, store: RunStore | None = None
            ) -> Features:
    """Features of the sampled images at each layer; cached layers are read, the others computed in one pass."""
    if data.classes is None:
        raise DataError(f"{data.name} has no classes: feature probes need a labelled classification set")
    if how not in taps.POOLING:
        raise ValueError(f"unknown pooling {how!r}; choose from {list(taps.POOLING)}")
    store = store or RunStore()
    taps.check_layers(architecture(source.backbone), layers)
    index = sample(data, max_images)
    base = {"backbone": source.backbone, "weights": identity(source, store), "pool": how, "size": size,
            "dataset": data.name, "sample": dataset_key(data, index)}
    folder = cache_dir(store)
    files = {name: _cache_file(folder, {**base, "layer": name}) for name in layers}
    features = {name: _load_cached(path) for name, path in files.items()}
    missing = [name for name, value in features.items() if value is None]
    seconds = 0.0
    if missing:
        start = time.perf_counter()
        model, mean, std = load(source, store)
        computed = _forward(model, missing, data, index, size, how, mean, std, device or torch.device("cpu"))
        seconds = time.perf_counter() - start
        for name, array in computed.items():
            _save(files[name], array, {**base, "layer": name})
            features[name] = array
    return Features({n: features[n] for n in layers}, index, data.targets[index].astype(int), seconds,
                     len(index) if missing else 0)

