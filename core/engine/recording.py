"""What a trainer writes while its run is open (RunStore.recording), and the signal that stops it."""

from __future__ import annotations

import signal
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import torch

from core import numbers
from core.engine.events import EpochEnd, Phase
from core.files import atomic_write


class Store(Protocol):
    """What a recorder writes through: the run store hands itself over (core.engine.store.RunStore)."""

    def _set(self, run_id: str, **values: object) -> None: ...

    def checkpoint_path(self, run_id: str) -> Path: ...

class Recorder:
    """What a trainer writes while its run is open (see RunStore.recording)."""

    def __init__(self, store: Store, run_id: str) -> None:
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


def stop_on_sigterm() -> None:
    """Turn SIGTERM (the pages' Stop button) into KeyboardInterrupt, so a trainer marks its run stopped."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


class Discard:
    """A recorder that keeps nothing: what torchrun's other processes train with (rank 0 records)."""

    store = None
    summary: dict = {}

    def event(self, event: object) -> None:
        pass

    def note(self, **values: object) -> None:
        pass

    def checkpoint(self, state: dict, label: str, keep: bool = False, **info: object) -> None:
        pass

    def arrays(self, suffix: str, **arrays: object) -> None:
        pass
