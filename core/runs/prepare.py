"""Ready for a talk: the default fine-tuned variant of every study, trained once on this machine.

`python -m core.runs prepare` queues what is missing and trains it in the foreground, printing progress (the
`make prepare` target); with --background it starts the training processes and returns (`make run` does this
first, so a fresh install fills its pages while the app is already in use). Everything goes through the run
queue (one run at a time on the CPU), so the pages and the Runs page show it like any other run; a study whose
default run is already done, queued or running is left alone, so running this again costs nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from core import tasks
from core.train import estimates
from core.train import launch as launcher
from core.train.runstore import LIVE, RunStore

_PROCS: dict[int, subprocess.Popen] = {}  # the trainers this process started, for wait()


@dataclass(frozen=True)
class Default:
    """One study's default run(s): how to queue them, and the trainer that carries them out."""
    study: str
    experiment: str
    queue: Callable[[RunStore], list[str]]
    configs: Callable[[], list[dict]] = lambda: []  # the stored configs, to tell whether they exist already

    @property
    def trainer(self) -> tuple[str, str]:
        """The trainer's module and how it takes queued run ids (--runs; MTCNN's takes one: --run)."""
        module, flag = tasks.get(self.experiment).trainer.split()
        return module, flag


def _transfer(task: str) -> Default:
    from core.experiments import transfer as tx
    from core.train import transfer

    cfg = tx.quick_config(task)
    dataset = tasks.get(task).default_dataset

    def configs() -> list[dict]:
        return [transfer.run_config(dataset, transfer._checked(dataset, cfg), cfg)]
    from core.runs import study_title

    return Default(study_title(task), task, lambda store: transfer.queue(dataset, [cfg], store), configs=configs)


def _face_detection() -> Default:
    from core.train import mtcnn

    cfg = mtcnn.MTCNNConfig(stages=("pnet",))
    return Default("Face detection", "face_detection", lambda store: [mtcnn.queue(cfg, store)],
                   configs=lambda: [cfg.to_dict()])


def _face_verification() -> Default:
    from core.train import verification as fv

    runs = [fv.recipe(fv.quick_config(), fv.EmbedConfig(), "phase2")]
    return Default("Face verification", "face_verification",
                   lambda store: fv.queue(fv.DEFAULT_DATASET, runs, store),
                   configs=lambda: [fv.run_config(fv.DEFAULT_DATASET, c, e) for c, e in runs])


def _object_detection() -> Default:
    from core.train import yolo

    cfg = replace(yolo.QUICK, dataset=yolo.DEFAULT_DATASET)  # the page compares two starts: both are trained

    def configs() -> list[dict]:
        stored = {k: v for k, v in asdict(cfg).items() if k != "source"}  # the source is resolved when queued
        return [{**stored, "start": s} for s in yolo.STARTS]
    return Default("Object detection (YOLO)", "object_detection", lambda store: yolo.queue_pair(cfg, store),
                   configs=configs)


def defaults() -> list[Default]:
    """Cheapest first, so that the first pages fill soon."""
    return [_face_detection(), _transfer("classification"), _face_verification(), _transfer("regression"),
            _object_detection()]


def prepared(item: Default, store: RunStore) -> bool:
    """Whether the study's default run(s) are done here, or queued or running."""
    runs = [r for r in store.list() if r.experiment == item.experiment and (r.status == "done" or r.status in LIVE)]
    return all(any(estimates._same(r, cfg) for r in runs) for cfg in item.configs())


def queue_missing(store: RunStore, only: list[str] | None = None) -> list[tuple[Default, list[str]]]:
    """Queue the default runs of each study that lacks them (or of `only` those experiments): (study, run ids)."""
    store.check_writable()
    return [(item, item.queue(store)) for item in defaults()
            if (not only or item.experiment in only) and not prepared(item, store)]


def launch(item: Default, ids: list[str], store: RunStore, why: str = "prepare") -> subprocess.Popen:
    """The study's trainer for its queued runs, in a process of its own that outlives the caller and waits its
    turn in the run queue; its output goes to runs/logs/."""
    module, flag = item.trainer
    return launcher.start([sys.executable, "-m", module, flag, *(ids if flag == "--runs" else ids[:1])], ids, store,
                          why)


def resume(store: RunStore | None = None) -> list[tuple[str, list[str], int]]:
    """Start a trainer for the queued runs whose process ended before they started (a crash, a reboot): one
    process per study (per run for MTCNN's, which takes one), started in the order the runs were queued, so
    they keep their places in line. (experiment, run ids, process id) for each started."""
    store = store or RunStore()
    adopted = store.adopt()
    groups: dict[str, list[str]] = {}
    for run in adopted:
        task = tasks.TASKS.get(run.experiment)
        one = task is not None and task.trainer.endswith("--run")  # a trainer that takes one run at a time
        groups.setdefault(f"{run.experiment}/{run.id}" if one else run.experiment, []).append(run.id)
    started = []
    for key, ids in groups.items():
        experiment = key.split("/")[0]
        task = tasks.TASKS.get(experiment)
        if task is None or not task.trainer:  # a run of a study this version cannot train: left waiting
            store.disown(ids)
            continue
        try:
            proc = launch(Default(experiment, experiment, lambda _: []), ids, store, "resume")
        except OSError:
            store.disown(ids)
            continue
        _PROCS[proc.pid] = proc
        started.append((experiment, ids, proc.pid))
    return started


def start(store: RunStore | None = None, only: list[str] | None = None) -> list[tuple[Default, list[str], int]]:
    """Queue each missing default and start its trainer: (study, run ids, process id) for each started."""
    store = store or RunStore()
    started = []
    for item, ids in queue_missing(store, only):
        proc = launch(item, ids, store)
        _PROCS[proc.pid] = proc
        started.append((item, ids, proc.pid))
    return started


def wait(started: list[tuple[Default, list[str], int]], store: RunStore, every: float = 15.0,
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
    ok = len(done) == len(ids)
    say(f"{'prepared' if ok else 'not all prepared'}: {len(done)} of {len(ids)} runs done in "
        f"{time.time() - begun:,.0f} s" + ("" if ok else "; `python -m core.runs list` says why"))
    return ok
