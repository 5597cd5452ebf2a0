"""Backbone transfer: the training loop against the loops it replaces, and the quick default comparisons.

- frozen: features cached once (core.engine.loop) against the usual tutorial loop that runs the frozen
  backbone on every step (BatchNorm in eval in both, so the two train the same head);
- full fine-tune at 32 and 128 px: core.engine.loop's streamed epoch (DataLoader, images resized per
  sample) against a plain reference loop over the whole split preprocessed into one tensor, as the
  loop did before it streamed (torchvision reference style: forward, loss, zero_grad, backward,
  step, then a validation pass), same model, data, batch and order;
- memory: the trainer's peak RSS on full Fashion-MNIST (70,000 images) at 224 px, a few batches per pass;
- on CUDA: the loop with fp16 autocast + channels_last against the same loop in fp32;
- `python -m core.experiments classification|regression` end to end, with their headline metrics.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2 as T

from core import devices, tasks
from core.data import catalogue, fashion_mnist
from core.data.types import open_image
from core.engine.events import EpochEnd
from core.engine.loop import Predictions, TrainConfig, fit, split_indices
from core.engine.store import RunStore
from core.engine.strategies import StrategyConfig
from core.metrics import classification
from core.models import backbones
from core.studies.transfer import experiment as tx
from core.studies.transfer import train as transfer_train

DATASET = "fashion_mnist_imbalanced3"
ROOT = Path(__file__).resolve().parents[1]


def to_tensors(data, idx: np.ndarray, size: int, mean: tuple, std: tuple) -> torch.Tensor:
    """The reference's preprocessing: the whole split resized and normalised into one (N, 3, size, size) tensor."""
    resize = T.Compose([T.ToImage(), T.Resize((size, size), antialias=True), T.ToDtype(torch.float32, scale=True),
                        T.Normalize(mean, std)])
    return torch.stack([resize(open_image(data.images[i])) for i in idx])


def _tensors(cfg: TrainConfig) -> tuple:
    data = catalogue.labelled(DATASET)
    _, prep = backbones.build(cfg.backbone, 3, cfg.head, pretrained=False)
    train, val, test = split_indices(data, cfg.seed)
    xs = [to_tensors(data, i, cfg.image_size, prep.mean, prep.std) for i in (train, val, test)]
    ys = [torch.as_tensor(data.targets[i]) for i in (train, val, test)]
    return data, xs, ys


