"""A finished run's final numbers with their 95% bootstrap CIs, for the Runs page's comparison and its report,
computed by the run's study (its `finals`): nothing is run again."""

from __future__ import annotations

from core.engine.finals import Final, recorded, table
from core.engine.store import Run
from core.metrics.paired import N_BOOT_LIVE
from core.studies import index

__all__ = ["Final", "of", "table"]


def of(run: Run, n_boot: int = N_BOOT_LIVE) -> list[Final]:
    """The run's final numbers with CIs (empty for a run that has not finished or kept nothing to score)."""
    if run.status != "done":
        return []
    study = index.find(run.experiment)
    return study.finals(run, n_boot) if study is not None else recorded(run)
