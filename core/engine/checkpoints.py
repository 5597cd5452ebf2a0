"""A run's files: its checkpoint (replaced atomically after every epoch), the checkpoints it keeps, the arrays
beside them; and whether a checkpoint file is whole."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path


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


class Checkpoints:
    """The run store's file side (mixed into RunStore): where a run's files are, listing and removing them."""

    def checkpoint_path(self, run_id: str) -> Path:
        return self.folder / "checkpoints" / f"{run_id}.pt"  # type: ignore[attr-defined]

    def files(self, run_id: str) -> list[Path]:
        """Every file the run wrote: its checkpoint, the checkpoints it kept, the arrays beside them."""
        base = self.checkpoint_path(run_id)
        found = [p for p in base.parent.glob(f"{run_id}.*") if p.is_file()]
        kept = base.with_suffix("")
        if kept.is_dir():
            found += sorted(p for p in kept.rglob("*") if p.is_file())
        run = self.get(run_id)  # type: ignore[attr-defined]
        extra = [Path(run.checkpoint)] if run.checkpoint and Path(run.checkpoint).is_file() else []
        return sorted(set(found + extra))

    def remove_files(self, run_id: str) -> list[Path]:
        """Remove every file of a run; the files removed."""
        removed = self.files(run_id)
        for path in removed:
            path.unlink(missing_ok=True)
        kept = self.checkpoint_path(run_id).with_suffix("")
        if kept.is_dir():
            shutil.rmtree(kept, ignore_errors=True)
        return removed
