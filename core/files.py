"""Files a reader must never see half-written, and where runs live."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR_ENV = "TLDASH_RUNS_DIR"


def runs_dir() -> Path:
    """The runs folder: ./runs, or $TLDASH_RUNS_DIR."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


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
