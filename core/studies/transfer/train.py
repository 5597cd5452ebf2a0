"""Train backbone variants on a labelled set and record each one as a run.

    python -m core.studies.transfer --dataset fashion_mnist_imbalanced3 --strategies scratch frozen finetune
    python -m core.studies.transfer --dataset cartoon_faces/fatness --head mlp --strategies frozen finetune
    python -m core.worker --runs RUN_ID [RUN_ID ...]   # runs already queued in the store (by a page)

Each strategy is one run in the run store, through its lifecycle (core.engine.store): its
per-epoch history and a checkpoint after every epoch as it trains, then the test split's outputs
(beside the checkpoint, as .npz). A finished run is a variant on every page. One JSON line per
event on stdout; exit 2 with one message on bad input, 130 when stopped.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from core import devices, tasks
from core.data import catalogue
from core.data.types import LabelledImages
from core.engine import config as settings
from core.engine import distributed, objectives
from core.engine.events import EpochEnd, Finished, Phase
from core.engine.loop import Predictions, TrainConfig, check_dataset, fit, split_indices
from core.engine.store import Recorder, Run, RunStore
from core.models import backbones

Event = Phase | EpochEnd | Predictions | Finished


@dataclass(frozen=True)
class TransferConfig(TrainConfig):
    """A transfer run's settings: the training settings and the labelled set they train on."""
    dataset: str = field(default="fashion_mnist_imbalanced3", metadata={
        "help": "a classification or regression set (python -m core.data lists them), or 'crops of NAME'"})


# The tasks whose variants are a backbone with a new head trained on labelled images: this study's two.
TASKS = tuple(t.name for t in tasks.TASKS.values() if t.predictor in ("classifier", "regressor"))
# Each task's quick settings: MobileNetV2 (offline ImageNet weights), small images, few epochs, sized to finish a
# task's three variants in under 5 minutes on 2 CPU cores (the pages' and prepare's default runs).
QUICK = {task: TransferConfig(dataset=tasks.get(task).default_dataset, **settings_of) for task, settings_of in
         zip(TASKS, ({"head": "linear", "image_size": 64, "epochs": 4}, {"head": "mlp", "image_size": 112, "epochs": 8}),
             strict=True)}

LABELS = ("labels", "target_name")  # stored beside the settings: the outputs' names


def legacy(stored: dict) -> dict:
    """A stored transfer config in the dataclass's keys: the strategy is kept as its name (what the tables and the
    registry read) and in full under strategy_config, its learning rate once more as lr."""
    out = {k: v for k, v in stored.items() if k not in ("strategy_config", "lr")}
    strategy = stored.get("strategy_config", stored.get("strategy", "finetune"))
    out["strategy"] = strategy if isinstance(strategy, dict) else {"name": str(strategy)}
    return out


def run_config(dataset: str, data: LabelledImages, cfg: TrainConfig) -> dict:
    """What the run store keeps: the whole config (config_of reads it back) and the labels of the outputs."""
    return {**cfg.to_dict(), "dataset": dataset, "strategy": cfg.strategy.name, "strategy_config": asdict(cfg.strategy),
            "lr": cfg.strategy.lr, "labels": data.classes, "target_name": data.target_name}


def config_of(run: Run) -> TransferConfig:
    """The config a run was (or is to be) trained with."""
    cfg, _ = settings.read(TransferConfig, legacy(run.config), LABELS)
    return cfg


def predictions_path(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(".npz")


def _checked(dataset: str, cfg: TrainConfig) -> LabelledImages:
    data = catalogue.labelled(dataset)
    check_dataset(data)
    return data


def queue(dataset: str, cfgs: list[TrainConfig], store: RunStore) -> list[str]:
    """One queued run per config, the data checked first (ValueError, DataError with the reason)."""
    data = _checked(dataset, cfgs[0])
    return [store.create(data.task, cfg.backbone, data.task, run_config(dataset, data, cfg)) for cfg in cfgs]


def queue_config(cfg: TransferConfig, store: RunStore) -> list[str]:
    """The study's queue: one run for this config."""
    return queue(cfg.dataset, [cfg], store)


def train_run(run: Run, rec: Recorder, device: torch.device) -> Iterator[Event]:
    """The study's trainer: a queued run, carried out inside its recording (the one worker opens it)."""
    return _fit(run.config["dataset"], config_of(run), rec, device)


def train(dataset: str, cfg: TrainConfig, store: RunStore | None = None, device: torch.device | None = None,
          run_id: str | None = None) -> Iterator[Event]:
    """One variant: train, score the test split, save; every epoch is in the run store (history and checkpoint)
    as it ends. run_id: a queued run to carry out (its own config is not re-read: pass config_of(run))."""
    store = store or RunStore()
    device = device or devices.pick_device()
    if not distributed.is_main():
        yield from _fit(dataset, cfg, None, device)
        return
    run_id = run_id or queue(dataset, [cfg], store)[0]
    with store.recording(run_id) as rec:
        for event in _fit(dataset, cfg, rec, device):
            if isinstance(event, Predictions):
                seconds = event.seconds
            yield event
    yield Finished(run_id, f"{cfg.backbone}/{cfg.strategy.name}-{run_id}", seconds)


def _fit(dataset: str, cfg: TrainConfig, rec: Recorder | None, device: torch.device) -> Iterator[Event]:
    """Train, score the test split, save, into the run's recording. Under torchrun only rank 0 records: the other
    processes (rec None) train their share of each batch and yield nothing."""
    main = rec is not None and distributed.is_main()
    if main:
        rec.note(world_size=distributed.world())
        yield Phase("reading the data")
    data = _checked(dataset, cfg)
    objective = objectives.for_data(data, split_indices(data)[0], cfg.class_weighted)
    torch.manual_seed(cfg.seed)  # the new head starts the same for a seed (and on every process)
    model, _ = backbones.build(cfg.backbone, objective.outputs, cfg.head, pretrained=cfg.strategy.pretrained)
    for event in fit(data, cfg, device, model, objective):
        if not main:
            continue
        if isinstance(event, Predictions):
            predictions = event
            continue
        rec.event(event)
        if isinstance(event, EpochEnd):
            rec.checkpoint(objective.export(model), event.label)
        yield event
    if main:
        rec.arrays(".npz", index=predictions.index, targets=predictions.targets, outputs=predictions.outputs)
        rec.note(seconds=predictions.seconds, test_samples=len(predictions.index),
                 peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # this process alone
        yield predictions
