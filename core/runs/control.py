"""Stopping, pausing and resuming the runs in progress, whoever started them (a page, `prepare`, `resume`).

A running run is stopped as a page's Stop does it: SIGTERM to its process, which marks it stopped at its next step
(keeping its last checkpoint) and removes the queued runs after it in that process. A queued run whose process is
busy with another run is removed from the queue alone; one whose process only waits is stopped with its process.
Pause is SIGSTOP to the processes of the runs in progress (their runs keep their state), resume is SIGCONT.
`python -m core.runs stop RUN|--all`, `pause` and `resume` call these; so does the Home page."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.engine import estimates, liveness
from core.engine.store import LIVE, Run, RunStore


def _signal(pid: int, sig: int) -> bool:
    """Signal the process's group when it leads one (a worker the app started), else the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_process(pid: int) -> bool:
    """SIGTERM to a training process (its group), then SIGCONT so that a paused one runs on to stop; whether it was
    there. The one way every Stop reaches a process: a page's, Home's, the CLI's."""
    if not _signal(pid, signal.SIGTERM):
        return False
    _signal(pid, signal.SIGCONT)
    return True


def _alive(run: Run) -> bool:
    return run.pid is not None and liveness.alive(run.pid, None)  # the store reaps runs whose pid was reused


def stop(store: RunStore, run_ids: list[str] | None = None) -> list[str]:
    """Stop these runs (None: every run in progress); one line per run saying what was done. KeyError for an
    unknown id, before anything is stopped."""
    live = [r for r in store.list() if r.status in LIVE]
    targets = live if run_ids is None else [store.get(i) for i in run_ids]
    lines, signalled = [], set()
    for run in targets:
        if run.status not in LIVE:
            lines.append(f"{run.id}: already {run.status}")
            continue
        busy_elsewhere = run.status == "queued" and any(o.status == "running" and o.pid == run.pid and o.id != run.id
                                                        for o in live)
        if run.status == "queued" and (not _alive(run) or busy_elsewhere):
            store.discard(run.id)
            lines.append(f"{run.id}: removed from the queue (it had not started)")
        elif run.pid in signalled or (stop_process(run.pid) and signalled.add(run.pid) is None):
            how = "it keeps its last checkpoint" if run.status == "running" else "removed, it had not started"
            lines.append(f"{run.id}: stopping ({how})")
        else:
            lines.append(f"{run.id}: its process {run.pid} is gone; the app marks it")
    return lines


def _processes(store: RunStore) -> set[int]:
    return {r.pid for r in store.list() if r.status in LIVE and r.pid is not None and _alive(r)}


def pause(store: RunStore) -> int:
    """SIGSTOP to the processes of the runs in progress: how many were paused."""
    return sum(_signal(pid, signal.SIGSTOP) for pid in _processes(store))


def resume(store: RunStore) -> int:
    return sum(_signal(pid, signal.SIGCONT) for pid in _processes(store))


def paused(store: RunStore) -> bool:
    """Whether the processes of the runs in progress are paused (any of them)."""
    for pid in _processes(store):
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
                return True
    return False


@dataclass(frozen=True)
class Progress:
    """The runs in progress as one batch: how many are done, how far the running ones are, and the time left."""

    total: int  # runs in this batch: the ones in progress and those finished since the oldest of them was queued
    done: int
    fraction: float  # of the batch's work, counting the running runs' epochs
    seconds_left: float | None  # None when a run in progress has no estimate yet
    unknown: int  # runs in progress without an estimate (never run on this machine, no epoch yet)


REFERENCE = Path(__file__).with_name("reference_times.json")  # written by `python -m bench prepare`


def reference() -> dict[str, float]:
    """Seconds each prepared run took in the bench's last measured preparation ({"experiment/strategy": s}); {}
    when the file is missing or unreadable."""
    try:
        return {str(k): float(v) for k, v in json.loads(REFERENCE.read_text())["runs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def reference_key(run: Run) -> str:
    return f"{run.experiment}/{run.config.get('strategy') or run.config.get('start')}"


def _scale(finished: list[Run], ref: dict[str, float]) -> float:
    """How much slower (> 1) or faster this machine is than the bench's, from the runs of this batch that finished."""
    ratios = [r.seconds / ref[reference_key(r)] for r in finished
              if r.status == "done" and ref.get(reference_key(r), 0) > 1 and r.seconds > 0]
    return statistics.median(ratios) if ratios else 1.0


def _left(run: Run, now: float, ref: dict[str, float], scale: float) -> float | None:
    """A run's time left: its own pace once it is under way (epochs and the images of the current one), else this
    machine's past runs of its settings, else the bench's reference time scaled by this machine's pace in this batch
    (less the time it has been running)."""
    epochs = int(run.config.get("epochs", 0) or 0)
    spent = now - (run.started or now) if run.status == "running" else 0.0
    if run.status == "running" and epochs:
        own = estimates.from_pace(spent, estimates.fraction_done(run.history, run.metrics.get("phase"), epochs))
        if own is not None and (run.history or spent > 20):  # a few seconds of reading data is no pace yet
            return own
    past = estimates.past_seconds(run.experiment, run.config)
    if past is not None:
        return max(past[0] - spent, 0.0)
    if reference_key(run) in ref:
        return max(ref[reference_key(run)] * scale - spent, 0.0)
    return None


def progress(store: RunStore, now: float | None = None) -> Progress | None:
    """None when nothing is in progress."""
    now = now or time.time()
    runs = store.list()
    live = [r for r in runs if r.status in LIVE]
    if not live:
        return None
    since = min(r.created for r in live)
    finished = [r for r in runs if r.status not in LIVE and r.updated >= since]  # ended since the batch began
    partial = 0.0
    for r in live:
        epochs = int(r.config.get("epochs", 0) or 0)
        if r.status == "running" and epochs:
            partial += min(len(r.history) / epochs, 1.0)
    total = len(live) + len(finished)
    ref = reference()
    scale = _scale(finished, ref)
    left = [_left(r, now, ref, scale) for r in live]
    known = [x for x in left if x is not None]
    return Progress(total, len(finished), (len(finished) + partial) / total,
                    sum(known) if len(known) == len(left) else None, len(left) - len(known))
