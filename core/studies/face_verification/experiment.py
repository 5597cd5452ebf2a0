"""Face verification: ImageNet backbones as face embeddings, before and after fine-tuning on people,
against dlib's face-trained descriptor, scored by ROC on pairs.

    python -m core.experiments face_verification --json

Each variant embeds every image of the pairs once; a pair's dissimilarity is the distance between
its two embeddings (the study's Euclidean divided by the largest in the set, or cosine), and the
ROC reads 1 - dissimilarity as the score. Fine-tuned variants are compared with their pretrained
backbone by DeLong's test on the same pairs. "All pairs" mode scores every pair of the people's
images in blocks (core.metrics.verification.all_pairs_roc), without holding the pairs.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch

from core import devices, plots, predictors, registry, timing
from core.data import catalogue
from core.data.types import ImageRef, VerificationSet, open_image
from core.engine.loop import TrainConfig
from core.engine.store import Run, RunStore
from core.engine.study import Scores, Study
from core.experiments.comparison import Comparison
from core.metrics import paired, verification
from core.metrics.hierarchical import Replicate
from core.models import backbones
from core.studies.face_verification import train as trainer

DEFAULT_BACKBONE = "efficientnet_lite0"  # offline ImageNet weights with the 1000-class head
STUDY_BACKBONES = ("alexnet", "vgg16")  # added when their weights are cached or downloadable
FAR = 1e-3


@dataclass(frozen=True)
class PairSet:
    """Pairs as positions into one list of unique images."""

    name: str
    images: list[ImageRef]
    a: np.ndarray  # (P,) int
    b: np.ndarray  # (P,) int
    same: np.ndarray  # (P,) bool
    problems: list[str] = field(default_factory=list)


def pair_set(pairs: VerificationSet) -> PairSet:
    position: dict[str, int] = {}
    images: list[ImageRef] = []
    for p in pairs.pairs:
        for path in (p.a, p.b):
            if str(path) not in position:
                position[str(path)] = len(images)
                images.append(path)
    a = np.array([position[str(p.a)] for p in pairs.pairs], int)
    b = np.array([position[str(p.b)] for p in pairs.pairs], int)
    return PairSet(pairs.name, images, a, b, np.array([p.same for p in pairs.pairs], bool),
                   [str(q) for q in pairs.problems])


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # (N, D)
    found: np.ndarray  # (N,) bool
    ms_per_image: float


def embed(variant: registry.Variant, images: list[ImageRef], device: torch.device) -> Embedded:
    predictor = predictors.build(variant, device)
    start = time.perf_counter()
    out = predictor.embed([open_image(ref) for ref in images])
    return Embedded(out.vectors, out.found, 1000 * (time.perf_counter() - start) / max(len(images), 1))


TIMED_IMAGES = 16  # ms_per_image: interleaved rounds over the first images (core.timing)


def time_variants(variants: list[registry.Variant], images: list[ImageRef], device: torch.device,
                  rounds: int = timing.ROUNDS) -> dict[str, timing.Timing]:
    """Each variant embedding the same first TIMED_IMAGES images, warmed up, in interleaved rounds."""
    opened = [open_image(ref) for ref in images[:TIMED_IMAGES]]
    models = {v.name: predictors.build(v, device) for v in variants}
    return timing.interleaved({n: (lambda m=m: m.embed(opened)) for n, m in models.items()}, items=len(opened),
                              rounds=rounds, device=device)


@dataclass(frozen=True)
class ScoredPairs:
    """One variant on one pair set: normalised distances, the largest raw one, and the ROC summary."""

    distances: np.ndarray  # (P,) in [0, 1]; accept (same person) when <= a threshold
    largest: float
    result: verification.VerificationResult


def score(emb: Embedded, ps: PairSet, distance: str) -> ScoredPairs:
    raw = verification.pair_distances(emb.vectors[ps.a], emb.vectors[ps.b], distance)
    largest = float(raw.max()) if raw.size else 0.0
    d = verification.normalise(raw, distance, largest)
    return ScoredPairs(d, largest, verification.evaluate(1.0 - d, ps.same, fars=(FAR, 1e-2)))


def summary(r: verification.VerificationResult, emb: Embedded) -> dict[str, float]:
    """The task's metric keys for one variant."""
    return {"AUC": r.auc, "EER": r.eer, "TAR@FAR=0.001": r.tar_at_far[FAR], "TAR@FAR=0.01": r.tar_at_far[1e-2],
            "best_accuracy": r.best_accuracy, "EER_distance": 1.0 - r.eer_threshold,
            "ms_per_image": emb.ms_per_image, "no_face": float((~emb.found).sum())}


