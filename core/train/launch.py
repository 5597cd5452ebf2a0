"""The one place trainer processes start, whoever asks: a page's Train button, `prepare` and `resume`.

A trainer runs in a process of its own, in a new process group (Stop ends it and its workers), with its output
in the runs folder's logs/ and $TLDASH_JOB set, so that its runs wait their turn in the queue
(runstore.claim). The runs learn its process id before it starts on them: if it dies, they are failed, or, when
they had not begun, they wait for another process (runstore._reap)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.train.runstore import JOB_ENV, RunStore

ROOT = Path(__file__).resolve().parents[2]  # trainers are started as `python -m core...` from the project's root


def log_path(store: RunStore, run_ids: list[str], why: str) -> Path:
    """Where the process started for these runs writes: logs/WHY-FIRSTRUNID.log."""
    return store.folder / "logs" / f"{why}-{run_ids[0]}.log"


def start(cmd: list[str], run_ids: list[str], store: RunStore, why: str = "job") -> subprocess.Popen:
    """Start cmd for these queued runs and assign them to it; its output is appended to log_path(…)."""
    log = log_path(store, run_ids, why)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, JOB_ENV: "1"}, cwd=ROOT)
    store.assign(run_ids, proc.pid)
    return proc
