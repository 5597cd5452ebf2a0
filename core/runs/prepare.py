"""Ready for a talk: every study's compared settings (the fine-tuned variant and its baselines: scratch and frozen
for transfer, phase 1 for verification, both YOLO starts), trained once on this machine, seed 0.

`python -m core.runs prepare` queues what is missing and trains it in the foreground, printing progress (the
`make prepare` target); with --background it starts the training processes and returns (`make run` does this
first, so a fresh install fills its pages while the app is already in use). Everything goes through the run
queue (one run at a time on the CPU), so the pages and the Runs page show it like any other run; a study whose
default run is already done, queued or running is left alone, so running this again costs nothing."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from core.engine import estimates, replicates, seeding
from core.engine import launch as launcher
from core.engine.store import LIVE, RunStore
from core.engine.study import Study
from core.experiments import seeds as across
from core.studies import index

_PROCS: dict[int, subprocess.Popen] = {}  # the workers this process started, for wait()


def defaults() -> list[Study]:
    """The studies prepare trains a default run of, in the list's order (cheapest first)."""
    return [s for s in index.STUDIES if s.defaults()]


def prepared_default(study: Study, runs: list) -> bool:
    """Whether the study's default run(s) are among these, done, queued or running."""
    runs = [r for r in runs if r.experiment == study.name and (r.status == "done" or r.status in LIVE)]
    return all(any(estimates._same(r, cfg) for r in runs) for cfg in study.prepared())


def prepared(study: Study, store: RunStore) -> bool:
    """Whether the study's default run(s) and the baselines its page compares them with are done here, or queued or
    running."""
    runs = store.list()
    return prepared_default(study, runs) and \
        not [c for cfg in across.settings_for(study) for c in replicates.missing(study, cfg, 1, runs)]


def queue_missing(store: RunStore, only: list[str] | None = None, seeds: int = 1) -> list[tuple[Study, list[str]]]:
    """Queue the default runs of each study that lacks them (or of `only` those studies): (study, run ids). With
    seeds N > 1: the settings each study compares across seeds (core.experiments.seeds), each with the seeds 0 … N-1
    it lacks."""
    store.check_writable()
    chosen = [s for s in defaults() if not only or s.name in only]
    if seeds == 1:  # the default first (its page fills soonest), then the baselines it is compared with
        found = []
        for study in chosen:
            if prepared(study, store):
                continue
            runs, ids = store.list(), []
            if not prepared_default(study, runs):
                ids += [i for cfg in study.defaults() for i in study.queue(cfg, store)]
                runs = store.list()
            ids += [i for cfg in across.settings_for(study) for c in replicates.missing(study, cfg, 1, runs)
                    for i in study.queue(c, store)]
            found.append((study, ids))
        return found
    found = []
    for study in chosen:
        ids = [i for cfg in across.settings_for(study) for c in replicates.missing(study, cfg, seeds, store.list())
               for i in study.queue(c, store)]
        if ids:
            found.append((study, ids))
    return found


def resume(store: RunStore | None = None) -> list[tuple[str, list[str], int]]:
    """Start the worker for the queued runs whose process ended before they started (a crash, a reboot): one
    process per study, started in the order the runs were queued, so they keep their places in line. A run of a
    study this version does not know is left waiting. (study, run ids, process id) for each started."""
    store = store or RunStore()
    groups: dict[str, list[str]] = {}
    for run in store.adopt():
        groups.setdefault(run.experiment, []).append(run.id)
    started = []
    for name, ids in groups.items():
        if index.find(name) is None:
            store.disown(ids)
            continue
        try:
            proc = launcher.launch(ids, store, "resume")
        except OSError:
            store.disown(ids)
            continue
        _PROCS[proc.pid] = proc
        started.append((name, ids, proc.pid))
    return started


def start(store: RunStore | None = None, only: list[str] | None = None, seeds: int = 1
          ) -> list[tuple[Study, list[str], int]]:
    """Queue each missing default (with N seeds: see queue_missing) and start the worker for it: (study, run ids,
    process id) for each started."""
    store = store or RunStore()
    started = []
    for study, ids in queue_missing(store, only, seeding.check_count(seeds)):
        proc = launcher.launch(ids, store, "prepare")
        _PROCS[proc.pid] = proc
        started.append((study, ids, proc.pid))
    return started


def wait(started: list[tuple[Study, list[str], int]], store: RunStore, every: float = 15.0,
         say: Callable[[str], None] = print) -> bool:
    """Follow started runs to their end, saying how far they are every `every` seconds; whether all are done."""
    ids = [i for _, run_ids, _ in started for i in run_ids]
    begun = time.time()
    while True:
        runs = {r.id: r for r in store.list() if r.id in ids}
        live = [r for r in runs.values() if r.status in LIVE]
        done = [r for r in runs.values() if r.status == "done"]
        if not live:
            break
        current = next((r for r in live if r.status == "running"), live[0])
        say(f"{time.time() - begun:5.0f} s · {len(done)} of {len(ids)} runs done · now "
            f"{current.experiment} ({current.status}, epoch {len(current.history)})")
        deadline = time.time() + every
        while time.time() < deadline and any(p.poll() is None for p in _PROCS.values()):
            time.sleep(0.5)
    for proc in _PROCS.values():  # each worker keeps its studies' evidence for the pages before it ends
        proc.wait()
    ok = len(done) == len(ids)
    say(f"{'prepared' if ok else 'not all prepared'}: {len(done)} of {len(ids)} runs done in "
        f"{time.time() - begun:,.0f} s" + ("" if ok else "; `python -m core.runs list` says why"))
    return ok
