"""Feature extraction: which layer of a pretrained CNN transfers, probed by a linear SVM under k-fold CV.

    python -m core.experiments feature_extraction --json [--dataset NAME]

Features from a backbone's layers (one or several, fused by concatenation) go through a scikit-learn
probe (core.features.probe). The default comparison: MobileNetV2 with its ImageNet weights against
the same network randomly initialised, at every block's output on the Fashion-MNIST sample (the
layer-wise curve), compared at the last block and at the pretrained network's best block with the
corrected resampled t-test over the same folds; then CDFG on Fashion-MNIST against its inverted copy.
Fine-tuned runs of the backbone and autoencoder runs are feature sources too (the page offers them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from core import devices
from core.data import catalogue
from core.data.types import LabelledImages
from core.engine import strategies
from core.engine.store import Run, RunStore
from core.engine.study import Scores
from core.experiments.comparison import Comparison
from core.features import cdfg, probe, taps
from core.metrics import cka, classification, paired
from core.metrics.hierarchical import Replicate
from core.models import backbones
from core.studies.feature_extraction import extract
from core.studies.feature_extraction.extract import FeatureSource
from core.studies.transfer import train as transfer

DEFAULT_DATASET = "cartoon_faces/glasses"
DEFAULT_BACKBONE = "mobilenet_v2"
DOMAIN_PAIRS = {
    "Fashion-MNIST vs inverted": ("fashion_mnist_sample", "fashion_mnist_sample/inverted"),
    "Fashion-MNIST vs blurred": ("fashion_mnist_sample", "fashion_mnist_sample/blurred"),
    "real vs cartoon faces": ("lfw_subset", "cartoon_faces/patches"),
}
DEFAULT_PAIR = "Fashion-MNIST vs inverted"


@dataclass(frozen=True)
class FeatureSpec:
    """Which features: a source, the layers fused (concatenated in this order), the pooling and the image size."""

    source: FeatureSource
    layers: tuple[str, ...]
    pool: str = "avg"
    size: int = 64

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("choose at least one layer")
        if self.pool not in taps.POOLING:
            raise ValueError(f"unknown pooling {self.pool!r}; choose from {list(taps.POOLING)}")
        if self.size < 16:
            raise ValueError(f"image size must be at least 16 px, got {self.size}")

    @property
    def label(self) -> str:
        return f"{self.source.label} @ {' + '.join(self.layers)}"


@dataclass(frozen=True)
class ProbeRow:
    """One probe of the results table."""

    dataset: str
    spec: FeatureSpec
    cfg: probe.ProbeConfig
    result: probe.ProbeResult
    extract_seconds: float
    sample: str = ""  # the dataset sample's key: rows compared must share it (same images, same folds)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        r = self.result
        return {"dataset": self.dataset, "features": self.spec.source.label, "layers": " + ".join(self.spec.layers),
                "pool": self.spec.pool, "size": self.spec.size, "probe": self.cfg.describe(),
                "n_features": r.n_features, "images": r.n_samples, "balanced_accuracy": r.mean, "std": r.std,
                "folds": [round(float(f), 4) for f in r.folds], "extract_s": self.extract_seconds,
                "fit_s": r.seconds}


def features(spec: FeatureSpec, data: LabelledImages, device: torch.device | None = None,
             store: RunStore | None = None) -> tuple[np.ndarray, extract.Features]:
    """(N, D) fused features of the sampled images, and what extraction returned."""
    got = extract.extract(spec.source, data, list(spec.layers), spec.size, spec.pool, device=device, store=store)
    return np.concatenate([got.features[name] for name in spec.layers], 1), got


def probe_row(data: LabelledImages, spec: FeatureSpec, cfg: probe.ProbeConfig, device: torch.device | None = None,
              store: RunStore | None = None) -> ProbeRow:
    x, got = features(spec, data, device, store)
    result = probe.cross_validated(x, got.targets, cfg, data.classes)
    return ProbeRow(data.name, spec, cfg, result, got.seconds, extract.dataset_key(data, got.index))


def compare(a: ProbeRow, b: ProbeRow) -> paired.Paired:
    """a - b in balanced accuracy over the same folds; ValueError when the two rows were not scored on the same
    images and folds."""
    if (a.dataset, a.sample, a.cfg.folds, a.cfg.seed) != (b.dataset, b.sample, b.cfg.folds, b.cfg.seed):
        raise ValueError("these two rows were not scored on the same images and folds (dataset, k or seed differ); "
                         "a paired test needs both")
    return paired.corrected_resampled_ttest(a.result.folds, b.result.folds, 1 / (a.cfg.folds - 1),
                                            "balanced_accuracy")


MAPS = {"PCA": "principal components (linear)", "t-SNE": "t-SNE (scikit-learn, perplexity 30)",
        "UMAP": "UMAP (umap-learn; its first use in a process compiles for about 10 s)"}


def project(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, D) features -> (N, 2) map coordinates."""
    if method == "PCA":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(x)
    if method == "t-SNE":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", random_state=seed).fit_transform(x)
    if method == "UMAP":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(x)
    raise ValueError(f"unknown map {method!r}; choose from {list(MAPS)}")


