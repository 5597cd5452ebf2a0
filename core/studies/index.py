"""The list of studies: the registry, the CLIs, prepare, the Runs page and the pages read it. In prepare's order,
cheapest first, so that the first pages fill soon; the home page's tiles follow it too."""

from __future__ import annotations

from core.engine.study import Study
from core.studies import face_detection, face_verification, feature_extraction, object_detection, transfer

STUDIES: tuple[Study, ...] = (face_detection.STUDY, transfer.CLASSIFICATION, face_verification.STUDY,
                              transfer.REGRESSION, object_detection.STUDY, feature_extraction.STUDY)


def find(name: str) -> Study | None:
    """The study a run's `experiment` names, or None for one this version does not know (an older or foreign
    store)."""
    return next((s for s in STUDIES if s.name == name), None)


def get(name: str) -> Study:
    found = find(name)
    if found is None:
        raise KeyError(f"unknown study {name!r}; choose from {[s.name for s in STUDIES]}")
    return found


def title(name: str) -> str:
    """How the pages and the runs list name a run's study: its title, or 'unknown study …'."""
    found = find(name)
    return found.title if found is not None else f"unknown study {name!r}"


def with_comparison() -> list[str]:
    """The studies `python -m core.experiments` can run."""
    return [s.name for s in STUDIES if s.comparison is not None]
