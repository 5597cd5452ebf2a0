"""Verification metrics: ROC, AUC, EER, TAR at fixed FAR, best-accuracy threshold.

scores: (N,) float, higher means "same identity"; labels: (N,) bool/int, 1 = same identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.metrics.checks import check_same_length, check_scores
from core.metrics.paired import weighted_auc

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
    return of_roc(roc_curve(scores, labels), fars)


def of_roc(roc: ROC, fars: tuple[float, ...] = FARS) -> VerificationResult:
    """Every summary of one ROC (from scores, or from counts per threshold)."""
    rate, threshold = eer(roc)
    acc, acc_threshold = best_accuracy(roc)
    return VerificationResult(auc(roc), rate, threshold, {f: tar_at_far(roc, f) for f in fars}, acc, acc_threshold, roc)


# Distances between embeddings ----------------------------------------------------------------

DISTANCES = {
    "euclidean": "Euclidean distance divided by the largest in the set (the study)",
    "cosine": "cosine distance, (1 - cosine similarity) / 2",
}


def check_distance(name: str) -> None:
    if name not in DISTANCES:
        raise ValueError(f"unknown distance {name!r}; choose from {list(DISTANCES)}")


def pair_distances(a: np.ndarray, b: np.ndarray, distance: str) -> np.ndarray:
    """(N,) raw distances between rows of a and b, both (N, D): Euclidean, or cosine distance in [0, 1]."""
    check_distance(distance)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if distance == "euclidean":
        return np.linalg.norm(a - b, axis=1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(1) / np.maximum(na * nb, 1e-12)
    return np.clip((1.0 - cos) / 2.0, 0.0, 1.0)


def normalise(raw: np.ndarray, distance: str, largest: float | None = None) -> np.ndarray:
    """Distances in [0, 1]: Euclidean divided by the largest (of the set unless given), cosine as it is."""
    check_distance(distance)
    raw = np.asarray(raw, np.float64)
    if distance == "cosine":
        return raw
    top = float(raw.max()) if largest is None and raw.size else float(largest or 0.0)
    return raw / top if top > 0 else raw


@dataclass(frozen=True)
class Confusion:
    """Same/different decisions at one threshold: accept (same) when the normalised distance <= threshold."""

    true_accepts: int
    false_rejects: int
    false_accepts: int
    true_rejects: int

    @property
    def far(self) -> float:
        return self.false_accepts / max(self.false_accepts + self.true_rejects, 1)

    @property
    def tar(self) -> float:
        return self.true_accepts / max(self.true_accepts + self.false_rejects, 1)


def threshold_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """The largest distance threshold whose false accept rate (different pairs with distance <= it) is at most far:
    each variant's own operating point, since distances of different embeddings have different scales."""
    d = np.sort(np.asarray(distances, float)[~np.asarray(same, bool)])
    if not len(d):
        raise ValueError("no pair of different people to set a false accept rate on")
    k = int(np.floor(far * len(d)))  # accepted different pairs at most
    if k <= 0:
        return float(np.nextafter(d[0], -np.inf))
    if k >= len(d):
        return float(d[-1])
    return float(np.nextafter(d[k], -np.inf)) if d[k] > d[k - 1] else float(np.nextafter(d[k - 1], -np.inf))


def confusion(distances: np.ndarray, same: np.ndarray, threshold: float) -> Confusion:
    d, y = np.asarray(distances, float), np.asarray(same, bool)
    accept = d <= threshold
    return Confusion(int((accept & y).sum()), int((~accept & y).sum()), int((accept & ~y).sum()),
                     int((~accept & ~y).sum()))


# Every pair of a set, in blocks ----------------------------------------------------------------

ALL_PAIRS_BINS = 1 << 16
ALL_PAIRS_CELLS = 1 << 20  # distances computed at once (rows x columns): bounds the memory whatever N is


@dataclass(frozen=True)
class AllPairs:
    """The ROC of every pair of a set of embeddings, from counts per distance bin.

    The ROC's scores are similarities, 1 - normalised distance; its points are the bins' upper edges."""

    roc: ROC
    n_pairs: int
    n_same: int
    largest: float  # the largest raw distance (the Euclidean normaliser)
    bins: int