UNCHANGED = ("frozen", "scratch")  # strategies whose backbone is not ImageNet's, fine-tuned


def finetuned_runs(backbone: str, store: RunStore | None = None) -> list[Run]:
    """Transfer runs of this backbone that left a checkpoint (done, or stopped after an epoch) and changed its
    ImageNet weights, newest first: not a frozen run (its backbone is ImageNet's, so every CKA would read 1.0) nor
    one from scratch (it never had ImageNet's)."""
    runs = [r for r in (store or RunStore()).list() if r.base_variant == backbone and r.task in transfer.TASKS
            and r.checkpoint_label and r.status in ("done", "stopped", "failed")
            and r.config.get("strategy") not in UNCHANGED]
    return sorted(runs, key=lambda r: r.created, reverse=True)


def autoencoder_runs(store: RunStore | None = None) -> list[Run]:
    runs = [r for r in (store or RunStore()).list() if r.base_variant == extract.AUTOENCODER and r.checkpoint_label
            and r.status in ("done", "stopped", "failed")]
    return sorted(runs, key=lambda r: r.created, reverse=True)


def layer_curve(data: LabelledImages, sources: list[FeatureSource], cfg: probe.ProbeConfig, size: int = 64,
                pool: str = "avg", device: torch.device | None = None, store: RunStore | None = None) -> pd.DataFrame:
    """Balanced accuracy at each block's output, for each source: one row per (source, depth)."""
    rows = []
    for source in sources:
        blocks = taps.block_outputs(extract.architecture(source.backbone))
        got = extract.extract(source, data, [b.name for b in blocks], size, pool, device=device, store=store)
        for depth, block in enumerate(blocks):
            r = probe.cross_validated(got.features[block.name], got.targets, cfg, data.classes)
            rows.append({"source": source.label, "weights": source.weights, "depth": depth, "layer": block.name,
                         "balanced_accuracy": r.mean, "std": r.std, "folds": r.folds.tolist(),
                         "n_features": r.n_features})
    return pd.DataFrame(rows)


def cka_by_layer(data: LabelledImages, backbone: str, run_id: str, size: int = 64, pool: str = "avg",
                 device: torch.device | None = None, store: RunStore | None = None) -> pd.DataFrame:
    """Linear CKA between the ImageNet and the run's features at each block's output, on the same images."""
    blocks = [b.name for b in taps.block_outputs(extract.architecture(backbone))]
    before = extract.extract(FeatureSource(backbone, "imagenet"), data, blocks, size, pool, device=device, store=store)
    after = extract.extract(FeatureSource(backbone, run_id), data, blocks, size, pool, device=device, store=store)
    return pd.DataFrame([{"depth": d, "layer": name, "cka": cka.linear_cka(before.features[name], after.features[name])}
                         for d, name in enumerate(blocks)])


def trainable_map(run: Run) -> pd.DataFrame:
    """Parameters of each backbone block (and the head) that trained in each epoch of a transfer run: one row per
    (block, epoch), trainable 0 when the block was frozen that epoch."""
    cfg = strategies.StrategyConfig(**run.config["strategy_config"])
    model = extract.architecture(run.base_variant)
    sizes = [sum(p.numel() for p in block.parameters()) for block in model.blocks]
    outputs = len(run.config["labels"]) if run.config.get("labels") else 1
    head = backbones.make_head(str(run.config.get("head", "linear")), backbones.BACKBONES[run.base_variant].width,
                               outputs)
    head_params = sum(p.numel() for p in head.parameters())
    epochs = int(run.config.get("epochs", 1))
    rows = []
    for epoch in range(epochs):
        open_blocks = set(strategies.trainable_blocks(cfg, len(sizes), epoch))
        rows += [{"block": f"blocks.{i}", "epoch": epoch + 1, "trainable": n if i in open_blocks else 0, "params": n}
                 for i, n in enumerate(sizes)]
        rows.append({"block": "head", "epoch": epoch + 1, "trainable": head_params, "params": head_params})
    return pd.DataFrame(rows)