def _reference_epochs(model: nn.Module, params: list, xs: list, ys: list, cfg: TrainConfig, device: torch.device,
                      bn_eval: bool) -> tuple[list[float], np.ndarray]:
    """The plain loop: every step runs the whole model. Returns epoch seconds and test predictions."""
    x_train, x_val, x_test = xs
    y_train = ys[0]
    counts = torch.bincount(y_train, minlength=3).float()
    loss_fn = nn.CrossEntropyLoss(weight=(counts.sum() / (3 * counts)).to(device))
    optimiser = torch.optim.Adam(params, lr=cfg.strategy.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    seconds = []
    for _ in range(cfg.epochs):
        devices.synchronize(device)
        start = time.perf_counter()
        model.train()
        if bn_eval:
            model.blocks.eval()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            out = model(x_train[idx].to(device))
            loss = loss_fn(out, y_train[idx].to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.inference_mode():
            torch.cat([model(x_val[i:i + 256].to(device)).cpu() for i in range(0, len(x_val), 256)])
        devices.synchronize(device)
        seconds.append(time.perf_counter() - start)
    with torch.inference_mode():
        pred = torch.cat([model(x_test[i:i + 256].to(device)).cpu() for i in range(0, len(x_test), 256)]).argmax(1)
    return seconds, pred.numpy()


def _ours(cfg: TrainConfig, device: torch.device, data) -> tuple[list[float], np.ndarray, float]:
    torch.manual_seed(cfg.seed)
    model, _ = backbones.build(cfg.backbone, 3, cfg.head, pretrained=cfg.strategy.pretrained)
    events = list(fit(data, cfg, device, model))
    epochs = [e.seconds for e in events if isinstance(e, EpochEnd)]
    tested = next(e for e in events if isinstance(e, Predictions))
    return epochs, tested.outputs.argmax(1), tested.seconds


def _mca(data, pred: np.ndarray, test_idx: np.ndarray) -> float:
    return classification.evaluate(data.targets[test_idx], pred, data.classes).mean_class_accuracy


def frozen_cache(device: torch.device, image_size: int = 64, epochs: int = 3) -> dict:
    cfg = TrainConfig(strategy=StrategyConfig("frozen"), image_size=image_size, epochs=epochs)
    data, xs, ys = _tensors(cfg)
    test_idx = split_indices(data, cfg.seed)[2]
    ours_epochs, ours_pred, ours_total = _ours(cfg, device, data)
    torch.manual_seed(cfg.seed)
    model, _ = backbones.build(cfg.backbone, 3, cfg.head, pretrained=True)
    model = model.to(device)
    for p in model.blocks.parameters():
        p.requires_grad_(False)
    ref_epochs, ref_pred = _reference_epochs(model, list(model.head.parameters()), xs, ys, cfg, device, bn_eval=True)
    ours_mca, ref_mca = _mca(data, ours_pred, test_idx), _mca(data, ref_pred, test_idx)
    return {"device": device.type, "dataset": DATASET, "image_size": image_size, "epochs": epochs,
            "train_images": len(xs[0]), "cached_epoch_s": statistics.median(ours_epochs),
            "cached_total_s": ours_total, "recompute_epoch_s": statistics.median(ref_epochs),
            "speedup_per_epoch": statistics.median(ref_epochs) / statistics.median(ours_epochs),
            "cached_mCA": ours_mca, "recompute_mCA": ref_mca, "mCA_difference_points": 100 * (ours_mca - ref_mca)}


def finetune_throughput(device: torch.device, image_size: int = 32, epochs: int = 3, repeats: int = 2) -> dict:
    cfg = TrainConfig(strategy=StrategyConfig("finetune"), image_size=image_size, epochs=epochs, class_weighted=True)
    data, xs, ys = _tensors(cfg)
    ours_t, ref_t = [], []
    for _ in range(repeats):  # interleaved
        ours_t += _ours(cfg, device, data)[0]
        torch.manual_seed(cfg.seed)
        model, _ = backbones.build(cfg.backbone, 3, cfg.head, pretrained=True)
        model = model.to(device)
        ref_t += _reference_epochs(model, list(model.parameters()), xs, ys, cfg, device, bn_eval=False)[0]
    n = len(xs[0])
    return {"device": device.type, "image_size": image_size, "batch_size": cfg.batch_size, "train_images": n,
            "epochs_timed": len(ours_t), "loop_images_per_s": n / statistics.median(ours_t),
            "reference_images_per_s": n / statistics.median(ref_t),
            "ratio": statistics.median(ref_t) / statistics.median(ours_t)}


def mixed_precision(device: torch.device, image_size: int = 112, epochs: int = 2, repeats: int = 2) -> dict:
    """CUDA only: fp16 autocast + channels_last against fp32, the same loop otherwise."""
    data = catalogue.labelled(DATASET)
    fast_t, plain_t = [], []
    for _ in range(repeats):
        for flag, into in ((True, fast_t), (False, plain_t)):
            cfg = TrainConfig(strategy=StrategyConfig("finetune"), image_size=image_size, epochs=epochs,
                              mixed_precision=flag)
            into += _ours(cfg, device, data)[0]
    return {"device": devices.describe(device), "image_size": image_size, "amp_epoch_s": statistics.median(fast_t),
            "fp32_epoch_s": statistics.median(plain_t),
            "speedup": statistics.median(plain_t) / statistics.median(fast_t)}


def streamed_memory(image_size: int = 224, batches: int = 10) -> dict:
    """Peak RSS of the trainer (its own process) fine-tuning on full Fashion-MNIST at this size, `batches` batches
    per pass: the whole split as one float tensor would take 70,000 x 3 x 224 x 224 x 4 bytes (42 GB)."""
    if not fashion_mnist.DEBIAN_DIR.is_dir():
        return {"skipped": f"full Fashion-MNIST is not installed ({fashion_mnist.DEBIAN_DIR}); make test installs it"}
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TLDASH_RUNS_DIR": folder, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "core.studies.transfer", "--dataset", "fashion_mnist", "--strategies",
                        "finetune", "--epochs", "1", "--image-size", str(image_size), "--batch-size", "16",
                        "--limit-batches", str(batches), "--cpu"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        (run,) = RunStore(folder).list("done")
    # the trainer's own peak (the run records it); a DataLoader worker forked from it counts the pages it shares
    peak_any_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"dataset": "fashion_mnist", "images": 70_000, "image_size": image_size, "batch_size": 16,
            "batches_per_pass": batches, "peak_rss_gb": run.metrics["peak_rss_gb"],
            "largest_process_rss_gb": peak_any_kb / 2**20, "seconds": seconds,
            "stacked_split_gb": 60_000 * 3 * image_size ** 2 * 4 / 1e9}


def experiments(device: torch.device) -> list[dict]:
    """The CLI's quick default comparisons, timed end to end (training all three and the bootstrap)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for task in transfer_train.TASKS:
            start = time.perf_counter()
            result = tx.run(task, store=RunStore(folder), device=device)
            seconds = time.perf_counter() - start
            headline = tasks.get(task).headline
            by_strategy = {r["strategy"]: v for v, r in result.extra["runs"].items()}
            rows.append({"task": task, "dataset": result.dataset, "device": device.type, "seconds": seconds,
                         "config": {k: getattr(tx.quick_config(task), k)
                                    for k in ("backbone", "head", "image_size", "epochs")},
                         "headline": headline,
                         **{s: result.variants[v][headline] for s, v in by_strategy.items()},
                         "ci95": {s: result.extra["ci95"][v][headline] for s, v in by_strategy.items()}})
    return rows
