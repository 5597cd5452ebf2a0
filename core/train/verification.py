"""Fine-tune an ImageNet backbone as a face embedding on people, and record each run.

    python -m core.train.verification --backbone efficientnet_lite0 --runs-as phase1 phase2 metric
    python -m core.train.verification --runs RUN_ID [RUN_ID ...]   # runs already queued (by a page)

The study's two phases are two strategies: "frozen" trains the classifier layers only (phase 1),
"two_phase" trains them first and then everything (phase 2); the loss is the study's BCE on
normalised pair distances, or a metric-learning loss (core.train.objectives.LOSSES). Each run goes
through the run store's lifecycle; a finished run is a face-verification variant on every page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import torch

from core import devices
from core.data import catalogue
from core.data.types import LabelledImages
from core.metrics import verification
from core.models import backbones, embeddings
from core.runs import finals
from core.train import cli, distributed, objectives
from core.train.events import EpochEnd, Finished, Phase
from core.train.loop import Predictions, TrainConfig, check_dataset, fit
from core.train.runstore import Run, RunStore, carry_out, stored_fields
from core.train.strategies import StrategyConfig

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
    return TrainConfig(backbone=backbone, image_size=112, epochs=8, batch_size=32, augment=("flip",),
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


def configs_of(run: Run) -> tuple[TrainConfig, EmbedConfig]:
    c = run.config
    cfg = TrainConfig.from_dict({**c, "head": "linear", "strategy": c.get("strategy_config", c.get("strategy"))})
    return cfg, EmbedConfig(**stored_fields(EmbedConfig, c))


def _checked(dataset: str, cfg: TrainConfig, emb: EmbedConfig) -> LabelledImages:
    if cfg.strategy.name == "frozen" and not embeddings.head_has_layers(cfg.backbone, emb.tap):
        raise ValueError(f"{cfg.backbone}'s penultimate features come straight from its backbone, so there are "
                         "no classifier layers for phase 1 to train; pick the output tap or phase 2")
    data = catalogue.people(dataset, cfg.seed)
    check_dataset(data, cfg.seed, open_set=True)
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
    if not distributed.is_main():  # torchrun's other processes train their slice of each batch; rank 0 records
        model, _ = embeddings.build(cfg.backbone, emb.tap, pretrained=True)
        for _ in fit(_checked(dataset, cfg, emb), cfg, device, model,
                     objectives.Verification(model.width, emb.loss, emb.distance)):
            pass
        return
    run_id = run_id or queue(dataset, [(cfg, emb)], store)[0]
    with store.recording(run_id) as rec:
        rec.note(world_size=distributed.world())
        yield Phase("reading the data")
        data = _checked(dataset, cfg, emb)
        model, _ = embeddings.build(cfg.backbone, emb.tap, pretrained=True)
        objective = objectives.Verification(model.width, emb.loss, emb.distance)
        for event in fit(data, cfg, device, model, objective):
            if isinstance(event, Predictions):
                seconds = event.seconds
                rec.note(seconds=seconds, test_samples=len(event.index), final=test_auc(event, emb.distance))
                continue
            rec.event(event)
            if isinstance(event, EpochEnd):
                rec.checkpoint(objective.export(model), event.label)
            yield event
    yield Finished(run_id, f"{cfg.backbone}/{variant_label(cfg, emb)}-{run_id}", seconds)


def test_auc(predictions: Predictions, distance: str) -> dict:
    """The run's final number: AUC over every pair of the test people's embeddings, with a CI from resampling
    people (core.metrics.verification.people_bootstrap_auc)."""
    try:
        value, ci, people = verification.people_bootstrap_auc(predictions.outputs, predictions.targets, distance)
    except ValueError:  # a test split cut too short for same- and different-person pairs: no final number
        return {}
    return finals.record("test AUC", value, ci, f"{len(predictions.targets):,} test images of {people} people")


def train_queued(run_ids: list[str], store: RunStore | None = None, device: torch.device | None = None
                 ) -> Iterator[tuple[Run, Phase | EpochEnd | Finished]]:
    store = store or RunStore()
    return carry_out(run_ids, store, lambda run: train(run.config["dataset"], *configs_of(run), store, device,
                                                        run.id))


def main(argv: list[str] | None = None) -> int:
    d = quick_config()
    p = argparse.ArgumentParser(prog="python -m core.train.verification", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="a pairs set or a folder of people (python -m core.data)")
    p.add_argument("--backbone", default=d.backbone, choices=sorted(backbones.BACKBONES))
    p.add_argument("--tap", default="output", choices=list(embeddings.TAPS))
    p.add_argument("--distance", default="euclidean", choices=list(verification.DISTANCES))
    p.add_argument("--runs-as", nargs="+", default=["phase2"], choices=list(RECIPES), help="one run per recipe")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--head-epochs", type=int, default=d.strategy.head_epochs, help="phase 2: classifier-only epochs")
    p.add_argument("--lr", type=float, default=d.strategy.lr)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="carry out these queued runs with their stored configs")
    p.add_argument("--cpu", action="store_true")
    args = p.parse_args(argv)
    device = distributed.init(devices.pick_device(force_cpu=args.cpu))  # under torchrun: joins the group

    def fresh() -> Iterator[tuple[dict, object]]:
        base = replace(d, backbone=args.backbone, epochs=args.epochs, image_size=args.image_size,
                       batch_size=args.batch_size, seed=args.seed,
                       strategy=replace(d.strategy, lr=args.lr, head_epochs=args.head_epochs))
        for name in args.runs_as:
            cfg, emb = recipe(base, EmbedConfig(args.tap, args.distance), name)
            for event in train(args.dataset, cfg, emb, device=device):
                yield {"recipe": name}, event
    try:
        return cli.print_events(cli.queued_or_fresh(args.runs, lambda ids: train_queued(ids, device=device), fresh))
    finally:
        distributed.close()


if __name__ == "__main__":
    sys.exit(main())
