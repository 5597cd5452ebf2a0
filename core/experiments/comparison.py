"""The result every experiment returns: per-variant metrics and the paired comparisons between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from core import numbers
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
        return numbers.public({"experiment": self.experiment, "dataset": self.dataset, "device": self.device,
                "variants": self.variants, "comparisons": [c.as_dict(a, b) for a, b, c in self.comparisons],
                **self.extra})

