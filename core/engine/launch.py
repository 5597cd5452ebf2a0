"""The one place worker processes start, whoever asks: a page's Train button, `prepare` and `resume`.

The worker (`python -m core.worker --runs ID …`, core/worker.py) runs in a process of its own, in a new process
group (Stop ends it and its workers), with its output in the runs folder's logs/ and $TLDASH_JOB set, so that its
runs wait their turn in the queue. The runs learn its process id before it starts on them: if it dies, they are
failed, or, when they had not begun, they wait for another process (liveness.reap)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.engine.queue import JOB_ENV
from core.engine.store import RunStore
from core.files import RUNS_DIR_ENV

ROOT = Path(__file__).resolve().parents[2]  # the worker is started as `python -m core.worker` from the project's root
WORKER = "core.worker"  # a process's command line names a module: the one worker


def command(run_ids: list[str], force_cpu: bool = False) -> list[str]:
    return [sys.executable, "-m", WORKER, "--runs", *run_ids, *(["--cpu"] if force_cpu else [])]


def log_path(store: RunStore, run_ids: list[str], why: str) -> Path:
    """Where the process started for these runs writes: logs/WHY-FIRSTRUNID.log."""
    return store.folder / "logs" / f"{why}-{run_ids[0]}.log"


def launch(run_ids: list[str], store: RunStore, why: str = "job", force_cpu: bool = False) -> subprocess.Popen:
    """Start the worker for these queued runs and assign them to it; its output is appended to log_path(…)."""
    log = log_path(store, run_ids, why)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(command(run_ids, force_cpu), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, JOB_ENV: "1", RUNS_DIR_ENV: str(store.folder)}, cwd=ROOT)
    store.assign(run_ids, proc.pid)
    return proc