def all_pairs_roc(embeddings: np.ndarray, identities: np.ndarray, distance: str = "euclidean",
                  bins: int = ALL_PAIRS_BINS, block: int | None = None) -> AllPairs:
    """ROC over all N(N-1)/2 pairs without holding them: rows are taken `block` at a time (by default as many as
    make ALL_PAIRS_CELLS distances) against the later rows, and each pair only adds one to its distance bin's
    same or different count. Memory grows with block x N, time with N^2 x D.

    embeddings: (N, D) float; identities: (N,) int, equal for the same person."""
    import torch

    check_distance(distance)
    x = torch.as_tensor(np.asarray(embeddings, np.float32))
    ids = torch.as_tensor(np.asarray(identities).astype(np.int64))
    n = len(x)
    block = block or max(16, ALL_PAIRS_CELLS // max(n, 1))
    if n < 2 or len(ids) != n:
        raise ValueError(f"need at least 2 embeddings with one identity each, got {n} and {len(ids)}")
    if distance == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        top = 1.0
    else:  # no pair is further apart than twice the furthest point from the mean
        top = max(2.0 * float((x - x.mean(0)).norm(dim=1).max()), 1e-12)
    sq = (x * x).sum(1)
    same_counts = torch.zeros(bins, dtype=torch.int64)
    all_counts = torch.zeros(bins, dtype=torch.int64)
    largest = 0.0
    scale = bins / top
    for i0 in range(0, n - 1, block):
        i1 = min(i0 + block, n)
        gram = x[i0:i1] @ x[i0:].T  # (b, n - i0)
        d2 = (sq[i0:i1, None] + sq[None, i0:] - 2 * gram).clamp_(min=0)
        later = torch.arange(i0, n)[None, :] > torch.arange(i0, i1)[:, None]
        d = (1 - gram).mul_(0.5).clamp_(0, 1)[later] if distance == "cosine" else d2.sqrt_()[later]
        largest = max(largest, float(d.max()))
        k = (d * scale).long().clamp_(max=bins - 1)
        all_counts += torch.bincount(k, minlength=bins)
        same_counts += torch.bincount(k[(ids[i0:i1, None] == ids[None, i0:])[later]], minlength=bins)
    same_c, all_c = same_counts.numpy(), all_counts.numpy()
    n_same, n_pairs = int(same_c.sum()), int(all_c.sum())
    if n_same == 0 or n_same == n_pairs:
        raise ValueError("the set needs same-person and different-person pairs for a ROC curve")
    used = np.flatnonzero(all_c)
    tp, fp = np.cumsum(same_c)[used], np.cumsum(all_c - same_c)[used]
    edges = (used + 1) / scale  # accept when the raw distance is below the bin's upper edge
    norm = largest if distance == "euclidean" else 1.0
    similarity = 1.0 - edges / max(norm, 1e-12)
    roc = ROC(np.r_[0.0, fp / (n_pairs - n_same)], np.r_[0.0, tp / n_same], np.r_[np.inf, similarity], n_same,
              n_pairs - n_same)
    return AllPairs(roc, n_pairs, n_same, largest, bins)


# AUC of every pair with a CI, resampling people -------------------------------------------------

PEOPLE_BOOTSTRAP_IMAGES = 2000  # at most ~2M pairs held at once; larger sets get the AUC without a CI


def people_bootstrap_auc(embeddings: np.ndarray, identities: np.ndarray, distance: str = "euclidean",
                         n_boot: int = 1000, seed: int = 0) -> tuple[float, tuple[float, float], int]:
    """AUC over every pair of the set, exact (not binned), with a 95% percentile CI from resampling *people*:
    pairs that share an image are not independent, so the unit drawn is a person, and a pair's weight is the
    product of its two people's draw counts. Returns (AUC, (low, high), people); the CI is (nan, nan) for a set
    larger than PEOPLE_BOOTSTRAP_IMAGES or with fewer than 3 people."""
    x = np.asarray(embeddings, np.float64)
    ids = np.unique(np.asarray(identities).reshape(-1), return_inverse=True)[1]
    n, people = len(x), int(ids.max()) + 1 if len(ids) else 0
    if n < 2 or len(ids) != n:
        raise ValueError(f"need at least 2 embeddings with one identity each, got {n} and {len(ids)}")
    if n > PEOPLE_BOOTSTRAP_IMAGES:
        r = all_pairs_roc(x, ids, distance)
        return auc(r.roc), (float("nan"), float("nan")), people
    i, j = np.triu_indices(n, 1)
    scores = -pair_distances(x[i], x[j], distance)
    same = ids[i] == ids[j]
    if same.all() or not same.any():
        raise ValueError("the set needs same-person and different-person pairs for a ROC curve")
    metric = weighted_auc(scores, same)
    value = metric(np.ones(len(i), np.int64))
    if people < 3:
        return value, (float("nan"), float("nan")), people
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, people, people), minlength=people)
        counts = w[ids[i]] * w[ids[j]]
        if counts[same].sum() and counts[~same].sum():
            draws.append(metric(counts))
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return value, (float(low), float(high)), people
