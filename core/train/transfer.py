"""Train backbone variants on a labelled set and record each one as a run.

    python -m core.train.transfer --dataset fashion_mnist_imbalanced3 --strategies scratch frozen finetune
    python -m core.train.transfer --dataset cartoon_faces/fatness --head mlp --strategies frozen finetune
    python -m core.train.transfer --runs RUN_ID [RUN_ID ...]   # runs already queued in the store (by a page)

Each strategy is one run in the run store, through its lifecycle (core.train.runstore): its
per-epoch history and a checkpoint after every epoch as it trains, then the test split's outputs
(beside the checkpoint, as .npz). A finished run is a variant on every page. One JSON line per
event on stdout; exit 2 with one message on bad input, 130 when stopped.
"""

from __future__ import annotations

import argparse
import resource
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import torch

from core import devices
from core.data import catalogue
from core.data.types import LabelledImages
from core.models import backbones
from core.train import cli, distributed, objectives
from core.train.events import EpochEnd, Finished, Phase
from core.train.loop import AUGMENTATIONS, Predictions, TrainConfig, check_dataset, fit, split_indices
from core.train.runstore import Run, RunStore, carry_out
from core.train.strategies import STRATEGIES, StrategyConfig

Event = Phase | EpochEnd | Predictions | Finished


def run_config(dataset: str, data: LabelledImages, cfg: TrainConfig) -> dict:
    """What the run store keeps: the whole config (config_of reads it back) and the labels of the outputs."""
    return {**cfg.to_dict(), "dataset": dataset, "strategy": cfg.strategy.name, "strategy_config": asdict(cfg.strategy),
            "lr": cfg.strategy.lr, "labels": data.classes, "target_name": data.target_name}


def config_of(run: Run) -> TrainConfig:
    """The TrainConfig a run was (or is to be) trained with."""
    c = run.config
    return TrainConfig.from_dict({**c, "strategy": c.get("strategy_config", c.get("strategy", "finetune"))})