def cdfg_rows(pair: tuple[str, str], specs: list[FeatureSpec], cfg: probe.ProbeConfig,
              device: torch.device | None = None, store: RunStore | None = None) -> pd.DataFrame:
    """CDFG for each feature extractor on a pair of domains with the same classes: one row per extractor."""
    a, b = catalogue.labelled(pair[0]), catalogue.labelled(pair[1])
    to_a = cdfg.label_map(a, b)
    rows = []
    for spec in specs:
        xa, got_a = features(spec, a, device, store)
        xb, got_b = features(spec, b, device, store)
        m = cdfg.measure(xa, got_a.targets, xb, to_a[got_b.targets], cfg, (a.name, b.name), a.classes)
        rows.append({"features": spec.label, "A": a.name, "B": b.name,
                     "R_A(f_A)": m.forward.risk_source, "R_B(f_A)": m.forward.risk_target,
                     "partial A→B": m.forward.partial, "R_B(f_B)": m.backward.risk_source,
                     "R_A(f_B)": m.backward.risk_target, "partial B→A": m.backward.partial, "complete": m.complete})
    return pd.DataFrame(rows)


def default_comparison(task: object = None, dataset: str | None = None, store: RunStore | None = None,
                       device: torch.device | None = None, size: int = 64) -> Comparison:
    """Pretrained against random-init MobileNetV2 features, layer by layer, on one set (see the module's doc)."""
    store = store or RunStore()
    device = device or devices.pick_device()
    data = catalogue.labelled(dataset or DEFAULT_DATASET)
    cfg = probe.ProbeConfig()
    pretrained, random = FeatureSource(DEFAULT_BACKBONE, "imagenet"), FeatureSource(DEFAULT_BACKBONE, "random")
    curve = layer_curve(data, [pretrained, random], cfg, size, device=device, store=store)
    ours = curve[curve.weights == "imagenet"].reset_index(drop=True)
    last, best = ours.layer.iloc[-1], ours.layer.iloc[int(ours.balanced_accuracy.idxmax())]
    variants, comparisons = {}, []
    for layer in dict.fromkeys([last, best]):
        rows = {s.weights: probe_row(data, FeatureSpec(s, (layer,), size=size), cfg, device, store)
                for s in (pretrained, random)}
        for weights, row in rows.items():
            variants[f"{DEFAULT_BACKBONE}/{weights}@{layer}"] = {
                "balanced_accuracy": row.result.mean, "balanced_accuracy_std": row.result.std,
                "n_features": float(row.result.n_features), "fit_seconds": row.result.seconds}
        comparisons.append((f"{DEFAULT_BACKBONE}/imagenet@{layer}", f"{DEFAULT_BACKBONE}/random@{layer}",
                            compare(rows["imagenet"], rows["random"])))
    pair = DOMAIN_PAIRS[DEFAULT_PAIR]
    last_block = taps.block_outputs(extract.architecture(DEFAULT_BACKBONE))[-1].name
    domains = cdfg_rows(pair, [FeatureSpec(s, (last_block,), size=size) for s in (pretrained, random)], cfg, device,
                        store)
    return Comparison("feature_extraction", data.name, str(device), variants, comparisons, extra={
        "probe": cfg.to_dict(), "image_size": size, "images": len(extract.sample(data)),
        "best_layer": best, "last_layer": last, "layer_curve": curve.drop(columns=["folds"]).to_dict("records"),
        "cdfg": domains.to_dict("records")})


def _probe_scores(source: FeatureSource, dataset: str, size: int, seed: int | None, device: torch.device) -> Scores:
    """The probe's balanced accuracy at the source's last block, from each image's out-of-fold prediction (the same
    folds for every source), as a function of per-image draw counts."""
    data = catalogue.labelled(dataset)
    x, got = features(FeatureSpec(source, (extract.default_layer(source.backbone),), size=size), data, device)
    predicted = probe.out_of_fold(x, got.targets, probe.ProbeConfig(), data.classes)
    summary = classification.summary_of_counts(got.targets, predicted, list(data.classes or []))
    return {"balanced_accuracy": Replicate(seed, got.index, lambda counts: summary(counts)["mCA"])}


def scores(run: Run, device: torch.device) -> Scores:
    """An autoencoder run's encoder features, probed on the set it trained on (its seed: the run's)."""
    return _probe_scores(FeatureSource(extract.AUTOENCODER, run.id), run.config.get("dataset"),
                         int(run.config.get("image_size", 32)), int(run.config.get("seed", 0)), device)


def untrained(dataset: str, device: torch.device) -> dict[str, Scores]:
    """MobileNetV2's ImageNet features at its last block: nothing trained here, the same for every seed."""
    return {f"{DEFAULT_BACKBONE} · ImageNet": _probe_scores(FeatureSource(DEFAULT_BACKBONE, "imagenet"), dataset, 64,
                                                            None, device)}
