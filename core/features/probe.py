"""Linear probes: a scikit-learn pipeline on extracted features, scored by stratified k-fold CV.

The pipeline is StandardScaler (optional) -> PCA (optional: a number of components, or the share of
variance to keep) -> a classifier (linear SVM, logistic regression or k nearest neighbours). The
score is balanced accuracy (the mean of each class's recall), per fold; the linear models weight each
class by its inverse frequency, so that a rare class counts as the score counts it. Two probes on the same
samples with the same folds can be compared with the corrected resampled t-test (core.metrics.paired).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported where a probe is built: about a second off every trainer's start
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

CLASSIFIERS = {"linear_svm": "linear SVM (libsvm, linear kernel)",
               "linear_svc": "linear SVM (liblinear LinearSVC)",
               "logistic": "logistic regression", "knn": "k nearest neighbours (k = 5)"}


class ProbeError(ValueError):
    """Features or labels a probe cannot be fitted on; the message says what to change."""


@dataclass(frozen=True)
class ProbeConfig:
    classifier: str = "linear_svm"
    C: float = 1.0  # inverse regularisation of the linear models
    standardise: bool = True
    pca: float = 0  # 0: none; >= 1: that many components; in (0, 1): keep that share of the variance
    folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {self.classifier!r}; choose from {list(CLASSIFIERS)}")
        if self.folds < 2:
            raise ValueError(f"k-fold needs at least 2 folds, got {self.folds}")
        if self.C <= 0 or self.pca < 0 or (self.pca >= 1 and self.pca != int(self.pca)):
            raise ValueError("C must be > 0; pca 0 (none), a whole number of components, or a share in (0, 1)")

    def describe(self) -> str:
        pca = ("" if not self.pca else f" · PCA {int(self.pca)}" if self.pca >= 1 else f" · PCA {self.pca:.0%} var")
        return f"{'standardised · ' if self.standardise else ''}{self.classifier}{pca} · {self.folds}-fold"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProbeResult:
    folds: np.ndarray  # (k,) balanced accuracy of each fold
    n_features: int  # what the classifier saw (after PCA)
    n_samples: int
    seconds: float

    @property
    def mean(self) -> float:
        return float(self.folds.mean())

    @property
    def std(self) -> float:
        return float(self.folds.std(ddof=1))


def pipeline(cfg: ProbeConfig, train_samples: int, n_features: int) -> Pipeline:
    """The steps, checked against the data: PCA cannot keep more components than features or training samples."""
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    steps: list = [("constant", VarianceThreshold())] + ([("scale", StandardScaler())] if cfg.standardise else [])
    if cfg.pca:
        n = int(cfg.pca) if cfg.pca >= 1 else cfg.pca
        if cfg.pca >= 1 and n > min(train_samples, n_features):
            raise ProbeError(f"PCA with {n} components needs at least that many features and training images; "
                             f"here {n_features} features and {train_samples} training images: "
                             f"choose at most {min(train_samples, n_features)}")
        steps.append(("pca", PCA(n, random_state=cfg.seed)))
    if cfg.classifier == "linear_svm":  # the dual on the Gram matrix: 4x faster than liblinear at 2000 x 1280 here
        clf = SVC(kernel="linear", C=cfg.C, class_weight="balanced", cache_size=500)
    elif cfg.classifier == "linear_svc":
        # the dual, capped: on 2,000 x 1,280 class-weighted features the primal (dual="auto") took minutes here
        clf = LinearSVC(C=cfg.C, class_weight="balanced", dual=True, max_iter=1000, random_state=cfg.seed)
    elif cfg.classifier == "logistic":
        clf = LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=1000)
    elif cfg.classifier == "knn":
        clf = KNeighborsClassifier(5)
    else:
        raise ValueError(f"unknown classifier {cfg.classifier!r}; choose from {list(CLASSIFIERS)}")
    return Pipeline([*steps, ("clf", clf)])


def largest_k(y: np.ndarray) -> int:
    """The most folds stratified k-fold allows: each fold needs an image of every class."""
    counts = np.bincount(y)
    return int(counts[counts > 0].min()) if counts.any() else 0


def check(x: np.ndarray, y: np.ndarray, folds: int, classes: list[str] | None = None) -> None:
    """ProbeError unless the features can be probed: two classes or more, enough images of each for the folds,
    finite values, and at least one feature that varies (constant ones are dropped by the pipeline)."""
    present = np.unique(y)
    if len(present) < 2:
        name = classes[int(present[0])] if classes and len(present) else "?"
        raise ProbeError(f"only one class ({name}) among these images; a probe needs two or more")
    k = largest_k(y)
    if k < folds:
        counts = np.bincount(y)
        rare = int(np.flatnonzero(counts == k)[0])
        name = classes[rare] if classes else str(rare)
        advice = f"the largest k that works is {k}" if k >= 2 else "every class needs at least 2 images"
        raise ProbeError(f"too few images for {folds}-fold CV: class {name} has {k}; {advice}")
    if not np.isfinite(x).all():
        raise ProbeError("the features hold NaN or infinite values (a diverged network?); try other weights or layer")
    if not (np.ptp(x, axis=0) > 0).any():
        raise ProbeError(f"all {x.shape[1]} features have zero variance over these images: this layer gives every "
                         "image the same vector (a dead or saturated layer); choose another layer or weights")


def folds_of(y: np.ndarray, cfg: ProbeConfig) -> StratifiedKFold:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(cfg.folds, shuffle=True, random_state=cfg.seed)


def cross_validated(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig, classes: list[str] | None = None) -> ProbeResult:
    """Balanced accuracy per fold of the probe pipeline; ProbeError when the data cannot be probed."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_validate

    check(x, y, cfg.folds, classes)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a probe is read at its iteration cap, as the study did
        out = cross_validate(pipeline(cfg, len(y) * (cfg.folds - 1) // cfg.folds, x.shape[1]), x, y,
                             cv=folds_of(y, cfg), scoring="balanced_accuracy", return_estimator=cfg.pca > 0,
                             error_score="raise")
    n_features = x.shape[1]
    if cfg.pca:
        n_features = int(np.median([e.named_steps["pca"].n_components_ for e in out["estimator"]]))
    return ProbeResult(np.asarray(out["test_score"], float), n_features, len(y), time.perf_counter() - start)


def out_of_fold(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig, classes: list[str] | None = None) -> np.ndarray:
    """(N,) each image's class as predicted by the probe fitted on the other folds (the folds cross_validated uses):
    per-image outcomes, so that a resample of images gives a probe's balanced accuracy."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_predict

    check(x, y, cfg.folds, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return np.asarray(cross_val_predict(pipeline(cfg, len(y) * (cfg.folds - 1) // cfg.folds, x.shape[1]), x, y,
                                            cv=folds_of(y, cfg)))


def fit(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig, classes: list[str] | None = None) -> Pipeline:
    """The probe fitted on all of x (for scoring another domain)."""
    from sklearn.exceptions import ConvergenceWarning

    check(x, y, 2, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline(cfg, len(y), x.shape[1]).fit(x, y)
