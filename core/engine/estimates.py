"""How long a run will take, from this machine's own past runs of the same config (never a figure written in
advance, which is off by whatever the machine is), and how long the running one has left."""

from __future__ import annotations

import statistics
from collections.abc import Mapping

from core.engine.store import Run, RunStore

# what makes two runs' durations comparable: everything but names, seeds and the learning rate
IGNORED = frozenset({"seed", "lr", "strategy_config", "labels", "target_name", "workers", "label"})


def _same(run: Run, config: Mapping) -> bool:
    return all(_norm(run.config.get(k)) == _norm(v) for k, v in config.items() if k not in IGNORED)


def _norm(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def past_seconds(experiment: str, config: Mapping, store: RunStore | None = None) -> tuple[float, int] | None:
    """(median wall seconds from start to end, time waiting in a queue left out, how many runs) of the finished
    runs of this experiment with this config; None when there is none to go by."""
    runs = [r for r in (store or RunStore()).list("done") if r.experiment == experiment and _same(r, config)]
    if not runs:
        return None
    return statistics.median(r.seconds for r in runs), len(runs)


def total(estimates: list[tuple[float, int] | None]) -> float | None:
    """The sum of several runs' estimates, or None when any is unknown."""
    return None if any(e is None for e in estimates) else sum(e[0] for e in estimates)  # type: ignore[index]


def remaining(history: list[dict], epochs: int) -> float | None:
    """Seconds left for a running run: its mean epoch time so far times the epochs still to come."""
    if not history or epochs <= len(history):
        return None
    return statistics.fmean(float(h.get("seconds", 0.0)) for h in history) * (epochs - len(history))


def fraction_done(history: list[dict], phase: Mapping | None, epochs: int) -> float:
    """How far a running run is, from its finished epochs and the images of the current epoch done so far (a
    "training, epoch k of n" phase, core.engine.loop)."""
    within = 0.0
    if phase and str(phase.get("name", "")).startswith("training, epoch") and phase.get("total"):
        within = min(float(phase.get("done") or 0) / float(phase["total"]), 1.0)
    return min((len(history) + within) / max(epochs, 1), 1.0)


def from_pace(seconds_running: float, fraction: float) -> float | None:
    """Time left at this run's own measured pace: what it took so far for what it has done; None before there is
    a pace to go by (under 2 % done)."""
    if fraction < 0.02 or seconds_running <= 0:
        return None
    return seconds_running * (1.0 - fraction) / fraction


def words(seconds: float) -> str:
    """"about 40 s", "about 3 min"."""
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"


def phase_words(phase: Mapping) -> str:
    """A phase as a status line: "mining PNet's hard negatives (12 of 40)"."""
    total = int(phase.get("total") or 0)
    return f"{phase['name']} ({int(phase.get('done') or 0)} of {total})" if total else str(phase["name"])
