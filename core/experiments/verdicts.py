"""One sentence per comparison, written from its Δ and 95% CI only: what the interval supports, and no more.

"Clearly better" only when the CI excludes 0 on the side of a gain; "no clear difference" when it crosses 0;
"clearly worse" when it excludes 0 on the other side. The baseline is named; a metric where lower is better (MAE,
EER) counts a negative Δ as the gain. Across seeds the sentence says how many seeds and P(A better); from one
training run it says that another seed could move it. The pages show these under their tables.
"""

from __future__ import annotations

import math

ONE_RUN = "; one training run each, so another seed could move it."  # the image bootstrap, or one seed across seeds


def _defined(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def strength(delta: float | None, ci95: tuple[float | None, float | None] | None, lower_is_better: bool = False
             ) -> str:
    """The verdict in a few words: "clearly better", "clearly worse", "no clear difference" or "undefined"."""
    if ci95 is None or not _defined(delta, *ci95):
        return "undefined"
    lo, hi = ci95
    if (hi < 0) if lower_is_better else (lo > 0):
        return "clearly better"
    if (lo > 0) if lower_is_better else (hi < 0):
        return "clearly worse"
    return "no clear difference"


def sentence(metric: str, a: str, b: str, delta: float | None, ci95: tuple[float | None, float | None] | None,
             lower_is_better: bool = False, seeds: tuple[int, int] | None = None, pairing: str = "",
             p_better: float | None = None) -> str:
    """The verdict on A against the baseline B. seeds: (A's, B's) for an across-seed comparison, None for one run
    per variant (the image bootstrap); pairing as core.metrics.hierarchical names it ("B untrained": B has no seed)."""
    said_in_words = strength(delta, ci95, lower_is_better)
    if said_in_words == "undefined":
        return f"{a} against {b} on {metric}: undefined (a compared value is), so no verdict."
    lo, hi = ci95  # type: ignore[misc]
    numbers = f"Δ {delta:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}"
    gain_side, loss_side = said_in_words == "clearly better", said_in_words == "clearly worse"
    if gain_side:
        said = f"{a} is clearly better than {b} on {metric} ({numbers})"
    elif loss_side:
        said = f"{a} is clearly worse than {b} on {metric} ({numbers})"
    else:
        said = f"No clear difference between {a} and {b} on {metric}: the interval crosses 0 ({numbers})"
    if seeds is None:
        return said + ONE_RUN
    trained = [n for n, side in zip(seeds, "AB", strict=True) if pairing != f"{side} untrained"]
    if not trained or min(trained) < 2:
        return said + ONE_RUN
    each = (f"{trained[0]} seeds" if len(trained) == 1 else f"{seeds[0]} seeds each" if seeds[0] == seeds[1]
            else f"{seeds[0]} and {seeds[1]} seeds")
    odds = f", P({a} better) {p_better:.2f}" if _defined(p_better) else ""
    return said + f"; holds over {each} and the test images{odds}." if gain_side or loss_side else \
        said + f"; over {each} and the test images{odds}."
