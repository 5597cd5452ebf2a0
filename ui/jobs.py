"""Training jobs started from a page: their own process (and process group), a shared log, polled by pid."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def log_path() -> Path:
    return Path(os.environ.get("TLDASH_RUNS_DIR", "runs")) / "training.log"


def launch(cmd: list[str]) -> int:
    """Start cmd in a new session, output appended to the training log; its pid."""
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc.pid


def alive(pid: int) -> bool:
    """Whether the job still runs (reaping it when it has ended)."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return finished == 0


def stop(pid: int) -> None:
    """SIGTERM to the job's process group: the trainers mark their run stopped and exit."""
    os.killpg(pid, signal.SIGTERM)


def last_error() -> str:
    """The last "error: …" line a trainer wrote to the log, without its prefix; "" if none."""
    log = log_path()
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return errors[-1].removeprefix("error: ") if errors else ""
