"""Verification metrics: ROC, AUC, EER, TAR at fixed FAR, best-accuracy threshold.

scores: (N,) float, higher means "same identity"; labels: (N,) bool/int, 1 = same identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.metrics.checks import check_same_length, check_scores

FARS = (1e-2, 1e-3)


@dataclass(frozen=True)
class ROC:
    fpr: np.ndarray  # (K,) false accept rate at each threshold, from 0 up to 1
    tpr: np.ndarray  # (K,) true accept rate
    thresholds: np.ndarray  # (K,) accept when score >= threshold; the first is +inf
    n_pos: int
    n_neg: int


@dataclass(frozen=True)
class VerificationResult:
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: dict[float, float]
    best_accuracy: float
    best_threshold: float
    roc: ROC


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = check_scores(scores, "scores")
    labels = np.asarray(labels).reshape(-1)
    check_same_length(scores=scores, labels=labels)
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        raise ValueError(f"labels must be 0 or 1 (first other value at index {int(np.flatnonzero(bad)[0])})")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("labels need both classes (same and different pairs) for a ROC curve")
    return scores, labels


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> ROC:
    """ROC at every distinct score, sorted once: O(N log N)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_value]
    fp = (last_of_value + 1) - tp
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return ROC(np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, s[last_of_value]], n_pos, n_neg)


def auc(roc: ROC) -> float:
    return float(np.trapezoid(roc.tpr, roc.fpr))


def eer(roc: ROC) -> tuple[float, float]:
    """Equal error rate (where FAR = FRR, interpolated between ROC points) and the threshold there."""
    frr = 1 - roc.tpr
    diff = roc.fpr - frr  # rises from -1 to +1
    i = int(np.searchsorted(diff, 0.0, side="left"))
    if i == 0:
        return float(roc.fpr[0]), float(roc.thresholds[0])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    rate = roc.fpr[i - 1] + w * (roc.fpr[i] - roc.fpr[i - 1])
    return float(rate), float(roc.thresholds[i])


def tar_at_far(roc: ROC, far: float) -> float:
    """The highest true accept rate whose false accept rate does not exceed far."""
    ok = roc.fpr <= far
    return float(roc.tpr[ok].max())


def best_accuracy(roc: ROC) -> tuple[float, float]:
    """Accuracy of the best single threshold, and that threshold."""
    correct = roc.tpr * roc.n_pos + (1 - roc.fpr) * roc.n_neg
    i = int(np.argmax(correct))
    return float(correct[i] / (roc.n_pos + roc.n_neg)), float(roc.thresholds[i])


def normalised_similarity(distances: np.ndarray) -> np.ndarray:
    """The study's normalisation: distance divided by the set's largest, turned into a similarity in [0, 1]."""
    d = check_scores(distances, "distances")
    if (d < 0).any():
        raise ValueError(f"distances must be >= 0 (first negative at index {int(np.flatnonzero(d < 0)[0])})")
    top = d.max() if d.size else 0.0
    return 1.0 - (d / top if top > 0 else d)


def evaluate(scores: np.ndarray, labels: np.ndarray, fars: tuple[float, ...] = FARS) -> VerificationResult:
    roc = roc_curve(scores, labels)
    rate, threshold = eer(roc)
    acc, acc_threshold = best_accuracy(roc)
    return VerificationResult(auc(roc), rate, threshold, {f: tar_at_far(roc, f) for f in fars}, acc, acc_threshold, roc)
