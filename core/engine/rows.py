"""The run store's SQLite rows: the table, the columns added since the first release (migration), and how one
row reads as a Run. A row whose config or metrics cannot be read is a DAMAGED run saying why; the rest of the
store reads as usual, and nothing in the row is changed."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field, replace

from core import numbers

STATUSES = ("queued", "running", "done", "failed", "stopped")
DAMAGED = "damaged"  # not stored: a finished run whose checkpoint file no longer reads
LIVE = ("queued", "running")

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
FIELDS = ("id, created, updated, experiment, base_variant, task, config, status, metrics, checkpoint, message, pid, "
           "checkpoint_label, checkpoint_bytes, started, name, tags, note, pinned")


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


SETUP_TRIES = 100  # opening a new store from several processes at once: each waits its turn, 20 ms at a time


def _missing(con: sqlite3.Connection) -> list[str]:
    """Columns the runs table lacks (all of them when there is no table yet)."""
    have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    return ["id"] if not have else [name for name in _COLUMNS if name not in have]


def prepare(con: sqlite3.Connection) -> None:
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


def as_run(r: tuple) -> Run:
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
