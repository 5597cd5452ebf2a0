"""Two variants scored on the same samples: paired bootstrap CIs, McNemar's test, DeLong's test, and the
corrected resampled t-test for scores on the same cross-validation folds.

"a" and "b" are the two variants; every difference is a - b.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.metrics.checks import check_finite, check_same_length, check_scores

N_BOOT = 2000  # resamples for the CLI, the reports and the bench
SEED = 0  # every bootstrap draws the same resamples for the same data
N_BOOT_LIVE = 1000  # for the pages: CIs recomputed as the user picks variants, fast enough to feel live


@dataclass(frozen=True)
class Paired:
    """One metric compared between two variants; the shape of the Comparison JSON's "comparisons" rows."""

    metric: str
    a: float
    b: float
    delta: float
    ci95: tuple[float, float] | None
    p_value: float
    test: str

    def as_dict(self, name_a: str, name_b: str) -> dict:
        return {"metric": self.metric, "a": name_a, "b": name_b, "value_a": self.a, "value_b": self.b,
                "delta": self.delta, "ci95": list(self.ci95) if self.ci95 else None, "p_value": self.p_value,
                "test": self.test}


def paired_bootstrap(metric_a: Callable[[np.ndarray], float], metric_b: Callable[[np.ndarray], float], n: int,
                     name: str, n_boot: int = N_BOOT, seed: int = 0) -> Paired:
    """Percentile 95% CI of metric_a - metric_b, resampling the same n units for both.

    metric_x(counts) gets (n,) int counts, how often each unit was drawn, and returns the metric
    on that resample (the observed value uses all ones). The p-value is the two-sided bootstrap
    p of "no difference": twice the smaller share of resampled deltas on either side of 0, counted as
    (k + 1) / (B + 1) so that it is never 0.
    """
    if n < 2:
        raise ValueError(f"need at least 2 paired samples for a bootstrap, got {n}")
    ones = np.ones(n, dtype=np.int64)
    a, b = metric_a(ones), metric_b(ones)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot)
    for i in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        deltas[i] = metric_a(counts) - metric_b(counts)
    deltas = deltas[np.isfinite(deltas)]
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    # (k + 1) / (B + 1), not k / B: a bootstrap cannot show p = 0, only that p is below its resolution
    # (Davison & Hinkley 1997, eq. 4.11)
    p = min(1.0, 2 * (min((deltas <= 0).sum(), (deltas >= 0).sum()) + 1) / (len(deltas) + 1))
    return Paired(name, float(a), float(b), float(a - b), (float(lo), float(hi)), float(p), "paired bootstrap")


def bootstrap_cis(metrics: Callable[[np.ndarray], dict[str, float]], n: int, n_boot: int = N_BOOT,
                  seed: int = SEED) -> dict[str, tuple[float, float]]:
    """Percentile 95% CI of each metric, resampling the n units; metrics(counts) as in paired_bootstrap."""
    if n < 2:
        raise ValueError(f"need at least 2 samples for a bootstrap, got {n}")
    rng = np.random.default_rng(seed)
    draws = [metrics(np.bincount(rng.integers(0, n, n), minlength=n)) for _ in range(n_boot)]
    out = {}
    for name in draws[0]:
        values = np.array([d[name] for d in draws])
        values = values[np.isfinite(values)]
        out[name] = tuple(float(v) for v in np.percentile(values, [2.5, 97.5])) if len(values) else (np.nan, np.nan)
    return out


