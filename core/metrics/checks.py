"""Input checks shared by the metrics: each failure is a ValueError naming the problem and the first bad index."""

from __future__ import annotations

import numpy as np


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def check_finite(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first(bad) if arr.ndim else 0
        raise ValueError(f"{name} has a NaN or infinite value (first at index {i})")
    return arr


def check_scores(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    return check_finite(np.asarray(scores, dtype=float).reshape(-1), name)


def _n_by_4(boxes: np.ndarray, name: str, layout: str) -> np.ndarray:
    """(N, 4) finite floats, or ValueError naming the array and the expected layout."""
    arr = np.asarray(boxes, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as {layout}, got {arr.shape}")
    return check_finite(arr, name)


def _first_bad(mask: np.ndarray, arr: np.ndarray, name: str, what: str) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ValueError(f"{name} has {what} (first at index {i}: {arr[i].tolist()})")


def check_boxes(boxes: np.ndarray, name: str = "boxes") -> np.ndarray:
    """(N, 4) x1 y1 x2 y2, finite, with x2 >= x1 and y2 >= y1."""
    arr = _n_by_4(boxes, name, "x1 y1 x2 y2")
    if len(arr):
        _first_bad((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]), arr, name, "x2 < x1 or y2 < y1")
    return arr


def check_xywh(boxes: np.ndarray, name: str = "bbox") -> np.ndarray:
    """(N, 4) x y w h with w, h >= 0, returned as x1 y1 x2 y2."""
    arr = _n_by_4(boxes, name, "x y w h")
    if len(arr):
        _first_bad((arr[:, 2] < 0) | (arr[:, 3] < 0), arr, name, "a negative width or height")
    return np.column_stack([arr[:, 0], arr[:, 1], arr[:, 0] + arr[:, 2], arr[:, 1] + arr[:, 3]])


def check_same_length(**arrays: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("lengths differ: " + ", ".join(f"{k} has {n}" for k, n in lengths.items()))
    return next(iter(lengths.values()), 0)
