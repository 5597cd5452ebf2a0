"""Whether the process that took a run is still there; runs whose process has gone are failed, or (when they
had not begun) left waiting for another process: the queue outlives a crash or a reboot."""

from __future__ import annotations

import socket
import sqlite3
import time

import psutil

from core import numbers

ORPHANED = ("waiting for a process: the one that queued it ended before it started; the app starts another within "
            "seconds while a page is open, or `python -m core.runs resume`")
ADOPTED = "waiting for a process: one is starting"
RESUMES = 3  # a queued run whose process keeps ending before it begins is failed after this many resumes


def process_started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(pid: int, started: float | None) -> bool:
    """The process that took the run is still there (a reused pid or a zombie does not count)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False


def resumed(metrics: str) -> int:
    """How often a queued run was resumed, from its stored metrics (0 when they do not say, or do not parse)."""
    try:
        value = numbers.loads(metrics).get("resumed")
    except (ValueError, AttributeError):
        return 0
    return numbers.count(value, 0)


def merged(metrics: str, **values: object) -> str:
    """Stored metrics with these top-level entries set; metrics that do not parse are replaced by them alone."""
    try:
        current = numbers.loads(metrics)
    except ValueError:
        current = {}
    return numbers.dumps({**(current if isinstance(current, dict) else {}), **values})


def reap(con: sqlite3.Connection) -> None:
    """Runs of this machine whose process has gone without finishing them. One that had started is failed,
    saying so; one still waiting in the queue stays queued, without a process (an orphan, see `adopt`): the
    queue outlives a crash or a reboot of the machine, as it outlives a restart of the app."""
    rows = con.execute("SELECT id, pid, pid_started, status, started, metrics FROM runs WHERE status IN "
                       "('queued', 'running') AND pid IS NOT NULL AND host = ?", (socket.gethostname(),)).fetchall()
    for run_id, pid, pid_started, status, started, metrics in rows:
        if alive(pid, pid_started):
            continue
        times = resumed(metrics)
        if status == "queued" and started is None and times >= RESUMES:
            con.execute("UPDATE runs SET status = 'failed', message = ?, updated = ? WHERE id = ?",
                        (f"process {pid} ended before the run began, after {times} resume(s): see the "
                         "trainer's log in the runs folder's logs/", time.time(), run_id))
        elif status == "queued" and started is None:
            con.execute("UPDATE runs SET pid = NULL, pid_started = NULL, message = ?, updated = ? WHERE id = ?",
                        (ORPHANED, time.time(), run_id))
        else:
            con.execute("UPDATE runs SET status = 'failed', message = ?, updated = ? WHERE id = ?",
                        (f"process {pid} ended without finishing", time.time(), run_id))