def values_and_cis(metrics: Callable[[np.ndarray], dict[str, float]], n: int, n_boot: int = N_BOOT_LIVE
                   ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """A run's final numbers: the metrics on every unit (all counts one) and their percentile CIs over n
    resampled units (the pages' resample count keeps the Runs page quick; a CI's ends settle to about ±0.005)."""
    return metrics(np.ones(n, np.int64)), bootstrap_cis(metrics, n, n_boot, SEED)


def ci_of(metric: Callable[[np.ndarray], float], n: int, n_boot: int = N_BOOT_LIVE) -> tuple[float, float]:
    """The percentile CI of one metric of per-unit draw counts (an AP of counts, say) over n resampled units."""
    return bootstrap_cis(lambda counts: {"m": metric(counts)}, n, n_boot, SEED)["m"]


def weighted_mean(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """A metric that is a mean over units (accuracy from 0/1 correctness, MAE from |errors|)."""
    values = check_finite(np.asarray(values, float).reshape(-1), "values")
    return lambda counts: float(counts @ values / counts.sum())


def weighted_auc(scores: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], float]:
    """AUC as a metric of per-sample counts: the Mann-Whitney statistic with each sample weighted by its count."""
    scores = check_scores(scores)
    labels = np.asarray(labels, bool).reshape(-1)
    check_same_length(scores=scores, labels=labels)
    order = np.argsort(scores, kind="mergesort")
    s, y = scores[order], labels[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    group = np.cumsum(np.r_[0, np.diff(s) != 0])

    def auc(counts: np.ndarray) -> float:
        w = counts[order].astype(float)
        neg = np.where(~y, w, 0.0)
        pos = np.where(y, w, 0.0)
        neg_below = np.r_[0.0, np.cumsum(neg)][group_start][group]  # negatives strictly below each score
        neg_tied = np.bincount(group, neg)[group]
        total = pos.sum() * neg.sum()
        return float((pos * (neg_below + 0.5 * neg_tied)).sum() / total) if total else float("nan")
    return auc


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> Paired:
    """McNemar's test on paired correctness (a and b are the two accuracies).

    Exact binomial on the discordant pairs when there are fewer than 25 of them, else the
    chi-squared statistic with continuity correction. No CI: the bootstrap gives that.
    """
    from scipy import stats  # here, not at import: about a second off every process that never tests (the trainers)

    a = np.asarray(correct_a, bool).reshape(-1)
    b = np.asarray(correct_b, bool).reshape(-1)
    check_same_length(correct_a=a, correct_b=b)
    acc_a, acc_b = (float(a.mean()), float(b.mean())) if len(a) else (float("nan"), float("nan"))
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        p, test = 1.0, "McNemar (no discordant pairs)"
    elif n < 25:
        p, test = float(stats.binomtest(only_a, n, 0.5).pvalue), f"McNemar exact ({only_a} vs {only_b} discordant)"
    else:
        chi2 = (abs(only_a - only_b) - 1) ** 2 / n
        p, test = float(stats.chi2.sf(chi2, 1)), f"McNemar χ² = {chi2:.2f} ({only_a} vs {only_b} discordant)"
    return Paired("accuracy", acc_a, acc_b, acc_a - acc_b, None, p, test)


def _placements(scores: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's placement values V10 (per positive) and V01 (per negative), via midranks: O(N log N)."""
    from scipy import stats  # here, not at import: about a second off every process that never tests (the trainers)

    pos, neg = scores[labels], scores[~labels]
    m, n = len(pos), len(neg)
    rank_all = stats.rankdata(np.r_[pos, neg])
    rank_pos, rank_neg = stats.rankdata(pos), stats.rankdata(neg)
    v10 = (rank_all[:m] - rank_pos) / n  # share of negatives below each positive (ties count 1/2)
    v01 = 1.0 - (rank_all[m:] - rank_neg) / m  # share of positives above each negative
    return float(v10.mean()), v10, v01


def delong(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray) -> Paired:
    """DeLong, DeLong & Clarke-Pearson (1988) test of two correlated AUCs, with the fast midrank
    computation of Sun & Xu (2014). The CI is the normal one on the difference."""
    from scipy import stats  # here, not at import: about a second off every process that never tests (the trainers)

    scores_a, scores_b = check_scores(scores_a, "scores_a"), check_scores(scores_b, "scores_b")
    labels = np.asarray(labels).reshape(-1)
    check_same_length(scores_a=scores_a, scores_b=scores_b, labels=labels)
    labels = labels.astype(bool)
    m, n = int(labels.sum()), int((~labels).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least 2 positives and 2 negatives, got {m} and {n}")
    auc_a, v10_a, v01_a = _placements(scores_a, labels)
    auc_b, v10_b, v01_b = _placements(scores_b, labels)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    contrast = np.array([1.0, -1.0])
    var = float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)
    delta = auc_a - auc_b
    if var <= 0:
        p = 1.0 if delta == 0 else 0.0
        return Paired("AUC", auc_a, auc_b, delta, (delta, delta), p, "DeLong")
    z = delta / np.sqrt(var)
    half = stats.norm.ppf(0.975) * np.sqrt(var)
    return Paired("AUC", auc_a, auc_b, delta, (delta - half, delta + half), float(2 * stats.norm.sf(abs(z))),
                      "DeLong")


def corrected_resampled_ttest(folds_a: np.ndarray, folds_b: np.ndarray, test_share: float, name: str) -> Paired:
    """Two models scored on the same k folds: Nadeau and Bengio's corrected resampled t-test.

    The folds' training sets overlap, so the spread of the k differences understates the real
    variance; the correction multiplies it by (1/k + n_test/n_train). test_share: n_test/n_train of
    one fold (1/(k-1) for k-fold). The CI is the t interval on k-1 degrees of freedom.
    """
    from scipy import stats  # here, not at import: about a second off every process that never tests (the trainers)

    a, b = np.asarray(folds_a, float), np.asarray(folds_b, float)
    k = check_same_length(folds_a=a, folds_b=b)
    if k < 2:
        raise ValueError(f"need the scores of at least 2 folds, got {k}")
    d = a - b
    delta = float(d.mean())
    se = float(np.sqrt((1 / k + test_share) * d.var(ddof=1)))
    if se == 0:  # every fold differs by the same amount
        return Paired(name, float(a.mean()), float(b.mean()), delta, (delta, delta), float(delta == 0),
                      "corrected resampled t-test")
    half = float(stats.t.ppf(0.975, k - 1)) * se
    p = float(2 * stats.t.sf(abs(delta) / se, k - 1))
    return Paired(name, float(a.mean()), float(b.mean()), delta, (delta - half, delta + half), p,
                  "corrected resampled t-test")
