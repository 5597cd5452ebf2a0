"""Two variants, each trained with several seeds, scored on test items: a 95% CI of the difference that counts
both the training randomness (which seed) and the test sample (which items), and P(A better than B).

The hierarchical bootstrap (Saravanan et al., 2020) resamples seeds, then items within each resampled seed, and
takes the mean over the resampled seeds; its percentile interval is the CI. P(A better than B) is the share of
runs of A that beat runs of B (Bouthillier et al., MLSys 2021), over the seeds both were trained with when they
are paired, else over every pair of runs; its CI comes from the same resamples.

Each replicate is one trained model's metric as a function of per-item draw counts (as in core.metrics.paired), so
AP, AUC, mCA or Pearson resample the same way. With one seed per side this is core.metrics.paired's image bootstrap,
draw for draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.metrics.paired import N_BOOT, SEED

MAX_SEEDS = 20  # the most replicates one setting may ask for


@dataclass(frozen=True)
class Replicate:
    """One trained model (or an untrained one: seed None, no training randomness) scored on its test items."""

    seed: int | None
    items: np.ndarray  # (n,) what identifies each test item (dataset positions, image numbers)
    value: Callable[[np.ndarray], float]  # the metric of (n,) int draw counts; all ones: the observed value

    @property
    def observed(self) -> float:
        return float(self.value(np.ones(len(self.items), np.int64)))


@dataclass(frozen=True)
class AcrossSeeds:
    """One metric compared between A and B across their seeds; differences are A − B."""

    metric: str
    mean_a: float
    mean_b: float
    per_seed_a: dict[str, float]  # seed (as text; "–" for untrained) -> value
    per_seed_b: dict[str, float]
    delta: float  # mean over A's seeds − mean over B's
    ci95: tuple[float, float]
    p_better: float  # P(a run of A beats a run of B) on this metric
    p_better_ci95: tuple[float, float]
    pairing: str  # "by seed", "B untrained", "A untrained", "unpaired"
    test: str

    @property
    def n_seeds(self) -> tuple[int, int]:
        return len(self.per_seed_a), len(self.per_seed_b)

    def as_dict(self, name_a: str, name_b: str) -> dict:
        return {"metric": self.metric, "a": name_a, "b": name_b, "value_a": self.mean_a, "value_b": self.mean_b,
                "delta": self.delta, "ci95": list(self.ci95), "p_better": self.p_better,
                "p_better_ci95": list(self.p_better_ci95), "n_seeds": list(self.n_seeds), "pairing": self.pairing,
                "test": self.test}


def sd(values: Sequence[float]) -> float:
    """The seeds' sample standard deviation (NaN with fewer than two)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _label(seed: int | None) -> str:
    return "–" if seed is None else str(seed)


def _pairs(a: list[Replicate], b: list[Replicate]) -> tuple[list[tuple[Replicate, Replicate]], str]:
    """How the two sides line up: the seeds both have (two or more, or all of each), or an untrained side beside
    every seed of the other, each pair on the same items; else no pairs (unpaired)."""
    def same_items(x: Replicate, y: Replicate) -> bool:
        return len(x.items) == len(y.items) and bool(np.array_equal(x.items, y.items))

    if len(b) == 1 and b[0].seed is None and all(same_items(r, b[0]) for r in a):
        return [(r, b[0]) for r in a], "B untrained"
    if len(a) == 1 and a[0].seed is None and all(same_items(a[0], r) for r in b):
        return [(a[0], r) for r in b], "A untrained"
    by_seed = {r.seed: r for r in b}
    common = [(r, by_seed[r.seed]) for r in a if r.seed in by_seed]
    full = len(common) == len(a) == len(b)
    if common and (len(common) >= 2 or full) and all(same_items(x, y) for x, y in common):
        return common, "by seed"
    return [], "unpaired"


