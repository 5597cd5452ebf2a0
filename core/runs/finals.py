"""A finished run's final numbers with their 95% bootstrap CIs, for the Runs page's comparison and its report.

The transfer studies keep every test output, so their numbers are computed here from the run's file (mCA and
macro F1; Pearson, Spearman and MAE), resampling test images. The other trainers record theirs when they
end, under the run's `final` metric (see `record`): face detection its validation AP over validation images,
face verification its test AUC over test people, YOLO its last checkpoint's test AP50 over test images.
A run that kept neither has no final numbers; nothing is run again."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core import tasks
from core.metrics import paired
from core.train.runstore import Run

N_BOOT = 1000  # resamples: a percentile CI's ends settle to about ±0.005 here, and the page stays quick
SEED = 0


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


def bootstrap(metrics, n: int, n_boot: int = N_BOOT) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """The metrics on every unit (all counts one) and their percentile CIs over n resampled units."""
    return metrics(np.ones(n, np.int64)), paired.bootstrap_cis(metrics, n, n_boot, SEED)


def ci(metric, n: int, n_boot: int = N_BOOT) -> tuple[float, float]:
    """The percentile CI of one metric of per-unit draw counts (an AP of counts, say) over n resampled units."""
    return paired.bootstrap_cis(lambda counts: {"m": metric(counts)}, n, n_boot, SEED)["m"]


LABELS = {"mF1": "macro F1", "pearson": "Pearson r", "spearman": "Spearman ρ"}  # metric key: how the table names it


def _transfer(run: Run, n_boot: int) -> list[Final]:
    from core.experiments import transfer as tx
    from core.metrics import classification, regression

    try:
        o = tx.outcome(run)
    except ValueError:
        return []
    if run.experiment == "classification":
        summary = classification.summary_of_counts(o.targets, o.predicted, [str(c) for c in run.config.get("labels")
                                                                              or []])
    else:
        summary = regression.summary_of_counts(o.targets, o.predicted)
    if len(o.targets) < 2:
        return []
    values, cis = bootstrap(summary, len(o.targets), n_boot)
    over = f"{len(o.targets):,} test images"
    return [Final(f"test {LABELS.get(key, key)}", float(values[key]), *cis[key], over)
            for key in tasks.get(run.experiment).final_metrics]


def _recorded(run: Run) -> list[Final]:
    out = []
    for name, entry in (run.metrics.get("final") or {}).items():
        try:
            low, high = (_float(v) for v in entry.get("ci95") or (None, None))
            out.append(Final(str(name), _float(entry["value"]), low, high, str(entry.get("over", ""))))
        except (AttributeError, KeyError, TypeError, ValueError):  # a hand-edited or damaged entry: left out
            continue
    return out


def of(run: Run, n_boot: int = N_BOOT) -> list[Final]:
    """The run's final numbers with CIs (empty for a run that has not finished or kept nothing to score)."""
    if run.status != "done":
        return []
    task = tasks.TASKS.get(run.experiment)
    if task is not None and task.final_metrics and "final" not in run.metrics:
        return _transfer(run, n_boot)
    return _recorded(run)


def table(runs: list[Run], finals: dict[str, list[Final]]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Final number × run ("0.943 [0.921, 0.962]", "–" where a run lacks it), as {name: {run title: text}};
    and what each CI resampled, once per kind."""
    names = list(dict.fromkeys(f.name for r in runs for f in finals.get(r.id, [])))
    cells = {n: {r.title: next((f.text() for f in finals.get(r.id, []) if f.name == n), "–") for r in runs}
             for n in names}
    overs = list(dict.fromkeys(f.over for r in runs for f in finals.get(r.id, []) if f.over))
    return cells, overs