PHASES = {"frozen": "phase 1", "two_phase": "phase 2"}


def label(v: registry.Variant) -> str:
    """A short name for tables and legends: backbone, pretrained or phase and loss, and the run's last digits."""
    if v.family == "dlib":
        return "dlib (trained on faces)"
    if v.strategy == "yours":
        return f"yours: {v.name.removeprefix('yours/')}"
    if not v.run_id:
        return f"{v.family} · pretrained"
    phase = PHASES.get(v.strategy, v.strategy)
    partial = "@" + v.name.partition("@")[2] if "@" in v.name else ""  # a run stopped after an epoch
    return f"{v.family} · {phase} · {v.config.get('loss', '?')} · …{v.run_id[-6:]}{partial}"


def reference_of(variant: registry.Variant, names: list[str]) -> str | None:
    """The pretrained variant a fine-tuned one is compared with: its backbone at its tap; for your imported model,
    the page's pretrained embedding (the first variant)."""
    if variant.strategy == "yours":
        return names[0] if names and names[0] != variant.name else None
    if not variant.run_id:
        return None
    ref = f"{variant.family}/imagenet-{variant.config.get('tap', 'output')}"
    return ref if ref in names else None


def compare(variants: list[registry.Variant], embedded: dict[str, Embedded], ps: PairSet, distance: str,
            device: str = "cpu") -> Comparison:
    """Metrics per variant, and DeLong's ΔAUC (95% CI) of each fine-tuned variant against its pretrained one."""
    verification.check_distance(distance)
    scored = {v.name: score(embedded[v.name], ps, distance) for v in variants}
    names = [v.name for v in variants]
    comparisons = []
    for v in variants:
        ref = reference_of(v, names)
        if ref is not None:
            comparisons.append((v.name, ref, paired.delong(1 - scored[v.name].distances, 1 - scored[ref].distances,
                                                           ps.same)))
    extra = {
        "distance": distance, "pairs": len(ps.same), "same_pairs": int(ps.same.sum()), "problems": ps.problems,
        "roc": {n: {"fpr": s.result.roc.fpr.tolist(), "tpr": s.result.roc.tpr.tolist()} for n, s in scored.items()},
        "distances": {n: s.distances.tolist() for n, s in scored.items()},
        "largest_distance": {n: s.largest for n, s in scored.items()},
        "runs": {v.name: {"run_id": v.run_id, "strategy": v.strategy, "loss": v.config.get("loss", ""),
                          "tap": v.config.get("tap", v.head)} for v in variants},
    }
    metrics = {n: summary(scored[n].result, embedded[n]) for n in names}
    return Comparison("face_verification", ps.name, device, metrics, comparisons, extra)


def all_pairs(variants: list[registry.Variant], embedded: dict[str, Embedded], identities: np.ndarray,
              distance: str, dataset: str, device: str = "cpu"
              ) -> tuple[Comparison, dict[str, verification.VerificationResult]]:
    """Every pair of a set of people's images, per variant, counted in blocks: metrics and ROC (no per-pair
    test: the pairs share images, so they are not independent)."""
    metrics, results, n_pairs = {}, {}, 0
    for v in variants:
        found = verification.all_pairs_roc(embedded[v.name].vectors, identities, distance)
        results[v.name] = verification.of_roc(found.roc, (FAR, 1e-2))
        metrics[v.name] = summary(results[v.name], embedded[v.name])
        n_pairs = found.n_pairs
    return Comparison("face_verification", f"{dataset} (all pairs)", device, metrics, [],
                      {"distance": distance, "pairs": n_pairs}), results


def runs_on(dataset: str, backbone: str, tap: str, distance: str, store: RunStore) -> list[Run]:
    """Finished fine-tuning runs of this backbone and tap on this dataset, oldest first."""
    return [r for r in store.list("done") if r.task == "face_verification" and r.config.get("dataset") == dataset
            and r.base_variant == backbone and r.config.get("tap") == tap and r.config.get("distance") == distance]