def _wins(a: np.ndarray, b: np.ndarray, higher: bool) -> float:
    """Share of (a, b) comparisons A wins, ties counting half; a and b broadcast (pairs, or every combination)."""
    diff = (a - b) if higher else (b - a)
    if np.isnan(diff).any():  # an undefined value (a constant predictor's correlation): no share to count
        return float("nan")
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def across_seeds(a: list[Replicate], b: list[Replicate], metric: str, higher_is_better: bool = True,
                 n_boot: int = N_BOOT, seed: int = SEED) -> AcrossSeeds:
    """The hierarchical-bootstrap comparison of A's and B's replicates on one metric.

    Paired (the same seeds on the same items, or an untrained side): each draw resamples the pairs, and within
    each drawn pair one set of item counts serves both models. Unpaired: each side's seeds are resampled on their
    own, and each drawn replicate's items on their own. Seeds and items draw from separate generators, so that with
    one seed per side (or one seed beside an untrained model) the item draws are core.metrics.paired's."""
    if not a or not b:
        raise ValueError(f"{metric}: each side needs at least one replicate (got {len(a)} and {len(b)})")
    pairs, pairing = _pairs(a, b)
    seed_rng, item_rng = np.random.default_rng([seed, 1]), np.random.default_rng(seed)
    values_a = np.array([r.observed for r in a])
    values_b = np.array([r.observed for r in b])
    deltas, wins = np.empty(n_boot), np.empty(n_boot)
    if pairs:
        obs_a = np.array([x.observed for x, _ in pairs])
        obs_b = np.array([y.observed for _, y in pairs])
        delta, p = float(obs_a.mean() - obs_b.mean()), _wins(obs_a, obs_b, higher_is_better)
        for i in range(n_boot):
            picked = seed_rng.integers(0, len(pairs), len(pairs)) if len(pairs) > 1 else np.zeros(1, int)
            da, db = np.empty(len(picked)), np.empty(len(picked))
            for k, j in enumerate(picked):
                x, y = pairs[j]
                n = len(x.items)
                counts = np.bincount(item_rng.integers(0, n, n), minlength=n)
                da[k], db[k] = x.value(counts), y.value(counts)
            deltas[i], wins[i] = da.mean() - db.mean(), _wins(da, db, higher_is_better)
    else:
        delta = float(values_a.mean() - values_b.mean())
        p = _wins(values_a[:, None], values_b[None, :], higher_is_better)
        for i in range(n_boot):
            da = _draw(a, seed_rng, item_rng)
            db = _draw(b, seed_rng, item_rng)
            deltas[i], wins[i] = da.mean() - db.mean(), _wins(da[:, None], db[None, :], higher_is_better)
    ok = np.isfinite(deltas)  # a resample with no positives, say; an undefined observed value leaves no interval
    defined = np.isfinite(delta) and ok.any()
    lo, hi = np.percentile(deltas[ok], [2.5, 97.5]) if defined else (np.nan, np.nan)
    p_lo, p_hi = np.percentile(wins[ok], [2.5, 97.5]) if defined else (np.nan, np.nan)
    how = {"by seed": "paired by seed", "B untrained": "paired items, B untrained",
           "A untrained": "paired items, A untrained", "unpaired": "seeds unpaired"}[pairing]
    return AcrossSeeds(metric, float(values_a.mean()), float(values_b.mean()),
                       {_label(r.seed): float(v) for r, v in zip(a, values_a, strict=True)},
                       {_label(r.seed): float(v) for r, v in zip(b, values_b, strict=True)},
                       delta, (float(lo), float(hi)), p, (float(p_lo), float(p_hi)), pairing,
                       f"hierarchical bootstrap: seeds, then test items ({how})")


def _draw(side: list[Replicate], seed_rng: np.random.Generator, item_rng: np.random.Generator) -> np.ndarray:
    picked = seed_rng.integers(0, len(side), len(side)) if len(side) > 1 else np.zeros(1, int)
    out = np.empty(len(picked))
    for k, j in enumerate(picked):
        n = len(side[j].items)
        out[k] = side[j].value(np.bincount(item_rng.integers(0, n, n), minlength=n))
    return out


def interval(side: list[Replicate], n_boot: int = N_BOOT, seed: int = SEED) -> tuple[float, float]:
    """The 95% CI of one variant's mean over its seeds, resampling seeds and then items."""
    if not np.isfinite([r.observed for r in side]).all():  # undefined on a seed: the mean is, and so its interval
        return (float("nan"), float("nan"))
    seed_rng, item_rng = np.random.default_rng([seed, 1]), np.random.default_rng(seed)
    draws = np.array([_draw(side, seed_rng, item_rng).mean() for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    return tuple(float(v) for v in np.percentile(draws, [2.5, 97.5])) if len(draws) else (np.nan, np.nan)
