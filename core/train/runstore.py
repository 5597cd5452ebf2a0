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
import shutil
import signal
import socket
import sqlite3
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import psutil
import torch

from core import numbers
from core.train.events import EpochEnd, Phase

RUNS_DIR_ENV = "TLDASH_RUNS_DIR"
STATUSES = ("queued", "running", "done", "failed", "stopped")
DAMAGED = "damaged"  # not stored: a finished run whose checkpoint file no longer reads
LIVE = ("queued", "running")
ORPHANED = ("waiting for a process: the one that queued it ended before it started; the app starts another within "
            "seconds while a page is open, or `python -m core.runs resume`")
ADOPTED = "waiting for a process: one is starting"
RESUMES = 3  # a queued run whose process keeps ending before it begins is failed after this many resumes
NAME_MAX, NOTE_MAX = 80, 2000  # characters kept of a run's name (and each tag), and of its note

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    experiment TEXT NOT NULL,
    base_variant TEXT NOT NULL,
    task TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    checkpoint TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT ''
)
"""
# Added after the first release: opened stores gain them (ALTER TABLE) the first time.
_COLUMNS = {"pid": "INTEGER", "host": "TEXT NOT NULL DEFAULT ''", "pid_started": "REAL",
            "checkpoint_label": "TEXT NOT NULL DEFAULT ''", "checkpoint_bytes": "INTEGER", "started": "REAL",
            "name": "TEXT NOT NULL DEFAULT ''", "tags": "TEXT NOT NULL DEFAULT '[]'", "note": "TEXT NOT NULL DEFAULT ''",
            "pinned": "INTEGER NOT NULL DEFAULT 0"}
_FIELDS = ("id, created, updated, experiment, base_variant, task, config, status, metrics, checkpoint, message, pid, "
           "checkpoint_label, checkpoint_bytes, started, name, tags, note, pinned")


class RunStoreError(OSError):
    """The runs folder cannot be used; the message says which folder and what to do."""


class StoreUnreadable(RunStoreError):
    """The runs database is not a SQLite file, or is damaged as a whole: no run can be read from it."""


@dataclass(frozen=True)
class Run:
    id: str
    created: float
    updated: float
    experiment: str
    base_variant: str
    task: str
    config: dict
    status: str  # one of STATUSES, or DAMAGED
    metrics: dict = field(default_factory=dict)
    checkpoint: str = ""
    message: str = ""
    pid: int | None = None
    checkpoint_label: str = ""  # "epoch 3" (or "pnet epoch 2"): what the last checkpoint holds
    checkpoint_bytes: int | None = None
    started: float | None = None  # when its process took it (a queued run waits from created to started)
    name: str = ""  # the user's name for it ("" until renamed)
    tags: tuple[str, ...] = ()
    note: str = ""
    pinned: bool = False  # the baseline its study's page compares against

    @property
    def title(self) -> str:
        """Its name, or its id until it has one."""
        return self.name or self.id

    @property
    def seconds(self) -> float:
        """Wall time from its start to its last update (its end, once finished); queueing not counted."""
        return self.updated - (self.started or self.created)

    @property
    def history(self) -> list[dict]:
        return self.metrics.get("history", [])


def stored_fields(config_class: type, config: dict) -> dict:
    """The entries of a stored run config that are fields of this config dataclass (the rest are labels, notes)."""
    known = {f.name for f in fields(config_class)}
    return {k: v for k, v in config.items() if k in known}


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


def default_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def _process_started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(pid: int, started: float | None) -> bool:
    """The process that took the run is still there (a reused pid or a zombie does not count)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False


def checkpoint_problem(path: str, expected_bytes: int | None) -> str:
    """Why a checkpoint file cannot be loaded ("" when it looks whole): missing, cut short, not a checkpoint."""
    p = Path(path)
    if not p.is_file():
        return f"its checkpoint {p.name} is missing"
    size = p.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        return f"its checkpoint {p.name} is {size:,} bytes, not the {expected_bytes:,} written (cut short?)"
    if not zipfile.is_zipfile(p):
        return f"its checkpoint {p.name} is not a PyTorch checkpoint"
    return ""


