"""What trainers yield, whatever they train: the caller decides what to do with each event (a page
draws a curve, the CLI prints a JSON line, the run store records it, a test collects it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Phase:
    """A stretch of work that is not an epoch: reading the data, caching features, mining samples."""

    name: str
    done: int = 0
    total: int = 0  # 0 when unknown


@dataclass(frozen=True)
class EpochEnd:
    """One epoch of one trainer: losses, validation metrics and time."""

    epoch: int  # 0-based, within its phase
    train_loss: float
    val_loss: float | None
    val: dict[str, float]  # validation metrics, by the objective's names (accuracy, mCA, pearson, MAE, ...)
    seconds: float
    trainable: int = 0  # parameters that trained in this epoch
    train_accuracy: float | None = None  # classification: on the training batches as they went by
    phase: str = ""  # a trainer's stage (MTCNN: pnet, rnet, onet), "" when there is one
    losses: dict[str, float] = field(default_factory=dict)  # the training loss's parts, when it has several

    @property
    def label(self) -> str:
        """"epoch 3" or "pnet epoch 3" (1-based): what a checkpoint written now holds."""
        return f"{self.phase + ' ' if self.phase else ''}epoch {self.epoch + 1}"


@dataclass(frozen=True)
class Finished:
    """A run finished and stored: its variant is now in the registry."""

    run_id: str
    variant: str
    seconds: float
