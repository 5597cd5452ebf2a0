"""Cross-domain generalisation (CDFG) of a feature extractor with a probe on top.

Risk is 1 - balanced accuracy. f_A is the probe fitted on domain A's features. Its risk on A,
R_A(f_A), is estimated by k-fold CV on A (a fit never scores its own training images); its risk on B,
R_B(f_A), by f_A fitted on all of A and scored on all of B. The study's partial measure is
|R_A(f_A) - R_B(f_A)|; the complete measure is the mean of the partial measures of both directions.
Both domains must have the same class names (their order may differ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.types import DataError, LabelledImages
from core.features import probe


@dataclass(frozen=True)
class Direction:
    source: str  # domain the probe was fitted on
    target: str  # domain it was scored on
    risk_source: float  # R_A(f_A): k-fold CV on A
    risk_target: float  # R_B(f_A)

    @property
    def partial(self) -> float:
        return abs(self.risk_source - self.risk_target)


@dataclass(frozen=True)
class CDFG:
    forward: Direction  # A -> B
    backward: Direction  # B -> A

    @property
    def complete(self) -> float:
        return (self.forward.partial + self.backward.partial) / 2


def label_map(a: LabelledImages, b: LabelledImages) -> np.ndarray:
    """For each class index of b, the index of the class of a with the same name; DataError if the names differ."""
    if a.classes is None or b.classes is None:
        raise DataError("cross-domain generalisation needs two classification sets")
    if sorted(a.classes) != sorted(b.classes):
        only_a = sorted(set(a.classes) - set(b.classes))
        only_b = sorted(set(b.classes) - set(a.classes))
        raise DataError(f"{a.name} and {b.name} do not share their class names: only in {a.name}: "
                        f"{', '.join(only_a) or 'none'}; only in {b.name}: {', '.join(only_b) or 'none'}. "
                        "Both domains need the same classes")
    return np.array([a.classes.index(c) for c in b.classes])


def direction(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, cfg: probe.ProbeConfig,
              names: tuple[str, str], classes: list[str]) -> Direction:
    """ya, yb in the same class indices (see label_map)."""
    from sklearn.metrics import balanced_accuracy_score  # here: scikit-learn stays out of the trainers' start

    in_domain = probe.cross_validated(xa, ya, cfg, classes)
    fitted = probe.fit(xa, ya, cfg, classes)
    across = balanced_accuracy_score(yb, fitted.predict(xb))
    return Direction(names[0], names[1], 1 - in_domain.mean, 1 - float(across))


def measure(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, cfg: probe.ProbeConfig,
            names: tuple[str, str], classes: list[str]) -> CDFG:
    return CDFG(direction(xa, ya, xb, yb, cfg, names, classes),
                direction(xb, yb, xa, ya, cfg, (names[1], names[0]), classes))
