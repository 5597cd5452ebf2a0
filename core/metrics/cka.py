"""Linear centred kernel alignment (CKA): how alike two sets of features of the same images are.

CKA(X, Y) = ||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F), with Xc, Yc the column-centred features
(Kornblith et al., 2019). It is 1 for identical features, and unchanged by an orthogonal transform or
an isotropic scaling of either; the two sets may have different widths.
"""

from __future__ import annotations

import numpy as np


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """x: (N, D1), y: (N, D2) features of the same N images, in the same order. In [0, 1]."""
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"CKA needs (N, D) features of the same N images; got shapes {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError("CKA needs at least 2 images")
    xc = x.astype(np.float64) - x.mean(0, dtype=np.float64)
    yc = y.astype(np.float64) - y.mean(0, dtype=np.float64)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    norm = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    if norm == 0:
        raise ValueError("CKA is undefined: one set of features is constant over these images")
    return float(cross / norm)
