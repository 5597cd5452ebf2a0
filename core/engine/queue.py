"""The cross-process queue: runs wait their turn in the order they were queued, as many at once as
max_running() allows; a run whose process ended before it began is adopted by a new one (resume)."""

from __future__ import annotations

import os
import socket
import time

import torch

from core.engine import liveness
from core.engine.rows import Run

MAX_RUNNING_ENV = "TLDASH_MAX_RUNNING"
JOB_ENV = "TLDASH_JOB"  # set in the processes pages start: their runs wait their turn


def max_running() -> int:
    """How many runs may train at once: $TLDASH_MAX_RUNNING, else one per GPU, else one on the CPU."""
    if os.environ.get(MAX_RUNNING_ENV, "").strip():
        value = int(os.environ[MAX_RUNNING_ENV])
        if value < 1:
            raise ValueError(f"${MAX_RUNNING_ENV} must be 1 or more, not {value}")
        return value
    return max(torch.cuda.device_count(), 1)


class Queue:
    """The run store's queue side (mixed into RunStore)."""

    def assign(self, run_ids: list[str], pid: int) -> None:
        """The process that will run these queued runs: if it dies while running one, that run is marked failed;
        the runs it had not started yet wait for another (see liveness.reap)."""
        started = liveness.process_started(pid)
        with self._db() as con:
            con.executemany("UPDATE runs SET pid = ?, pid_started = ?, host = ?, updated = ?, message = CASE WHEN "
                            "message IN (?, ?) THEN '' ELSE message END WHERE id = ?",
                            [(pid, started, socket.gethostname(), time.time(), liveness.ORPHANED, liveness.ADOPTED, i)
                             for i in run_ids])

    def adopt(self) -> list[Run]:
        """The orphaned queued runs (their process ended before they started), oldest first, taken on by the
        caller: no other caller gets them. The caller starts a process for them and `assign`s it, or `disown`s
        them again."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            liveness.reap(con)
            found = con.execute("SELECT id, metrics FROM runs WHERE status = 'queued' AND pid IS NULL AND message = ? "
                                "ORDER BY created, id", (liveness.ORPHANED,)).fetchall()
            ids = [run_id for run_id, _ in found]
            con.executemany("UPDATE runs SET message = ?, metrics = ? WHERE id = ?",
                            [(liveness.ADOPTED, liveness.merged(metrics, resumed=liveness.resumed(metrics) + 1), run_id)
                             for run_id, metrics in found])
        return [self.get(i) for i in ids]

    def disown(self, run_ids: list[str]) -> None:
        """Adopted runs whose process could not be started: orphans again, for the next `adopt`."""
        with self._db() as con:
            con.executemany("UPDATE runs SET message = ? WHERE id = ? AND status = 'queued' AND pid IS NULL",
                            [(liveness.ORPHANED, i) for i in run_ids])

    def claim(self, run_id: str, limit: int) -> int:
        """Take a slot for a queued run: 0 when it may start now (fewer than `limit` runs are running and it is
        the first in line), else its place in the queue (1: next). Runs wait in the order they were created; only
        runs a process has taken on (assign), and this one, are in line. Atomic across processes."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            liveness.reap(con)
            running = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            line = [r[0] for r in con.execute("SELECT id FROM runs WHERE status = 'queued' AND (pid IS NOT NULL "
                                               "OR id = ?) ORDER BY created, id", (run_id,))]
            place = line.index(run_id) + 1 if run_id in line else 1
            if running < limit and place == 1:
                now = time.time()
                con.execute("UPDATE runs SET status = 'running', started = ?, updated = ? WHERE id = ?",
                            (now, now, run_id))
                return 0
            return place

    def queue_line(self) -> list[Run]:
        """The runs waiting for a slot, first in line first."""
        return sorted((r for r in self.list("queued") if r.pid is not None), key=lambda r: (r.created, r.id))

    def wait_for_slot(self, run_id: str, limit: int | None = None, poll: float = 1.0) -> None:
        """Block until this run may start (see claim); its place in line is kept in its metrics meanwhile.
        KeyboardInterrupt (Stop) while waiting removes the run: it never started."""
        limit = limit or max_running()
        shown = None
        try:
            while place := self.claim(run_id, limit):
                if place != shown:
                    with self._db() as con:  # the rest of its metrics (how often it was resumed) stays
                        con.execute("BEGIN IMMEDIATE")
                        stored = con.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
                        if stored is not None:
                            con.execute("UPDATE runs SET metrics = ? WHERE id = ?",
                                        (liveness.merged(stored[0], queue={"place": place, "limit": limit}), run_id))
                    shown = place
                time.sleep(poll)
        except KeyboardInterrupt:
            self.discard(run_id)
            raise

    def discard(self, run_id: str) -> None:
        """Remove a run that never started (stopped while queued): no row, no files."""
        with self._db() as con:
            con.execute("DELETE FROM runs WHERE id = ? AND status = 'queued'", (run_id,))