SETUP_TRIES = 100  # opening a new store from several processes at once: each waits its turn, 20 ms at a time


def _missing(con: sqlite3.Connection) -> list[str]:
    """Columns the runs table lacks (all of them when there is no table yet)."""
    have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    return ["id"] if not have else [name for name in _COLUMNS if name not in have]


def _prepare(con: sqlite3.Connection) -> None:
    """WAL mode (readers never wait for a trainer's write), the table and any column added since the first
    release. Stores opened by several processes at once take turns: the schema is read again under the
    write lock, so no column is added twice."""
    for attempt in range(SETUP_TRIES):
        try:
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.execute("PRAGMA journal_mode = WAL")
            if not _missing(con):
                return
            con.execute("BEGIN IMMEDIATE")
            con.execute(_SCHEMA)
            have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            for name, kind in _COLUMNS.items():
                if name not in have:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
            con.commit()
            return
        except sqlite3.OperationalError as exc:
            if con.in_transaction:
                con.rollback()
            if "locked" not in str(exc) or attempt == SETUP_TRIES - 1:
                raise
            time.sleep(0.02)


def _resumed(metrics: str) -> int:
    """How often a queued run was resumed, from its stored metrics (0 when they do not say, or do not parse)."""
    try:
        value = numbers.loads(metrics).get("resumed")
    except (ValueError, AttributeError):
        return 0
    return numbers.count(value, 0)


def _merged(metrics: str, **values: object) -> str:
    """Stored metrics with these top-level entries set; metrics that do not parse are replaced by them alone."""
    try:
        current = numbers.loads(metrics)
    except ValueError:
        current = {}
    return numbers.dumps({**(current if isinstance(current, dict) else {}), **values})


# Run-level numbers a trainer notes (Recorder.note): read as numbers whatever was stored there.
_NUMBERS = ("seconds", "train_images_per_s", "world_size", "test_samples", "train_images", "resumed")
_EPOCH_NUMBERS = ("train_loss", "val_loss", "seconds", "trainable", "train_accuracy")


def _numbers_in(values: object, where: str) -> dict:
    if not isinstance(values, dict):
        raise ValueError(f"{where} is not a table of numbers")
    return {str(k): numbers.number(v) for k, v in values.items()}


