"""SQLite store of fine-tuning runs: one row per run (config, status, metrics, checkpoint).

Every training writes here; the registry reads finished runs back as model variants, so a
model fine-tuned anywhere appears on every page without code changes. The folder is
``runs/`` in the working directory, or $TLDASH_RUNS_DIR.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RUNS_DIR_ENV = "TLDASH_RUNS_DIR"
STATUSES = ("queued", "running", "done", "failed", "stopped")

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


@dataclass(frozen=True)
class Run:
    id: str
    created: float
    updated: float
    experiment: str
    base_variant: str
    task: str
    config: dict
    status: str
    metrics: dict = field(default_factory=dict)
    checkpoint: str = ""
    message: str = ""


def default_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


class RunStore:
    """A handle on runs/runs.db; cheap to create, safe to use from several processes."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_dir()
        self.path = self.folder / "runs.db"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.folder.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10)
        try:
            con.execute(_SCHEMA)
            yield con
            con.commit()
        finally:
            con.close()

    def checkpoint_path(self, run_id: str) -> Path:
        return self.folder / "checkpoints" / f"{run_id}.pt"

    def create(self, experiment: str, base_variant: str, task: str, config: dict) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        now = time.time()
        with self._db() as con:
            con.execute("INSERT INTO runs (id, created, updated, experiment, base_variant, task, config, status)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
                        (run_id, now, now, experiment, base_variant, task, json.dumps(config)))
        return run_id

    def update(self, run_id: str, *, status: str | None = None, metrics: dict | None = None,
               checkpoint: str | None = None, message: str | None = None) -> None:
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; choose from {STATUSES}")
        fields = {"status": status, "checkpoint": checkpoint, "message": message,
                  "metrics": json.dumps(metrics) if metrics is not None else None}
        sets = {k: v for k, v in fields.items() if v is not None}
        with self._db() as con:
            con.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)}, updated = ? WHERE id = ?",
                        (*sets.values(), time.time(), run_id))

    def get(self, run_id: str) -> Run:
        rows = self._select("WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return rows[0]

    def list(self, status: str | None = None) -> list[Run]:
        if status is None:
            return self._select("", ())
        return self._select("WHERE status = ?", (status,))

    def _select(self, where: str, params: tuple) -> list[Run]:
        if not self.path.exists():
            return []
        with self._db() as con:
            rows = con.execute(f"SELECT id, created, updated, experiment, base_variant, task, config, status,"
                               f" metrics, checkpoint, message FROM runs {where} ORDER BY created", params).fetchall()
        return [Run(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], json.loads(r[8]), r[9], r[10])
                for r in rows]


def stop_on_sigterm() -> None:
    """Turn SIGTERM (the pages' Stop button) into KeyboardInterrupt, so a trainer marks its run stopped."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)
