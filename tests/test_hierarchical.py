"""The hierarchical bootstrap against a slow reference written here: nested loops over resampled seeds, then
resampled test items, on generated correctness data with a known spread between seeds."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics import hierarchical, paired

N_ITEMS, N_BOOT = 150, 2000


def _generated(means: list[float], seed: int) -> list[np.ndarray]:
    """One (N_ITEMS,) 0/1 correctness array per training seed, each seed with its own accuracy."""
    rng = np.random.default_rng(seed)
    return [(rng.random(N_ITEMS) < m).astype(float) for m in means]


def _replicates(correct: list[np.ndarray], seeds: list[int | None]) -> list[hierarchical.Replicate]:
    return [hierarchical.Replicate(s, np.arange(N_ITEMS), paired.weighted_mean(c))
            for s, c in zip(seeds, correct, strict=True)]


def _reference(a: list[np.ndarray], b: list[np.ndarray], paired_by_seed: bool, n_boot: int, seed: int
               ) -> tuple[float, float]:
    """Slow: for each draw, pick seeds with replacement, then for each picked seed pick items with replacement
    and take the accuracy of the picked items; Δ = mean over A's picked seeds − mean over B's."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_boot):
        if paired_by_seed:
            picks = [int(rng.integers(0, len(a))) for _ in range(len(a))]
            total_a = total_b = 0.0
            for s in picks:
                items = rng.integers(0, N_ITEMS, N_ITEMS)  # the same resampled items for both models
                total_a += a[s][items].mean()
                total_b += b[s][items].mean()
            deltas.append(total_a / len(picks) - total_b / len(picks))
        else:
            means = []
            for side in (a, b):
                total = 0.0
                for _ in range(len(side)):
                    s = int(rng.integers(0, len(side)))
                    total += side[s][rng.integers(0, N_ITEMS, N_ITEMS)].mean()
                means.append(total / len(side))
            deltas.append(means[0] - means[1])
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return float(lo), float(hi)


@pytest.mark.parametrize("paired_by_seed", [True, False])
def test_the_interval_matches_the_slow_reference(paired_by_seed: bool) -> None:
    a = _generated([0.80, 0.70, 0.86, 0.75], seed=1)
    b = _generated([0.72, 0.70, 0.74, 0.69], seed=2)
    seeds_b = [0, 1, 2, 3] if paired_by_seed else [10, 11, 12, 13]
    fast = hierarchical.across_seeds(_replicates(a, [0, 1, 2, 3]), _replicates(b, seeds_b), "accuracy",
                                     n_boot=N_BOOT)
    assert fast.pairing == ("by seed" if paired_by_seed else "unpaired")
    assert fast.delta == pytest.approx(np.mean([x.mean() for x in a]) - np.mean([x.mean() for x in b]))
    slow = _reference(a, b, paired_by_seed, N_BOOT, seed=7)
    width = slow[1] - slow[0]
    # the two draw different resamples: their ends agree within Monte-Carlo error (a few % of the width)
    assert fast.ci95[0] == pytest.approx(slow[0], abs=0.08 * width)
    assert fast.ci95[1] == pytest.approx(slow[1], abs=0.08 * width)
    # the seeds' spread widens the interval beyond what resampling items alone gives the mean model
    items_only = paired.paired_bootstrap(paired.weighted_mean(np.mean(a, 0)), paired.weighted_mean(np.mean(b, 0)),
                                         N_ITEMS, "accuracy")
    assert fast.ci95[1] - fast.ci95[0] > items_only.ci95[1] - items_only.ci95[0]


def _beats(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def test_p_better_counts_the_runs_of_a_that_beat_b() -> None:
    a = _generated([0.80, 0.70, 0.86], seed=3)
    b = _generated([0.72, 0.74, 0.74], seed=4)
    by_seed = hierarchical.across_seeds(_replicates(a, [0, 1, 2]), _replicates(b, [0, 1, 2]), "accuracy", n_boot=200)
    wins = [_beats(x.mean(), y.mean()) for x, y in zip(a, b, strict=True)]
    assert by_seed.p_better == pytest.approx(np.mean(wins))
    unpaired = hierarchical.across_seeds(_replicates(a, [0, 1, 2]), _replicates(b, [5, 6, 7]), "accuracy",
                                         n_boot=200)
    assert unpaired.p_better == pytest.approx(np.mean([_beats(x.mean(), y.mean()) for x in a for y in b]))
    assert 0 <= unpaired.p_better_ci95[0] <= unpaired.p_better <= unpaired.p_better_ci95[1] <= 1
    # lower is better (an error): the same runs, the other way round
    error = hierarchical.across_seeds(_replicates(a, [0, 1, 2]), _replicates(b, [0, 1, 2]), "error",
                                      higher_is_better=False, n_boot=200)
    assert error.p_better == pytest.approx(1 - np.mean(wins))


def test_one_seed_is_the_image_bootstrap_draw_for_draw() -> None:
    a, b = _generated([0.8], seed=5)[0], _generated([0.7], seed=6)[0]
    images = paired.paired_bootstrap(paired.weighted_mean(a), paired.weighted_mean(b), N_ITEMS, "accuracy",
                                     n_boot=500)
    one = hierarchical.across_seeds(_replicates([a], [0]), _replicates([b], [0]), "accuracy", n_boot=500)
    assert one.ci95 == pytest.approx(images.ci95, abs=1e-12)
    assert one.delta == pytest.approx(images.delta)
    # an untrained reference beside one seed: the same image bootstrap
    untrained = hierarchical.across_seeds(_replicates([a], [0]), _replicates([b], [None]), "accuracy", n_boot=500)
    assert untrained.pairing == "B untrained" and untrained.ci95 == pytest.approx(images.ci95, abs=1e-12)


def test_an_untrained_reference_pairs_with_every_seed() -> None:
    a = _generated([0.80, 0.70, 0.86], seed=8)
    b = _generated([0.75], seed=9)
    result = hierarchical.across_seeds(_replicates(a, [0, 1, 2]), _replicates(b, [None]), "accuracy", n_boot=300)
    assert result.pairing == "B untrained" and result.n_seeds == (3, 1)
    assert result.per_seed_b == {"–": pytest.approx(b[0].mean())}
    assert result.p_better == pytest.approx(np.mean([_beats(x.mean(), b[0].mean()) for x in a]))


def test_different_items_are_not_paired() -> None:
    a = _generated([0.8, 0.7], seed=10)
    b = _generated([0.7, 0.7], seed=11)
    shifted = [hierarchical.Replicate(s, np.arange(N_ITEMS) + 1, paired.weighted_mean(c))
               for s, c in zip([0, 1], b, strict=True)]
    assert hierarchical.across_seeds(_replicates(a, [0, 1]), shifted, "accuracy", n_boot=50).pairing == "unpaired"


def test_an_undefined_value_on_a_seed_is_undefined_not_a_loss():
    """A constant predictor's Pearson r is NaN: the mean, the Δ and P(A better) are undefined, not 0."""
    nan = hierarchical.Replicate(0, np.arange(N_ITEMS), lambda counts: float("nan"))
    fine = _replicates(_generated([0.8, 0.7], seed=12), [0, 1])
    result = hierarchical.across_seeds(fine, [nan, hierarchical.Replicate(1, np.arange(N_ITEMS), fine[0].value)],
                                       "pearson", n_boot=50)
    assert np.isnan(result.delta) and np.isnan(result.p_better) and all(np.isnan(result.ci95))
    assert all(np.isnan(result.p_better_ci95))
    assert all(np.isnan(hierarchical.interval([nan, fine[0]], n_boot=20)))
