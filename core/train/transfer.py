"""Train backbone variants on a labelled set and record each one as a run.

    python -m core.train.transfer --dataset fashion_mnist_imbalanced3 --strategies scratch frozen finetune
    python -m core.train.transfer --dataset cartoon_faces/fatness --head mlp --strategies frozen finetune

Each strategy is one run in the run store: its per-epoch history as it trains, then the test
split's outputs (beside the checkpoint, as .npz) and the model's weights. A finished run is a
variant on every page. One JSON line per event on stdout; exit 2 with one message on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from core import devices
from core.data import catalogue
from core.data.types import LabelledImages
from core.models import backbones
from core.train import cli
from core.train.loop import AUGMENTATIONS, EpochEnd, Predictions, TrainConfig, check_dataset, fit
from core.train.runstore import RunStore
from core.train.strategies import STRATEGIES, StrategyConfig


@dataclass(frozen=True)
class Recorded:
    """A run finished and stored: its variant is now in the registry."""

    run_id: str
    variant: str
    seconds: float


Event = EpochEnd | Predictions | Recorded


def run_config(dataset: str, data: LabelledImages, cfg: TrainConfig) -> dict:
    """What the run store keeps: enough to rebuild the model and label its outputs."""
    return {"dataset": dataset, "backbone": cfg.backbone, "head": cfg.head, "strategy": cfg.strategy.name,
            "strategy_config": asdict(cfg.strategy), "optimizer": cfg.optimizer, "lr": cfg.strategy.lr,
            "batch_size": cfg.batch_size, "image_size": cfg.image_size, "epochs": cfg.epochs,
            "augment": list(cfg.augment), "class_weighted": cfg.class_weighted, "seed": cfg.seed,
            "labels": data.classes, "target_name": data.target_name}


def predictions_path(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(".npz")


def train(dataset: str, cfg: TrainConfig, store: RunStore | None = None, device: torch.device | None = None
          ) -> Iterator[Event]:
    """One variant: train, score the test split, save; every epoch is in the run store as it ends."""
    store = store or RunStore()
    device = device or devices.pick_device()
    data = catalogue.labelled(dataset)
    check_dataset(data, cfg.seed)
    run_id = store.create(data.task, cfg.backbone, data.task, run_config(dataset, data, cfg))
    store.update(run_id, status="running")
    history: list[dict] = []
    try:
        outputs = len(data.classes) if data.classes is not None else 1
        model, _ = backbones.build(cfg.backbone, outputs, cfg.head, pretrained=cfg.strategy.pretrained)
        for event in fit(data, cfg, device, model):
            if isinstance(event, EpochEnd):
                history.append(asdict(event))
                store.update(run_id, metrics={"history": history})
            else:
                predictions = event
            yield event
        path = store.checkpoint_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        np.savez(predictions_path(path), index=predictions.index, targets=predictions.targets,
                 outputs=predictions.outputs)
        store.update(run_id, status="done", checkpoint=str(path),
                     metrics={"history": history, "seconds": predictions.seconds, "test_samples": len(predictions.index)})
        yield Recorded(run_id, f"{cfg.backbone}/{cfg.strategy.name}-{run_id}", predictions.seconds)
    except BaseException as exc:
        store.update(run_id, status="stopped" if isinstance(exc, KeyboardInterrupt) else "failed", message=str(exc))
        raise


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
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    return p


def configs(args: argparse.Namespace) -> list[TrainConfig]:
    base = TrainConfig(backbone=args.backbone, head=args.head, optimizer=args.optimizer, batch_size=args.batch_size,
                       image_size=args.image_size, epochs=args.epochs, augment=tuple(args.augment),
                       class_weighted=not args.no_class_weights, seed=args.seed)
    return [replace(base, strategy=StrategyConfig(name, lr=args.lr, head_epochs=args.head_epochs,
                                                  unfreeze_every=args.unfreeze_every, decay=args.decay, k=args.k))
            for name in args.strategies]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    device = devices.pick_device(force_cpu=args.cpu)

    def events() -> Iterator[tuple[dict, Event]]:
        for cfg in configs(args):
            for event in train(args.dataset, cfg, device=device):
                if not isinstance(event, Predictions):  # the test outputs go to the run's .npz, not the console
                    yield {"strategy": cfg.strategy.name}, event
    return cli.print_events(events)


if __name__ == "__main__":
    sys.exit(main())