def predictions_path(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(".npz")


def _checked(dataset: str, cfg: TrainConfig) -> LabelledImages:
    data = catalogue.labelled(dataset)
    check_dataset(data, cfg.seed)
    return data


def queue(dataset: str, cfgs: list[TrainConfig], store: RunStore) -> list[str]:
    """One queued run per config, the data checked first (ValueError, DataError with the reason)."""
    data = _checked(dataset, cfgs[0])
    return [store.create(data.task, cfg.backbone, data.task, run_config(dataset, data, cfg)) for cfg in cfgs]


def train(dataset: str, cfg: TrainConfig, store: RunStore | None = None, device: torch.device | None = None,
          run_id: str | None = None) -> Iterator[Event]:
    """One variant: train, score the test split, save; every epoch is in the run store (history and checkpoint)
    as it ends. run_id: a queued run to carry out (its own config is not re-read: pass config_of(run))."""
    store = store or RunStore()
    device = device or devices.pick_device()
    if not distributed.is_main():  # torchrun's other processes train their share; rank 0 records
        data = _checked(dataset, cfg)
        objective = objectives.for_data(data, split_indices(data, cfg.seed)[0], cfg.class_weighted)
        torch.manual_seed(cfg.seed)  # the new head starts the same for a seed (and on every process)
        model, _ = backbones.build(cfg.backbone, objective.outputs, cfg.head, pretrained=cfg.strategy.pretrained)
        for _ in fit(data, cfg, device, model, objective):
            pass
        return
    run_id = run_id or queue(dataset, [cfg], store)[0]
    with store.recording(run_id) as rec:
        rec.note(world_size=distributed.world())
        yield Phase("reading the data")
        data = _checked(dataset, cfg)
        objective = objectives.for_data(data, split_indices(data, cfg.seed)[0], cfg.class_weighted)
        torch.manual_seed(cfg.seed)  # the new head starts the same for a seed (and on every process)
        model, _ = backbones.build(cfg.backbone, objective.outputs, cfg.head, pretrained=cfg.strategy.pretrained)
        for event in fit(data, cfg, device, model, objective):
            if isinstance(event, Predictions):
                predictions = event
                continue
            rec.event(event)
            if isinstance(event, EpochEnd):
                rec.checkpoint(objective.export(model), event.label)
            yield event
        rec.arrays(".npz", index=predictions.index, targets=predictions.targets, outputs=predictions.outputs)
        rec.note(seconds=predictions.seconds, test_samples=len(predictions.index),
                 peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # this process alone
        yield predictions
    yield Finished(run_id, f"{cfg.backbone}/{cfg.strategy.name}-{run_id}", predictions.seconds)


def train_queued(run_ids: list[str], store: RunStore | None = None, device: torch.device | None = None
                 ) -> Iterator[tuple[Run, Event]]:
    """Carry out queued runs in order, each with the config stored with it."""
    store = store or RunStore()
    return carry_out(run_ids, store, lambda run: train(run.config["dataset"], config_of(run), store, device, run.id))


def parser() -> argparse.ArgumentParser:
    d, s = TrainConfig(), StrategyConfig("finetune")
    p = argparse.ArgumentParser(prog="python -m core.train.transfer", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion_mnist_imbalanced3",
                   help="a classification or regression set (python -m core.data lists them), or 'crops of NAME'")
    p.add_argument("--backbone", default=d.backbone, choices=sorted(backbones.BACKBONES))
    p.add_argument("--head", default=d.head, choices=backbones.HEADS)
    p.add_argument("--strategies", nargs="+", default=["finetune"], choices=sorted(STRATEGIES),
                   help="one run per strategy, in this order")
    p.add_argument("--optimizer", default=d.optimizer, choices=["adam", "sgd"])
    p.add_argument("--lr", type=float, default=s.lr)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--augment", nargs="*", default=[], choices=AUGMENTATIONS)
    p.add_argument("--head-epochs", type=int, default=s.head_epochs, help="two_phase and gradual: head-only epochs")
    p.add_argument("--unfreeze-every", type=int, default=s.unfreeze_every, help="gradual: epochs per block opened")
    p.add_argument("--decay", type=float, default=s.decay, help="discriminative: learning-rate factor per block")
    p.add_argument("--k", type=int, default=s.k, help="freeze_first_k: blocks kept fixed")
    p.add_argument("--no-class-weights", action="store_true")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: by the split's size)")
    p.add_argument("--limit-batches", type=int, default=None, help="at most this many batches per pass: a quick look")
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="carry out these queued runs with their stored configs "
                   "(the other settings are ignored)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    return p


def configs(args: argparse.Namespace) -> list[TrainConfig]:
    base = TrainConfig(backbone=args.backbone, head=args.head, optimizer=args.optimizer, batch_size=args.batch_size,
                       image_size=args.image_size, epochs=args.epochs, augment=tuple(args.augment),
                       class_weighted=not args.no_class_weights, seed=args.seed, workers=args.workers,
                       limit_batches=args.limit_batches)
    return [replace(base, strategy=StrategyConfig(name, lr=args.lr, head_epochs=args.head_epochs,
                                                  unfreeze_every=args.unfreeze_every, decay=args.decay, k=args.k))
            for name in args.strategies]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    device = distributed.init(devices.pick_device(force_cpu=args.cpu))  # under torchrun: joins the group

    def events() -> Iterator[tuple[dict, Event]]:
        if args.runs:
            for run, event in train_queued(args.runs, device=device):
                if not isinstance(event, Predictions):  # the test outputs go to the run's .npz, not the console
                    yield {"run_id": run.id, "strategy": run.config.get("strategy")}, event
            return
        for cfg in configs(args):
            for event in train(args.dataset, cfg, device=device):
                if not isinstance(event, Predictions):
                    yield {"strategy": cfg.strategy.name}, event
    try:
        return cli.print_events(events)
    finally:
        distributed.close()


if __name__ == "__main__":
    sys.exit(main())
