"""What a training loop optimises and reports, per task: the loop itself knows nothing of the task.

An objective owns the loss, the targets' scaling, the validation scores, what the test pass
returns and what a saved model outputs. Classification and regression are here; another (pair
embeddings for verification, a metric-learning loss) is one more class with the same methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn

from core.data.types import LabelledImages
from core.metrics import classification, regression


class Objective(Protocol):
    outputs: int  # the head's width
    target_dtype: torch.dtype
    headline: str  # the validation score a progress line shows

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

    def __init__(self, classes: list[str], train_targets: np.ndarray, class_weighted: bool = True) -> None:
        self.classes, self.outputs = classes, len(classes)
        counts = torch.bincount(torch.as_tensor(train_targets, dtype=torch.long), minlength=self.outputs).float()
        self.weight = counts.sum() / (self.outputs * counts) if class_weighted else None
        self._train_loss: nn.Module = nn.CrossEntropyLoss(weight=self.weight)
        self._val_loss = nn.CrossEntropyLoss(weight=self.weight)

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

    def __init__(self, train_targets: np.ndarray) -> None:
        y = torch.as_tensor(train_targets, dtype=torch.float32)
        self.shift, self.scale = float(y.mean()), float(y.std()) or 1.0
        self._l1 = nn.L1Loss()

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


def for_data(data: LabelledImages, train_idx: np.ndarray, class_weighted: bool = True) -> Classification | Regression:
    """The objective a labelled set asks for: classification when it has classes, regression otherwise."""
    targets = data.targets[train_idx]
    if data.classes is not None:
        return Classification(data.classes, targets, class_weighted)
    return Regression(targets)
