"""Fine-tune an ImageNet backbone as a face embedding on people, and record each run.

    python -m core.studies.face_verification --preset phase1 --backbone efficientnet_lite0
    python -m core.worker --runs RUN_ID [RUN_ID ...]   # runs already queued (by a page)

The study's two phases are two strategies: "frozen" trains the classifier layers only (phase 1),
"two_phase" trains them first and then everything (phase 2); the loss is the study's BCE on
normalised pair distances, or a metric-learning loss (core.engine.objectives.LOSSES). Each run goes
through the run store's lifecycle; a finished run is a face-verification variant on every page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace

import torch

from core import devices
from core.data import catalogue
from core.data.cartoon_faces import VERIFICATION_CROP
from core.data.types import LabelledImages
from core.engine import config as settings
from core.engine import distributed, finals, objectives
from core.engine.events import EpochEnd, Finished, Phase
from core.engine.loop import Predictions, TrainConfig, check_dataset, fit
from core.engine.store import Recorder, Run, RunStore
from core.engine.strategies import StrategyConfig
from core.metrics import verification
from core.models import embeddings

TASK = "face_verification"
DEFAULT_DATASET = "cartoon_faces/verification"


@dataclass(frozen=True)
class EmbedConfig:
    tap: str = "output"
    distance: str = "euclidean"
    loss: str = "bce"

    def __post_init__(self) -> None:
        embeddings.check_tap(self.tap)
        verification.check_distance(self.distance)
        if self.loss not in objectives.LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {list(objectives.LOSSES)}")


# The study's table, row by row: what each named run trains.
RECIPES = {
    "phase1": ("frozen", "bce", "the classifier layers only, BCE (the study's phase 1)"),
    "phase2": ("two_phase", "bce", "the classifier layers, then everything, BCE (the study's phase 2)"),
    "metric": ("two_phase", "contrastive", "as phase 2, with pytorch-metric-learning's contrastive loss"),
}


def quick_config(backbone: str = "efficientnet_lite0") -> TrainConfig:
    """Settings that train EfficientNet-Lite0 on the cartoon people in about a minute a run on 2 CPU cores."""
    return TrainConfig(backbone=backbone, image_size=VERIFICATION_CROP, epochs=8, batch_size=32, augment=("flip",),
                       strategy=StrategyConfig("two_phase", lr=5e-4, head_epochs=2), class_weighted=False)


def recipe(cfg: TrainConfig, emb: EmbedConfig, name: str) -> tuple[TrainConfig, EmbedConfig]:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {list(RECIPES)}")
    strategy, loss, _ = RECIPES[name]
    return cfg.with_strategy(strategy), replace(emb, loss=loss)


def variant_label(cfg: TrainConfig, emb: EmbedConfig) -> str:
    return f"{cfg.strategy.name}-{emb.loss}"


def run_config(dataset: str, cfg: TrainConfig, emb: EmbedConfig) -> dict:
    return {**cfg.to_dict(), **asdict(emb), "dataset": dataset, "strategy": cfg.strategy.name,
            "strategy_config": asdict(cfg.strategy), "lr": cfg.strategy.lr, "head": emb.tap,
            "label": variant_label(cfg, emb)}


@dataclass(frozen=True)
class VerificationConfig(TrainConfig):
    """A verification run's settings: the training settings, the people it trains on, and the embedding's."""
    dataset: str = field(default=DEFAULT_DATASET, metadata={"help": "a pairs set or a folder of people (python -m "
                                                                     "core.data)"})
    tap: str = "output"
    distance: str = "euclidean"
    loss: str = "bce"

    @property
    def parts(self) -> tuple[TrainConfig, EmbedConfig]:
        train = TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})
        return train, EmbedConfig(self.tap, self.distance, self.loss)


LABELS = ("label",)


def legacy(stored: dict) -> dict:
    """A stored verification config in the dataclass's keys: the head is the tap, the strategy kept by name and
    in full (strategy_config), its learning rate once more as lr."""
    out = {k: v for k, v in stored.items() if k not in ("strategy_config", "lr")}
    strategy = stored.get("strategy_config", stored.get("strategy", "two_phase"))
    return out | {"head": "linear", "strategy": strategy if isinstance(strategy, dict) else {"name": str(strategy)}}


def configs_of(run: Run) -> tuple[TrainConfig, EmbedConfig]:
    cfg, _ = settings.read(VerificationConfig, legacy(run.config), LABELS)
    return cfg.parts


def as_config(dataset: str, cfg: TrainConfig, emb: EmbedConfig) -> VerificationConfig:
    return VerificationConfig(**{f.name: getattr(cfg, f.name) for f in fields(TrainConfig)}, dataset=dataset,
                              tap=emb.tap, distance=emb.distance, loss=emb.loss)


def presets() -> dict[str, VerificationConfig]:
    """The study's named settings: quick (the pages' and prepare's), and one per recipe of its table."""
    quick = as_config(DEFAULT_DATASET, *recipe(quick_config(), EmbedConfig(), "phase2"))
    return {"quick": quick, "default": quick,
            **{name: as_config(DEFAULT_DATASET, *recipe(quick_config(), EmbedConfig(), name)) for name in RECIPES}}


