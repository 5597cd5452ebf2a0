"""Model variants: name -> spec (family, task, weights sources, head, strategy).

Built-in variants are the pretrained models; every finished run in the run store is a
variant too (``family/strategy-RUNID``), so fine-tuned models appear on every page. A run that
stopped or failed after writing a checkpoint is one as well, named and described with the epoch
its checkpoint holds (``family/strategy-RUNID@epoch3``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import tasks, weights
from core.engine.store import Run, RunStore
from core.models import backbones, embeddings, imported


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    task: str
    weights: tuple[str, ...]  # keys into core.weights; all must be on disk
    head: str = ""
    strategy: str = "pretrained"
    description: str = ""
    run_id: str = ""
    checkpoint: str = ""
    config: dict = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.task not in tasks.TASKS:
            raise ValueError(f"variant {self.name!r}: unknown task {self.task!r}; choose from {sorted(tasks.TASKS)}")
        for key in self.weights:
            weights.source(key)


@dataclass(frozen=True)
class Availability:
    ok: bool
    message: str = ""


def _imagenet(family: str, source: str, note: str) -> Variant:
    return Variant(f"{family}/imagenet", family, "classification", (source,), head="imagenet-1k",
                   description=f"{weights.source(source).architecture}, ImageNet-1k classifier ({note})")


def _embedding(backbone: str, tap: str) -> Variant:
    source = embeddings.source(backbone, tap)
    return Variant(f"{backbone}/imagenet-{tap}", backbone, "face_verification", (source,), head=tap,
                   description=f"{weights.source(source).architecture} ImageNet weights, {embeddings.TAPS[tap]} "
                               "as a face embedding")


DLIB_REFERENCE = Variant("dlib/face-resnet", "dlib", "face_verification", ("dlib_face_resnet", "dlib_landmarks_5"),
                         head="128-d", description="dlib's ResNet face descriptor, trained on faces: the reference")

BUILTIN: dict[str, Variant] = {
    v.name: v
    for v in [
        *[_embedding(b, tap) for b in backbones.BACKBONES for tap in embeddings.TAPS],
        DLIB_REFERENCE,
        _imagenet("efficientnet_lite0", "efficientnet_lite0_imagenet", "offline, from PyPI"),
        _imagenet("efficientnet_lite1", "efficientnet_lite1_imagenet", "offline, from PyPI"),
        _imagenet("resnet18", "resnet18_imagenet", "torchvision"),
        _imagenet("resnet50", "resnet50_imagenet", "torchvision"),
        _imagenet("resnet152", "resnet152_imagenet", "torchvision"),
        _imagenet("alexnet", "alexnet_imagenet", "torchvision"),
        _imagenet("vgg16", "vgg16_imagenet", "torchvision"),
        _imagenet("mobilenet_v2", "mobilenet_v2_imagenet", "torchvision"),
        _imagenet("mobilenet_v3_large", "mobilenet_v3_large_imagenet", "torchvision"),
        _imagenet("regnet_y_400mf", "regnet_y_400mf_imagenet", "torchvision"),
        Variant("mtcnn/pretrained", "mtcnn", "face_detection", ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"),
                head="boxes", description="MTCNN (PNet, RNet, ONet) trained on real faces"),
    ]
}


def _partial(run: Run) -> tuple[str, str]:
    """(name suffix, description suffix) of a run that ended before finishing, from its last checkpoint."""
    if run.status == "done":
        return "", ""
    return "@" + run.checkpoint_label.replace(" ", ""), f"; {run.status} after {run.checkpoint_label}"


def transfer_variant(run: Run) -> Variant:
    """A backbone with a new head trained in a run: scratch runs need no pretrained file."""
    spec = backbones.BACKBONES[run.base_variant]
    strategy = str(run.config.get("strategy", "finetune"))
    label = str(run.config.get("label", strategy))  # verification runs name their loss too: two_phase-bce
    source = embeddings.source(spec.name, run.config["tap"]) if "tap" in run.config else spec.source
    suffix, note = _partial(run)
    return Variant(
        name=f"{spec.name}/{label}-{run.id}{suffix}", family=spec.name, task=run.task,
        weights=() if strategy == "scratch" else (source,), head=str(run.config.get("head", "linear")),
        strategy=strategy, run_id=run.id, checkpoint=run.checkpoint, config=run.config,
        description=f"{spec.name}, {strategy}, {run.config.get('head', 'linear')} head, trained in run {run.id} "
                    f"on {run.config.get('dataset', '?')}{note}")


def yolo_variant(run: Run) -> Variant:
    """A YOLO architecture trained in a run, from scratch or from its pretrained source; its checkpoint is the
    last one kept (the run's metrics list them all)."""
    start = str(run.config.get("start", "scratch"))
    suffix, note = _partial(run)
    return Variant(
        name=f"{run.base_variant}/{start}-{run.id}{suffix}", family=run.base_variant, task=run.task,
        weights=(str(run.config["source"]),) if start == "pretrained" else (), head="boxes", strategy=start,
        run_id=run.id, checkpoint=run.checkpoint, config=run.config,
        description=f"{run.base_variant} from {'scratch' if start == 'scratch' else run.config['source']}, trained in "
                    f"run {run.id} on {run.config.get('dataset', '?')}{note}")


def run_variant(run: Run) -> Variant:
    """The variant a finished run stands for; it reuses its base variant's family, task and sources."""
    if run.task == "object_detection":
        return yolo_variant(run)
    if run.base_variant in backbones.BACKBONES:
        return transfer_variant(run)
    base = BUILTIN.get(run.base_variant)
    if base is None:
        raise KeyError(f"run {run.id}: unknown base variant {run.base_variant!r}; choose from {sorted(BUILTIN)}")
    strategy = str(run.config.get("strategy", "finetuned"))
    suffix, note = _partial(run)
    return Variant(
        name=f"{base.family}/{strategy}-{run.id}{suffix}", family=base.family, task=run.task, weights=base.weights,
        head=str(run.config.get("head", base.head)), strategy=strategy,
        description=f"{base.description}, fine-tuned ({strategy}) in run {run.id} on {run.config.get('dataset', '?')}"
                    f"{note}",
        run_id=run.id, checkpoint=run.checkpoint, config=run.config,
    )


def imported_variant(meta: imported.Imported) -> Variant:
    """A model imported by the user (core.models.imported): "yours/NAME", a variant like any other."""
    return Variant(name=f"yours/{meta.name}", family="yours", task=meta.task, weights=(),  # type: ignore[attr-defined]
                   head=meta.arch, strategy="yours", checkpoint=str(meta.path),  # type: ignore[attr-defined]
                   config={**asdict(meta), "imported": True},  # type: ignore[call-overload]
                   description=meta.describe())  # type: ignore[attr-defined]


def imported_variants() -> dict[str, Variant]:
    return {v.name: v for v in map(imported_variant, imported.listing()) if v.task in tasks.TASKS}


def usable(run: Run) -> bool:
    """A finished run, or one that stopped or failed after a whole checkpoint (damaged runs are not)."""
    return run.status == "done" or (run.status in ("stopped", "failed") and bool(run.checkpoint_label))


def all_variants(store: RunStore | None = None) -> dict[str, Variant]:
    """Built-in variants plus one per usable run in the store."""
    found = dict(BUILTIN)
    for run in (store or RunStore()).list():
        if usable(run) and run.task in tasks.TASKS and (run.base_variant in BUILTIN or run.base_variant in
                                                        backbones.BACKBONES or run.task == "object_detection"):
            try:
                v = run_variant(run)
            except (KeyError, ValueError, TypeError):  # a config this version cannot read (older, foreign, edited)
                continue
            found[v.name] = v
    return found | imported_variants()


def variant(name: str, store: RunStore | None = None) -> Variant:
    found = all_variants(store)
    if name not in found:
        raise KeyError(f"unknown variant {name!r}; choose from {sorted(found)}")
    return found[name]


def for_task(task: str, store: RunStore | None = None) -> list[Variant]:
    tasks.get(task)
    return [v for v in all_variants(store).values() if v.task == task]


def availability(v: Variant) -> Availability:
    """Whether the variant can be built now, and if not, the one message that says why."""
    for key in v.weights:
        if weights.local_path(key) is None:
            return Availability(False, weights.unavailable_message(key))
    if v.run_id and not Path(v.checkpoint).is_file():
        return Availability(False, f"Checkpoint of run {v.run_id} is missing: {v.checkpoint}")
    if v.strategy == "yours" and not Path(v.checkpoint).is_file():
        return Availability(False, f"The file of your model {v.name} is gone: {v.checkpoint}; import it again")
    return Availability(True)
