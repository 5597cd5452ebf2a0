"""SQLite store of training runs, and the one lifecycle every trainer goes through.

One row per run (config, status, metrics, checkpoint). A trainer opens `store.recording(run_id)`:
the run is marked running with its process id, each event is recorded as it comes, a checkpoint
written at the end of every epoch replaces the last one atomically, and the run ends done,
stopped (KeyboardInterrupt, SIGTERM) or failed (any other exception, with its message). A run
whose process died without a word (SIGKILL, a reset) is marked failed the next time the store is
read. A run whose checkpoint file was cut short or replaced is listed as damaged.

The registry reads finished runs back as model variants, so a model fine-tuned anywhere appears
on every page. The folder is ``runs/`` in the working directory, or $TLDASH_RUNS_DIR.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core import numbers
from core.engine import liveness, queue
from core.engine.checkpoints import Checkpoints, checkpoint_problem
from core.engine.recording import Recorder
from core.engine.rows import DAMAGED, FIELDS, LIVE, STATUSES, Run, as_run, prepare
from core.files import RUNS_DIR_ENV, runs_dir

NAME_MAX, NOTE_MAX = 80, 2000  # characters kept of a run's name (and each tag), and of its note


class RunStoreError(OSError):
    """The runs folder cannot be used; the message says which folder and what to do."""


class StoreUnreadable(RunStoreError):
    """The runs database is not a SQLite file, or is damaged as a whole: no run can be read from it."""

class RunStore(queue.Queue, Checkpoints):
    """A handle on runs/runs.db; cheap to create, safe to use from several processes (WAL, busy timeout)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else runs_dir()
        self.path = self.folder / "runs.db"

    def _unusable(self, exc: Exception) -> RunStoreError:
        reason = getattr(exc, "strerror", None) or str(exc)
        return RunStoreError(f"The runs folder {self.folder.resolve()} cannot be written ({reason}). Make it writable, "
                             f"or point ${RUNS_DIR_ENV} at a folder you can write to.")

    def _unreadable(self, exc: Exception) -> StoreUnreadable:
        return StoreUnreadable(f"The runs database {self.path.resolve()} cannot be read ({exc}): it is not a SQLite file, "
                             "or it was cut short. Nothing in it was changed. Move it aside (rename it) to start with an "
                             f"empty list of runs, restore it from a copy, or point ${RUNS_DIR_ENV} at another folder.")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise self._unusable(exc) from None
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            prepare(con)
            yield con
            con.commit()
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc) or "disk" in str(exc):
                raise self._unusable(exc) from None
            raise
        except sqlite3.DatabaseError as exc:  # not a SQLite file, or one cut short or overwritten
            raise self._unreadable(exc) from None
        finally:
            con.close()

    def check_writable(self) -> None:
        """RunStoreError with one message when runs cannot be recorded here."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise self._unusable(exc) from None
        with self._db():
            pass
    def create(self, experiment: str, base_variant: str, task: str, config: dict) -> str:
        """A new queued run; its id."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        now = time.time()
        with self._db() as con:
            con.execute("INSERT INTO runs (id, created, updated, experiment, base_variant, task, config, status, host)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                        (run_id, now, now, experiment, base_variant, task, numbers.dumps(config), socket.gethostname()))
        return run_id
    def update(self, run_id: str, *, status: str | None = None, metrics: dict | None = None,
               checkpoint: str | None = None, message: str | None = None) -> None:
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; choose from {STATUSES}")
        fields = {"status": status, "checkpoint": checkpoint, "message": message,
                  "metrics": numbers.dumps(metrics) if metrics is not None else None}
        self._set(run_id, **{k: v for k, v in fields.items() if v is not None})

    def _set(self, run_id: str, **values: object) -> None:
        with self._db() as con:
            con.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)}, updated = ? WHERE id = ?",
                        (*values.values(), time.time(), run_id))

    def get(self, run_id: str) -> Run:
        rows = self._select("WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return rows[0]

    def label(self, run_id: str, *, name: str | None = None, tags: list[str] | None = None,
              note: str | None = None) -> Run:
        """Rename, tag or annotate a run (any status); the run as it now stands."""
        run = self.get(run_id)
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = " ".join(name.split())[:NAME_MAX]
        if tags is not None:
            clean = [" ".join(t.split())[:NAME_MAX] for t in tags]
            values["tags"] = json.dumps(sorted({t for t in clean if t}))
        if note is not None:
            values["note"] = note.strip()[:NOTE_MAX]
        if values:  # not an update of the run itself: `updated` (its end, for a finished run) stays
            with self._db() as con:
                con.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                            (*values.values(), run.id))
        return self.get(run_id)

    def pin(self, run_id: str, pinned: bool = True) -> Run:
        """Make a run its study's baseline (the one before it is unpinned), or unpin it."""
        run = self.get(run_id)
        with self._db() as con:
            if pinned:
                con.execute("UPDATE runs SET pinned = 0 WHERE experiment = ? AND pinned = 1", (run.experiment,))
            con.execute("UPDATE runs SET pinned = ? WHERE id = ?", (int(pinned), run_id))
        return self.get(run_id)

    def pinned(self, experiment: str) -> Run | None:
        """The baseline pinned for this study, if any."""
        return next((r for r in self._select("WHERE experiment = ? AND pinned = 1", (experiment,))), None)
    def delete(self, run_id: str) -> list[Path]:
        """Remove a run and its files; a queued or running run must be stopped first. The files removed."""
        run = self.get(run_id)
        if run.status in LIVE:
            raise RunStoreError(f"run {run_id} is {run.status}: stop it before deleting it")
        removed = self.remove_files(run_id)
        with self._db() as con:
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return removed

    def list(self, status: str | None = None) -> list[Run]:
        """Every run, oldest first, or those with this status (DAMAGED included)."""
        runs = self._select("", ())
        return runs if status is None else [r for r in runs if r.status == status]

    def _select(self, where: str, params: tuple) -> list[Run]:
        if not self.path.exists():
            return []
        with self._db() as con:
            liveness.reap(con)
            rows = con.execute(f"SELECT {FIELDS} FROM runs {where} ORDER BY created", params).fetchall()
        return [self._checked(as_run(r)) for r in rows]

    @staticmethod
    def _checked(run: Run) -> Run:
        if run.status in (*LIVE, DAMAGED) or not run.checkpoint:
            return run
        problem = checkpoint_problem(run.checkpoint, run.checkpoint_bytes)
        return replace(run, status=DAMAGED, message=f"{run.status}, but {problem}") if problem else run
    @contextmanager
    def recording(self, run_id: str) -> Iterator[Recorder]:
        """The lifecycle of one run in this process: running, events, checkpoints, then done / stopped / failed.
        KeyboardInterrupt (SIGTERM through stop_on_sigterm, Ctrl-C) ends it stopped; any other exception failed.
        A run a page queued (its process assigned) first waits for a slot (wait_for_slot)."""
        pid = os.getpid()
        if os.environ.get(queue.JOB_ENV) and self.get(run_id).status == "queued":
            self.wait_for_slot(run_id)
        self._set(run_id, status="running", pid=pid, pid_started=liveness.process_started(pid), host=socket.gethostname(),
                  started=time.time(), metrics="{}")
        recorder = Recorder(self, run_id)
        try:
            yield recorder
        except (KeyboardInterrupt, GeneratorExit) as exc:
            self._set(run_id, status="stopped", message=str(exc) or "stopped")
            raise
        except BaseException as exc:
            self._set(run_id, status="failed", message=str(exc) or type(exc).__name__)
            raise
        recorder.summary.pop("phase", None)  # a finished run is in no phase
        self._set(run_id, status="done", metrics=numbers.dumps(recorder.metrics))


def carry_out(run_ids: list[str], store: RunStore, train_one: Callable[[Run], Iterator[object]]
              ) -> Iterator[tuple[Run, object]]:
    """Queued runs in order, each by train_one(run) with its stored config; when one is stopped, the runs after it
    are removed before they start. When one fails (its recording has marked it failed with the reason), the runs
    after it still go, since each stands on its own (one replicate's failure leaves the other seeds valid); the first
    failure is raised once they are through."""
    failure: Exception | None = None
    for k, run_id in enumerate(run_ids):
        try:
            run = store.get(run_id)
        except KeyError:  # removed from the queue while this process carried out an earlier run
            continue
        try:
            for event in train_one(run):
                yield run, event
        except KeyboardInterrupt:
            for later in run_ids[k + 1:]:  # never started: removed, as a stopped queued run is
                store.discard(later)
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the run; raised when the others are through
            failure = failure or exc
    if failure is not None:
        raise failure