def _epoch(entry: object, k: int) -> dict:
    """One history entry with every number read as one (a string there reads as undefined, saying so)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
        raise ValueError(f"its history's entry {k + 1} is not an epoch")
    out = {**entry, **{key: numbers.number(entry[key]) for key in _EPOCH_NUMBERS if entry.get(key) is not None}}
    out["val"] = _numbers_in(entry.get("val") or {}, f"its history's entry {k + 1} 'val'")
    out["losses"] = _numbers_in(entry.get("losses") or {}, f"its history's entry {k + 1} 'losses'")
    return out


def read_metrics(text: str) -> dict:
    """A run's stored metrics, every number in them a number: ValueError saying what is wrong when they do not
    parse or do not have a run's shape (a table, a history that is a list of epochs)."""
    try:
        metrics = numbers.loads(text)
    except ValueError as exc:
        raise ValueError(f"its metrics are not JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise ValueError("its metrics are not a table")
    out = dict(metrics)
    if "history" in metrics:
        if not isinstance(metrics["history"], list):
            raise ValueError("its history is not a list of epochs")
        out["history"] = [_epoch(e, k) for k, e in enumerate(metrics["history"])]
    for key in _NUMBERS:
        if key in metrics:
            out[key] = numbers.number(metrics[key])
    if "queue" in metrics:  # the queue's own note, {place, limit}: whole numbers, 1 where unreadable
        queue = metrics["queue"] if isinstance(metrics["queue"], dict) else {}
        out["queue"] = {key: numbers.count(queue.get(key), 1) for key in ("place", "limit")}
    for c in out.get("checkpoints") or []:
        if isinstance(c, dict) and "val" in c:
            c["val"] = _numbers_in(c["val"], "a kept checkpoint's 'val'")
    return out


def _run(r: tuple) -> Run:
    """A row as a Run; a row whose config, metrics or tags cannot be read is a DAMAGED run saying why (the rest of
    the store reads as usual, and nothing is changed in the row)."""
    problems = []
    try:
        config = numbers.loads(r[6])
        if not isinstance(config, dict):
            raise ValueError("not a table")
    except ValueError as exc:
        config, problems = {}, [f"its config cannot be read ({exc})"]
    try:
        metrics = read_metrics(r[8])
    except ValueError as exc:
        metrics, problems = {}, [*problems, str(exc)]
    try:
        tags = tuple(str(t) for t in json.loads(r[16]))
    except (ValueError, TypeError):
        tags = ()
    run = Run(*r[:6], config, r[7], metrics, *r[9:16], tags, r[17], bool(r[18]))
    if problems:
        return replace(run, status=DAMAGED, message=f"{run.status}, but {'; '.join(problems)}")
    return run


class RunStore:
    """A handle on runs/runs.db; cheap to create, safe to use from several processes (WAL, busy timeout)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_dir()
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
            _prepare(con)
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

    def checkpoint_path(self, run_id: str) -> Path:
        return self.folder / "checkpoints" / f"{run_id}.pt"

    def create(self, experiment: str, base_variant: str, task: str, config: dict) -> str:
        """A new queued run; its id."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        now = time.time()
        with self._db() as con:
            con.execute("INSERT INTO runs (id, created, updated, experiment, base_variant, task, config, status, host)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                        (run_id, now, now, experiment, base_variant, task, numbers.dumps(config), socket.gethostname()))
        return run_id

    def assign(self, run_ids: list[str], pid: int) -> None:
        """The process that will run these queued runs: if it dies while running one, that run is marked failed;
        the runs it had not started yet wait for another (see _reap)."""
        started = _process_started(pid)
        with self._db() as con:
            con.executemany("UPDATE runs SET pid = ?, pid_started = ?, host = ?, updated = ?, message = CASE WHEN "
                            "message IN (?, ?) THEN '' ELSE message END WHERE id = ?",
                            [(pid, started, socket.gethostname(), time.time(), ORPHANED, ADOPTED, i)
                             for i in run_ids])

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

    def files(self, run_id: str) -> list[Path]:
        """Every file the run wrote: its checkpoint, the checkpoints it kept, the arrays beside them."""
        base = self.checkpoint_path(run_id)
        found = [p for p in base.parent.glob(f"{run_id}.*") if p.is_file()]
        kept = base.with_suffix("")
        if kept.is_dir():
            found += sorted(p for p in kept.rglob("*") if p.is_file())
        run = self.get(run_id)
        extra = [Path(run.checkpoint)] if run.checkpoint and Path(run.checkpoint).is_file() else []
        return sorted(set(found + extra))

    def delete(self, run_id: str) -> list[Path]:
        """Remove a run and its files; a queued or running run must be stopped first. The files removed."""
        run = self.get(run_id)
        if run.status in LIVE:
            raise RunStoreError(f"run {run_id} is {run.status}: stop it before deleting it")
        removed = self.files(run_id)
        for path in removed:
            path.unlink(missing_ok=True)
        kept = self.checkpoint_path(run_id).with_suffix("")
        if kept.is_dir():
            shutil.rmtree(kept, ignore_errors=True)
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
            self._reap(con)
            rows = con.execute(f"SELECT {_FIELDS} FROM runs {where} ORDER BY created", params).fetchall()
        return [self._checked(_run(r)) for r in rows]

    @staticmethod
    def _checked(run: Run) -> Run:
        if run.status in (*LIVE, DAMAGED) or not run.checkpoint:
            return run
        problem = checkpoint_problem(run.checkpoint, run.checkpoint_bytes)
        return replace(run, status=DAMAGED, message=f"{run.status}, but {problem}") if problem else run

    @staticmethod
    def _reap(con: sqlite3.Connection) -> None:
        """Runs of this machine whose process has gone without finishing them. One that had started is failed,
        saying so; one still waiting in the queue stays queued, without a process (an orphan, see `adopt`): the
        queue outlives a crash or a reboot of the machine, as it outlives a restart of the app."""
        rows = con.execute("SELECT id, pid, pid_started, status, started, metrics FROM runs WHERE status IN "
                           "('queued', 'running') AND pid IS NOT NULL AND host = ?", (socket.gethostname(),)).fetchall()
        for run_id, pid, pid_started, status, started, metrics in rows:
            if _alive(pid, pid_started):
                continue
            resumed = _resumed(metrics)
            if status == "queued" and started is None and resumed >= RESUMES:
                con.execute("UPDATE runs SET status = 'failed', message = ?, updated = ? WHERE id = ?",
                            (f"process {pid} ended before the run began, after {resumed} resume(s): see the "
                             "trainer's log in the runs folder's logs/", time.time(), run_id))
            elif status == "queued" and started is None:
                con.execute("UPDATE runs SET pid = NULL, pid_started = NULL, message = ?, updated = ? WHERE id = ?",
                            (ORPHANED, time.time(), run_id))
            else:
                con.execute("UPDATE runs SET status = 'failed', message = ?, updated = ? WHERE id = ?",
                            (f"process {pid} ended without finishing", time.time(), run_id))

    def adopt(self) -> list[Run]:
        """The orphaned queued runs (their process ended before they started), oldest first, taken on by the
        caller: no other caller gets them. The caller starts a process for them and `assign`s it, or `disown`s
        them again."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            self._reap(con)
            found = con.execute("SELECT id, metrics FROM runs WHERE status = 'queued' AND pid IS NULL AND message = ? "
                                "ORDER BY created, id", (ORPHANED,)).fetchall()
            ids = [run_id for run_id, _ in found]
            con.executemany("UPDATE runs SET message = ?, metrics = ? WHERE id = ?",
                            [(ADOPTED, _merged(metrics, resumed=_resumed(metrics) + 1), run_id)
                             for run_id, metrics in found])
        return [self.get(i) for i in ids]

    def disown(self, run_ids: list[str]) -> None:
        """Adopted runs whose process could not be started: orphans again, for the next `adopt`."""
        with self._db() as con:
            con.executemany("UPDATE runs SET message = ? WHERE id = ? AND status = 'queued' AND pid IS NULL",
                            [(ORPHANED, i) for i in run_ids])

    def claim(self, run_id: str, limit: int) -> int:
        """Take a slot for a queued run: 0 when it may start now (fewer than `limit` runs are running and it is
        the first in line), else its place in the queue (1: next). Runs wait in the order they were created; only
        runs a process has taken on (assign), and this one, are in line. Atomic across processes."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            self._reap(con)
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
                                        (_merged(stored[0], queue={"place": place, "limit": limit}), run_id))
                    shown = place
                time.sleep(poll)
        except KeyboardInterrupt:
            self.discard(run_id)
            raise

    def discard(self, run_id: str) -> None:
        """Remove a run that never started (stopped while queued): no row, no files."""
        with self._db() as con:
            con.execute("DELETE FROM runs WHERE id = ? AND status = 'queued'", (run_id,))

    @contextmanager
    def recording(self, run_id: str) -> Iterator[Recorder]:
        """The lifecycle of one run in this process: running, events, checkpoints, then done / stopped / failed.
        KeyboardInterrupt (SIGTERM through stop_on_sigterm, Ctrl-C) ends it stopped; any other exception failed.
        A run a page queued (its process assigned) first waits for a slot (wait_for_slot)."""
        pid = os.getpid()
        if os.environ.get(JOB_ENV) and self.get(run_id).status == "queued":
            self.wait_for_slot(run_id)
        self._set(run_id, status="running", pid=pid, pid_started=_process_started(pid), host=socket.gethostname(),
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


class Recorder:
    """What a trainer writes while its run is open (see RunStore.recording)."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.history: list[dict] = []
        self.summary: dict = {}

    @property
    def metrics(self) -> dict:
        return {"history": self.history, **self.summary}

    def event(self, event: EpochEnd | Phase) -> None:
        """An epoch joins the run's history as it ends; a phase (reading the data, caching features) is the run's
        current step until the next epoch ends."""
        if isinstance(event, EpochEnd):
            self.history.append(asdict(event))
            self.summary.pop("phase", None)
        elif isinstance(event, Phase):
            self.summary["phase"] = asdict(event)
        else:
            raise TypeError(f"a run records EpochEnd and Phase events, not {type(event).__name__}")
        self.store._set(self.run_id, metrics=numbers.dumps(self.metrics))

    def note(self, **values: object) -> None:
        """Run-level figures (seconds, test samples, AP before and after): merged into its metrics."""
        self.summary.update(values)
        self.store._set(self.run_id, metrics=numbers.dumps(self.metrics))

    def checkpoint(self, state: dict, label: str, keep: bool = False, **info: object) -> Path:
        """Write state over the run's checkpoint atomically: a reader sees the old file or the new, never half.
        keep: a checkpoint of its own (checkpoints/RUN_ID/LABEL.pt) that later ones do not replace, listed in the
        run's metrics under "checkpoints" with info (its epoch, its validation scores)."""
        path = self.store.checkpoint_path(self.run_id)
        if keep:
            path = path.with_suffix("") / f"{label.replace(' ', '')}.pt"
        atomic_write(path, lambda f: torch.save(state, f))
        if keep:
            self.summary.setdefault("checkpoints", []).append({"label": label, "path": str(path), **info})
            self.store._set(self.run_id, metrics=numbers.dumps(self.metrics))
        self.store._set(self.run_id, checkpoint=str(path), checkpoint_label=label, checkpoint_bytes=path.stat().st_size)
        return path

    def arrays(self, suffix: str, **arrays: object) -> Path:
        """Arrays beside the checkpoint (e.g. the test split's outputs as .npz), written atomically."""
        import numpy as np

        path = self.store.checkpoint_path(self.run_id).with_suffix(suffix)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return path


def atomic_write(path: Path, write: object) -> None:
    """write(file) into a temporary file beside path, flushed to disk, then renamed over path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)  # type: ignore[operator]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def carry_out(run_ids: list[str], store: RunStore, train_one: Callable[[Run], Iterator[object]]
              ) -> Iterator[tuple[Run, object]]:
    """Queued runs in order, each by train_one(run) with its stored config; when one is stopped, the runs after it
    are removed before they start."""
    for k, run_id in enumerate(run_ids):
        run = store.get(run_id)
        try:
            for event in train_one(run):
                yield run, event
        except KeyboardInterrupt:
            for later in run_ids[k + 1:]:  # never started: removed, as a stopped queued run is
                store.discard(later)
            raise
        except Exception as exc:  # the process ends here: the runs after this one would wait for it in vain
            for later in run_ids[k + 1:]:
                if store.get(later).status == "queued":
                    store.update(later, status="failed", message=f"not started: run {run_id} before it failed "
                                                                 f"({exc.args[0] if exc.args else repr(exc)})")
            raise


def stop_on_sigterm() -> None:
    """Turn SIGTERM (the pages' Stop button) into KeyboardInterrupt, so a trainer marks its run stopped."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)
