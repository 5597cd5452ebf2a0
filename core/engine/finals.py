"""A run's final numbers with their 95% bootstrap CIs: how a trainer records them, how they are read back.

The transfer studies keep every test output and compute theirs from the run's file (their study's `finals`);
the others record theirs when they end, under the run's `final` metric (`record`): face detection its
validation AP over validation images, face verification its test AUC over test people, YOLO its last
checkpoint's test AP50 over test images. A run that kept neither has no final numbers; nothing is run again."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.engine.store import Run


@dataclass(frozen=True)
class Final:
    name: str  # "test mCA"
    value: float
    low: float  # the 95% CI; nan when the run gave no interval
    high: float
    over: str  # what was resampled: "229 test images"

    def text(self) -> str:
        if not math.isfinite(self.value):
            return "–"
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def as_dict(self) -> dict:
        """JSON-ready: a missing end is null (JSON has no nan)."""
        return {"value": _json(self.value), "ci95": [_json(self.low), _json(self.high)], "over": self.over}


def _json(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _float(v: object) -> float:
    return math.nan if v is None else float(v)


def record(name: str, value: float, ci: tuple[float, float], over: str) -> dict:
    """One entry of a run's `final` metric, as a trainer notes it: {name: {value, ci95, over}}."""
    return {name: Final(name, float(value), float(ci[0]), float(ci[1]), over).as_dict()}


def recorded(run: Run, n_boot: int = 0) -> list[Final]:
    """The final numbers a trainer recorded, CIs and all (empty for a run that has not finished or recorded none);
    n_boot is not used: the trainer resampled when the run ended."""
    if run.status != "done":
        return []
    out = []
    for name, entry in (run.metrics.get("final") or {}).items():
        try:
            low, high = (_float(v) for v in entry.get("ci95") or (None, None))
            out.append(Final(str(name), _float(entry["value"]), low, high, str(entry.get("over", ""))))
        except (AttributeError, KeyError, TypeError, ValueError):  # a hand-edited or damaged entry: left out
            continue
    return out


def table(runs: list[Run], finals: dict[str, list[Final]]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Final number × run ("0.943 [0.921, 0.962]", "–" where a run lacks it), as {name: {run title: text}};
    and what each CI resampled, once per kind."""
    names = list(dict.fromkeys(f.name for r in runs for f in finals.get(r.id, [])))
    cells = {n: {r.title: next((f.text() for f in finals.get(r.id, []) if f.name == n), "–") for r in runs}
             for n in names}
    overs = list(dict.fromkeys(f.over for r in runs for f in finals.get(r.id, []) if f.over))
    return cells, overs
