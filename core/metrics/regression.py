"""Regression metrics: MAE, RMSE, R², Pearson and Spearman correlation. y_true, y_pred: (N,) float."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.metrics.checks import check_finite, check_same_length
from core.numbers import Undefined


@dataclass(frozen=True)
class RegressionResult:
    mae: float
    rmse: float
    r2: float
    pearson: float
    spearman: float
    n: int


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> RegressionResult:
    y_true = check_finite(np.asarray(y_true, float).reshape(-1), "y_true")
    y_pred = check_finite(np.asarray(y_pred, float).reshape(-1), "y_pred")
    n = check_same_length(y_true=y_true, y_pred=y_pred)
    if n < 2:
        raise ValueError(f"need at least 2 samples for correlations, got {n}")
    err = y_pred - y_true
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1 - float((err**2).sum()) / ss_tot if ss_tot > 0 else Undefined("constant targets")
    # a correlation with a constant is undefined, not an error (a scratch regressor's first epoch predicts one)
    constant = "constant predictions" if np.ptp(y_pred) == 0 else "constant targets" if np.ptp(y_true) == 0 else ""
    from scipy import stats  # here, not at import: half a second off every trainer process's start

    pearson = Undefined(constant) if constant else float(stats.pearsonr(y_true, y_pred).statistic)
    spearman = Undefined(constant) if constant else float(stats.spearmanr(y_true, y_pred).statistic)
    return RegressionResult(float(np.abs(err).mean()), float(np.sqrt((err**2).mean())), r2, pearson, spearman, n)


def summary_of_counts(y_true: np.ndarray, y_pred: np.ndarray) -> Callable[[np.ndarray], dict[str, float]]:
    """Pearson, Spearman and MAE as a function of per-sample draw counts (for bootstrap CIs)."""
    y_true = check_finite(np.asarray(y_true, float).reshape(-1), "y_true")
    y_pred = check_finite(np.asarray(y_pred, float).reshape(-1), "y_pred")
    check_same_length(y_true=y_true, y_pred=y_pred)

    def summary(counts: np.ndarray) -> dict[str, float]:
        idx = np.repeat(np.arange(len(y_true)), counts)
        r = evaluate(y_true[idx], y_pred[idx])
        return {"pearson": r.pearson, "spearman": r.spearman, "MAE": r.mae}
    return summary


def metric_of_counts(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> Callable[[np.ndarray], float]:
    """One of Pearson, Spearman and MAE as a function of per-sample draw counts: what a bootstrap of that one metric
    calls thousands of times, so it computes that metric alone (the same numbers as `evaluate`, undefined for a
    constant side alike)."""
    if name not in ("pearson", "spearman", "MAE"):
        raise ValueError(f"unknown metric {name!r}; choose from pearson, spearman, MAE")
    y_true = check_finite(np.asarray(y_true, float).reshape(-1), "y_true")
    y_pred = check_finite(np.asarray(y_pred, float).reshape(-1), "y_pred")
    check_same_length(y_true=y_true, y_pred=y_pred)
    from scipy.stats import rankdata

    def value(counts: np.ndarray) -> float:
        idx = np.repeat(np.arange(len(y_true)), counts)
        t, p = y_true[idx], y_pred[idx]
        if name == "MAE":
            return float(np.abs(p - t).mean())
        if len(t) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
            return Undefined("constant predictions" if len(t) >= 2 and np.ptp(p) == 0 else "constant targets")
        if name == "spearman":
            t, p = rankdata(t), rankdata(p)
        return float(np.clip(np.corrcoef(t, p)[0, 1], -1.0, 1.0))
    return value