def ensure_runs(dataset: str, backbone: str, store: RunStore, device: torch.device, tap: str = "output",
                distance: str = "euclidean", cfg: TrainConfig | None = None) -> list[Run]:
    """One finished run per recipe (phase 1, phase 2, metric loss), training the missing ones now."""
    have = {r.config.get("label"): r for r in runs_on(dataset, backbone, tap, distance, store)}
    base = cfg or trainer.quick_config(backbone)
    for name in trainer.RECIPES:
        c, e = trainer.recipe(base, trainer.EmbedConfig(tap, distance), name)
        if trainer.variant_label(c, e) not in have:
            for _ in trainer.train(dataset, c, e, store, device):
                pass
    return runs_on(dataset, backbone, tap, distance, store)


def backbones_to_compare() -> list[str]:
    return [DEFAULT_BACKBONE] + [b for b in STUDY_BACKBONES if backbones.available(b)]


def default_comparison(task: Study, dataset: str | None = None, store: RunStore | None = None,
                       device: torch.device | None = None, n_boot: int | None = None) -> Comparison:
    """The study's table on the cartoon test pairs: each backbone pretrained, after phase 1, after phase 2 and
    with a metric-learning loss (trained now when the store has none), and dlib's reference."""
    store = store or RunStore()
    device = device or devices.pick_device()
    dataset = dataset or task.default_dataset
    ps = pair_set(catalogue.pairs(dataset, "test"))
    variants = []
    for backbone in backbones_to_compare():
        variants.append(registry.BUILTIN[f"{backbone}/imagenet-output"])
        variants += [registry.run_variant(r) for r in ensure_runs(dataset, backbone, store, device)]
    if registry.availability(registry.DLIB_REFERENCE).ok:
        variants.append(registry.DLIB_REFERENCE)
    embedded = {v.name: embed(v, ps.images, device) for v in variants}
    result = compare(variants, embedded, ps, "euclidean", device.type)
    timing.into(result.variants, result.extra, time_variants(variants, ps.images, device))
    return result



@functools.lru_cache(maxsize=2)
def _test_pairs(dataset: str) -> PairSet:
    return pair_set(catalogue.pairs(dataset, "test"))


@functools.lru_cache(maxsize=16)
def _scored(variant: registry.Variant, dataset: str, distance: str, device: torch.device) -> ScoredPairs:
    """One variant on the test pairs, kept for the process: the across-seed scores and the talk's ROC share it."""
    ps = _test_pairs(dataset)
    return score(embed(variant, ps.images, device), ps, distance)


def _scores(variant: registry.Variant, seed: int | None, dataset: str, distance: str, device: torch.device
            ) -> Scores:
    ps = _test_pairs(dataset)
    scored = _scored(variant, dataset, distance, device)
    return {"AUC": Replicate(seed, np.arange(len(ps.same)), paired.weighted_auc(1.0 - scored.distances, ps.same))}


def scores(run: Run, device: torch.device) -> Scores:
    """A fine-tuned run's AUC on the test pairs as a function of per-pair draw counts (the pairs are the items)."""
    return _scores(registry.run_variant(run), int(run.config.get("seed", 0)), run.config.get("dataset"),
                   run.config.get("distance", "euclidean"), device)


def untrained(dataset: str, device: torch.device) -> dict[str, Scores]:
    """The default backbone with its ImageNet weights: no training, the same for every seed."""
    return {"pretrained": _scores(registry.BUILTIN[f"{DEFAULT_BACKBONE}/imagenet-output"], None, dataset,
                                  "euclidean", device)}


def key_figure(runs: dict[str, Run], dataset: str, device: torch.device) -> go.Figure:
    """The talk's figure: the ROC overlay of the ImageNet-pretrained default backbone and each compared run."""
    named = {"pretrained": (registry.BUILTIN[f"{DEFAULT_BACKBONE}/imagenet-output"], "euclidean"),
             **{n: (registry.run_variant(r), r.config.get("distance", "euclidean")) for n, r in runs.items()}}
    return plots.roc_figure({n: _scored(v, dataset, d, device).result for n, (v, d) in named.items()})
