"""The result every experiment returns: per-variant metrics and the paired comparisons between them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.metrics.paired import Paired


@dataclass(frozen=True)
class Comparison:
    experiment: str
    dataset: str
    device: str
    variants: dict[str, dict[str, float]]  # variant name -> metric name -> value
    comparisons: list[tuple[str, str, Paired]] = field(default_factory=list)  # (a, b, paired result)
    extra: dict = field(default_factory=dict)  # experiment-specific, JSON-ready

    def as_json(self) -> dict:
        """JSON-ready; undefined numbers (a correlation of constant predictions) become null."""
        return _finite({"experiment": self.experiment, "dataset": self.dataset, "device": self.device,
                "variants": self.variants, "comparisons": [c.as_dict(a, b) for a, b, c in self.comparisons],
                **self.extra})


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
