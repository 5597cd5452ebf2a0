"""Classification metrics: confusion matrices, per-class and mean class accuracy, macro/weighted P/R/F1.

y_true, y_pred: (N,) int class indices in [0, n_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.metrics.checks import check_same_length


@dataclass(frozen=True)
class ClassificationResult:
    confusion: np.ndarray  # (C, C) counts, rows = true class
    class_names: list[str]
    accuracy: float
    mean_class_accuracy: float
    macro: dict[str, float]  # precision, recall, f1
    weighted: dict[str, float]
    per_class: pd.DataFrame

    @property
    def confusion_normalised(self) -> np.ndarray:
        """Row-normalised: each true class sums to 1 (rows without samples stay 0)."""
        totals = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(self.confusion, totals, out=np.zeros(self.confusion.shape), where=totals > 0)


def _check(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    check_same_length(y_true=y_true, y_pred=y_pred)
    if len(y_true) == 0:
        raise ValueError("no samples to score")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class indices, got {arr.dtype}")
        bad = (arr < 0) | (arr >= n_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} has class {arr[i]} outside 0..{n_classes - 1} (first at index {i})")
    return y_true, y_pred


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    y_true, y_pred = _check(y_true, y_pred, n_classes)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(n_classes, n_classes)


def _rates(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, support, precision, recall, f1) per class; 0 where undefined, as sklearn's zero_division=0."""
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1).astype(float), cm.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return tp, support, precision, recall, f1


def from_confusion(cm: np.ndarray, class_names: list[str]) -> ClassificationResult:
    """All the metrics from a confusion matrix; classes absent from both truth and predictions count 0 (as sklearn)."""
    cm = np.asarray(cm)
    tp, support, precision, recall, f1 = _rates(cm)
    present = support > 0
    weights = support / support.sum()
    per_class = pd.DataFrame({"class": class_names, "support": support.astype(int), "accuracy": recall,
                              "precision": precision, "recall": recall, "f1": f1})
    return ClassificationResult(
        cm, list(class_names), float(tp.sum() / cm.sum()), float(recall[present].mean()),
        {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        {"precision": float(precision @ weights), "recall": float(recall @ weights), "f1": float(f1 @ weights)},
        per_class)


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> ClassificationResult:
    """Per-class accuracy is the class's recall; mean class accuracy averages it over classes with samples."""
    return from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def mca_of_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Callable[[np.ndarray], float]:
    """Mean class accuracy as a function of per-sample draw counts, for the paired bootstrap."""
    y_true, y_pred = _check(y_true, y_pred, n_classes)
    correct = (y_true == y_pred).astype(float)

    def mca(counts: np.ndarray) -> float:
        support = np.bincount(y_true, counts, minlength=n_classes)
        hits = np.bincount(y_true, counts * correct, minlength=n_classes)
        present = support > 0
        return float((hits[present] / support[present]).mean())
    return mca


def summary_of_counts(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]
                      ) -> Callable[[np.ndarray], dict[str, float]]:
    """mCA, macro F1 / precision / recall and each class's accuracy as a function of per-sample draw
    counts (for bootstrap CIs); all ones gives the values of `evaluate`."""
    n = len(class_names)
    y_true, y_pred = _check(y_true, y_pred, n)
    cell = y_true * n + y_pred

    def summary(counts: np.ndarray) -> dict[str, float]:
        cm = np.bincount(cell, counts, minlength=n * n).reshape(n, n)
        _, support, precision, recall, f1 = _rates(cm)
        out = {"mCA": float(recall[support > 0].mean()), "mF1": float(f1.mean()),
               "mPrecision": float(precision.mean()), "mRecall": float(recall.mean())}
        return out | {f"acc/{c}": float(r) for c, r in zip(class_names, recall, strict=True)}
    return summary
