"""What a training loop optimises and reports, per task: the loop itself knows nothing of the task.

An objective owns the loss, the targets' scaling, the validation scores, what the test pass
returns, what a saved model outputs, and how training batches are drawn. Classification,
regression and face verification (embeddings trained on people: the study's BCE on normalised
pair distances, or a metric-learning loss from pytorch-metric-learning) are here.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn

from core.data.types import LabelledImages
from core.engine import distributed
from core.metrics import classification, regression, verification


class Objective(Protocol):
    outputs: int  # the head's width
    target_dtype: torch.dtype
    headline: str  # the validation score a progress line shows
    open_set: bool  # the test split's classes may be absent from training (people in verification)

    def sampler(self, train_targets: np.ndarray, batch_size: int, seed: int) -> torch.utils.data.Sampler | None:
        """How training batches are drawn (positions into the training split), or None for shuffled batches."""

    def to(self, device: torch.device) -> Objective:
        """The objective with its loss's tensors on the training device."""

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss of raw outputs (B, outputs) against targets as the data gives them."""

    def train_loss_units(self, mean_loss: float) -> float:
        """The training loss as reported (in the target's units where it has them)."""

    def correct(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """How many of the batch are right (a 0-d tensor), or None when that means nothing."""

    def evaluate(self, out: torch.Tensor, target: torch.Tensor) -> tuple[float, dict[str, float]]:
        """(loss, scores) of raw outputs on a held-out split, on the CPU."""

    def test_outputs(self, out: torch.Tensor) -> np.ndarray:
        """What the run keeps of the test pass: (N, C) probabilities, (N,) values, ..."""

    def export(self, model: nn.Module) -> dict:
        """A state dict whose model outputs what users read (the target's units), for a checkpoint."""


class Classification:
    """Cross-entropy, weighted by inverse class frequency when asked (imbalanced sets)."""

    target_dtype = torch.long
    headline = "mCA"
    open_set = False

    def __init__(self, classes: list[str], train_targets: np.ndarray, class_weighted: bool = True) -> None:
        self.classes, self.outputs = classes, len(classes)
        counts = torch.bincount(torch.as_tensor(train_targets, dtype=torch.long), minlength=self.outputs).float()
        self.weight = counts.sum() / (self.outputs * counts) if class_weighted else None
        self._train_loss: nn.Module = nn.CrossEntropyLoss(weight=self.weight)
        self._val_loss = nn.CrossEntropyLoss(weight=self.weight)

    def sampler(self, train_targets: np.ndarray, batch_size: int, seed: int) -> None:
        return None

    def to(self, device: torch.device) -> Classification:
        self._train_loss = nn.CrossEntropyLoss(weight=None if self.weight is None else self.weight.to(device))
        return self

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._train_loss(out.float(), target)

    def train_loss_units(self, mean_loss: float) -> float:
        return mean_loss

    def correct(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out.detach().argmax(1) == target).sum()

    def evaluate(self, out: torch.Tensor, target: torch.Tensor) -> tuple[float, dict[str, float]]:
        r = classification.evaluate(target.numpy(), out.argmax(1).numpy(), self.classes)
        return self._val_loss(out, target).item(), {"accuracy": r.accuracy, "mCA": r.mean_class_accuracy,
                                                    "macro_f1": r.macro["f1"]}

    def test_outputs(self, out: torch.Tensor) -> np.ndarray:
        return out.softmax(1).numpy()

    def export(self, model: nn.Module) -> dict:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Regression:
    """L1 on standardised targets (one learning-rate scale for every set); outputs mapped back to the units."""

    outputs = 1
    target_dtype = torch.float32
    headline = "pearson"
    open_set = False

    def __init__(self, train_targets: np.ndarray) -> None:
        y = torch.as_tensor(train_targets, dtype=torch.float32)
        self.shift, self.scale = float(y.mean()), float(y.std()) or 1.0
        self._l1 = nn.L1Loss()

    def sampler(self, train_targets: np.ndarray, batch_size: int, seed: int) -> None:
        return None

    def to(self, device: torch.device) -> Regression:
        return self

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._l1(out.float().squeeze(1), (target - self.shift) / self.scale)

    def train_loss_units(self, mean_loss: float) -> float:
        return mean_loss * self.scale

    def correct(self, out: torch.Tensor, target: torch.Tensor) -> None:
        return None

    def _units(self, out: torch.Tensor) -> torch.Tensor:
        return out.float().squeeze(1) * self.scale + self.shift

    def evaluate(self, out: torch.Tensor, target: torch.Tensor) -> tuple[float, dict[str, float]]:
        pred = self._units(out)
        r = regression.evaluate(target.numpy(), pred.numpy())
        return self._l1(pred, target).item(), {"MAE": r.mae, "pearson": r.pearson, "spearman": r.spearman}

    def test_outputs(self, out: torch.Tensor) -> np.ndarray:
        return self._units(out).numpy()

    def export(self, model: nn.Module) -> dict:
        """The last linear layer folded so that the saved model predicts y * scale + shift."""
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        last = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
        state[f"{last}.weight"].mul_(self.scale)
        state[f"{last}.bias"].mul_(self.scale).add_(self.shift)
        return state


LOSSES = {
    "bce": "binary cross-entropy on the normalised distance of every pair in a batch (the study)",
    "contrastive": "contrastive loss (pytorch-metric-learning): same people pulled together, others pushed past a margin",
    "triplet": "triplet margin loss with a semi-hard triplet miner (pytorch-metric-learning)",
}
PEOPLE_PER_BATCH_IMAGES = 2  # images of each person in a training batch, so every batch has same-person pairs


def _pairs(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    i, j = torch.triu_indices(n, n, 1, device=device)
    return i, j


class Verification:
    """Embeddings of face images trained on people: a batch holds PEOPLE_PER_BATCH_IMAGES images of each of
    several people (pytorch-metric-learning's MPerClassSampler), so its pairs include same-person ones.

    "bce" is the study's objective: each pair's dissimilarity (Euclidean distance divided by the batch's
    largest, or the cosine distance) is read as the probability that the two are different people, under
    binary cross-entropy with same and different pairs weighted equally. "contrastive" and "triplet" are
    pytorch-metric-learning's losses. Validation scores every pair of the validation people."""

    target_dtype = torch.long
    headline = "AUC"
    open_set = True

    def __init__(self, outputs: int, loss: str = "bce", distance: str = "euclidean") -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose from {list(LOSSES)}")
        verification.check_distance(distance)
        self.outputs, self.loss_name, self.distance = outputs, loss, distance
        self._metric = self._metric_loss(loss)

    @staticmethod
    def _metric_loss(loss: str) -> tuple | None:
        if loss == "bce":
            return None
        from pytorch_metric_learning import losses, miners

        if loss == "contrastive":
            return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0), None
        return losses.TripletMarginLoss(margin=0.2), miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")

    def sampler(self, train_targets: np.ndarray, batch_size: int, seed: int) -> torch.utils.data.Sampler:
        from pytorch_metric_learning import samplers
        from pytorch_metric_learning.utils import common_functions

        common_functions.NUMPY_RANDOM = np.random.RandomState(seed)  # the sampler draws from this generator
        people = len(np.unique(train_targets))
        batch = max(PEOPLE_PER_BATCH_IMAGES, min(batch_size, people * PEOPLE_PER_BATCH_IMAGES))
        batch -= batch % PEOPLE_PER_BATCH_IMAGES
        length = max(batch, len(train_targets) - len(train_targets) % batch)
        return samplers.MPerClassSampler(train_targets, PEOPLE_PER_BATCH_IMAGES, batch, length)

    def to(self, device: torch.device) -> Verification:
        return self

    def dissimilarity(self, out: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """(P,) dissimilarity in [0, 1] of pairs (i, j) of rows of out (B, D)."""
        out = out.float()
        if self.distance == "cosine":
            cos = torch.nn.functional.cosine_similarity(out[i], out[j], dim=1)
            return ((1 - cos) / 2).clamp(0, 1)
        d = ((out[i] - out[j]).pow(2).sum(1) + 1e-12).sqrt()  # the epsilon keeps the gradient finite at 0
        return d / d.max().clamp_min(1e-12)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Over every pair of the step's whole batch: under torchrun, the processes' slices gathered first."""
        return self.pairs_loss(distributed.gather(out), distributed.gather(target))

    def pairs_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._metric is not None:
            loss, miner = self._metric
            return loss(out.float(), target, miner(out.float(), target) if miner else None)
        i, j = _pairs(len(out), out.device)
        different = (target[i] != target[j]).float()
        n_diff = different.sum()
        n_same = len(different) - n_diff
        if n_diff == 0 or n_same == 0:
            return out.sum() * 0.0
        weight = torch.where(different > 0, 0.5 / n_diff, 0.5 / n_same)
        p = self.dissimilarity(out, i, j).clamp(1e-6, 1 - 1e-6)
        return torch.nn.functional.binary_cross_entropy(p, different, weight=weight, reduction="sum")

    def train_loss_units(self, mean_loss: float) -> float:
        return mean_loss

    def correct(self, out: torch.Tensor, target: torch.Tensor) -> None:
        return None

    def evaluate(self, out: torch.Tensor, target: torch.Tensor) -> tuple[float, dict[str, float]]:
        """Every pair of the validation people: the loss over them, AUC and EER."""
        r = verification.of_roc(verification.all_pairs_roc(out.numpy(), target.numpy(), self.distance).roc)
        with torch.no_grad():
            loss = self.pairs_loss(out, target)  # every process holds all of the validation outputs
        return float(loss), {"AUC": r.auc, "EER": r.eer}

    def test_outputs(self, out: torch.Tensor) -> np.ndarray:
        return out.numpy()

    def export(self, model: nn.Module) -> dict:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}


def for_data(data: LabelledImages, train_idx: np.ndarray, class_weighted: bool = True) -> Classification | Regression:
    """The objective a labelled set asks for: classification when it has classes, regression otherwise."""
    targets = data.targets[train_idx]
    if data.classes is not None:
        return Classification(data.classes, targets, class_weighted)
    return Regression(targets)