def queue_config(cfg: VerificationConfig, store: RunStore) -> list[str]:
    """The study's queue: one run for this config."""
    return queue(cfg.dataset, [cfg.parts], store)


def train_run(run: Run, rec: Recorder, device: torch.device) -> Iterator[Phase | EpochEnd]:
    """The study's trainer: a queued run, carried out inside its recording (the one worker opens it)."""
    return _fit(run.config["dataset"], *configs_of(run), rec, device)


def _checked(dataset: str, cfg: TrainConfig, emb: EmbedConfig) -> LabelledImages:
    if cfg.strategy.name == "frozen" and not embeddings.head_has_layers(cfg.backbone, emb.tap):
        raise ValueError(f"{cfg.backbone}'s penultimate features come straight from its backbone, so there are "
                         "no classifier layers for phase 1 to train; pick the output tap or phase 2")
    data = catalogue.people(dataset)
    check_dataset(data, open_set=True)
    return data


def queue(dataset: str, runs: list[tuple[TrainConfig, EmbedConfig]], store: RunStore) -> list[str]:
    for cfg, emb in runs:
        _checked(dataset, cfg, emb)
    return [store.create(TASK, cfg.backbone, TASK, run_config(dataset, cfg, emb)) for cfg, emb in runs]


def train(dataset: str, cfg: TrainConfig, emb: EmbedConfig, store: RunStore | None = None,
          device: torch.device | None = None, run_id: str | None = None) -> Iterator[Phase | EpochEnd | Finished]:
    """One fine-tuned embedding: each epoch in the run store as it ends (history, checkpoint)."""
    store = store or RunStore()
    device = device or devices.pick_device()
    if not distributed.is_main():
        yield from _fit(dataset, cfg, emb, None, device)
        return
    run_id = run_id or queue(dataset, [(cfg, emb)], store)[0]
    with store.recording(run_id) as rec:
        yield from _fit(dataset, cfg, emb, rec, device)
    yield Finished(run_id, f"{cfg.backbone}/{variant_label(cfg, emb)}-{run_id}", store.get(run_id).metrics["seconds"])


def _fit(dataset: str, cfg: TrainConfig, emb: EmbedConfig, rec: Recorder | None, device: torch.device
         ) -> Iterator[Phase | EpochEnd]:
    """Train into the run's recording. Under torchrun only rank 0 records: the other processes (rec None) train
    their slice of each batch and yield nothing."""
    main = rec is not None and distributed.is_main()
    if main:
        rec.note(world_size=distributed.world())
        yield Phase("reading the data")
    data = _checked(dataset, cfg, emb)
    model, _ = embeddings.build(cfg.backbone, emb.tap, pretrained=True)
    objective = objectives.Verification(model.width, emb.loss, emb.distance)
    for event in fit(data, cfg, device, model, objective):
        if not main:
            continue
        if isinstance(event, Predictions):
            rec.note(seconds=event.seconds, test_samples=len(event.index), final=test_auc(event, emb.distance))
            continue
        rec.event(event)
        if isinstance(event, EpochEnd):
            rec.checkpoint(objective.export(model), event.label)
        yield event


def test_auc(predictions: Predictions, distance: str) -> dict:
    """The run's final number: AUC over every pair of the test people's embeddings, with a CI from resampling
    people (core.metrics.verification.people_bootstrap_auc)."""
    try:
        value, ci, people = verification.people_bootstrap_auc(predictions.outputs, predictions.targets, distance)
    except ValueError:  # a test split cut too short for same- and different-person pairs: no final number
        return {}
    return finals.record("test AUC", value, ci, f"{len(predictions.targets):,} test images of {people} people")
