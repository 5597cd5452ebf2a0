"""Object detection: one YOLO architecture trained from scratch and from pretrained weights with the same
settings; precision, recall, AP and F1 at every kept checkpoint, by our metrics and by ultralytics', and the
detections side by side.

    python -m core.studies.object_detection --preset quick          # both starts
"""

from __future__ import annotations

from dataclasses import replace

from core import tasks
from core.engine import config as settings
from core.engine.study import Headline, Study, last_validation
from core.models import yolo
from core.studies.object_detection import experiment, train


def _defaults() -> list[train.YoloConfig]:
    """Both starts with the quick settings: the page compares them."""
    return [replace(train.QUICK, dataset=train.DEFAULT_DATASET, start=s) for s in train.STARTS]


def _seeded() -> list[train.YoloConfig]:
    """Both starts with their source picked as queue_run picks it, so that replicates find the runs they repeat."""
    return [replace(c, source=c.source or yolo.pretrained_source(probe_network=False)) for c in _defaults()]


def _prepared() -> list[dict]:
    return [{k: v for k, v in settings.to_dict(c).items() if k != "source"} for c in _defaults()]  # resolved when queued


STUDY = Study(
    name="object_detection", title="Object detection (YOLO)", task=tasks.get("object_detection"),
    config=train.YoloConfig, presets={"quick": train.QUICK, "default": train.FULL}, queue=train.queue_config,
    train=train.train_run, comparison=experiment.default_comparison,
    headline=Headline("validation AP50", last_validation("AP50")), labels=train.LABELS, defaults=_defaults,
    prepared=_prepared, scores=experiment.scores, seed_settings=_seeded,
    question="Does a YOLO detector started from pretrained weights beat the same one trained from scratch, with the "
             "same data and epochs?",
    seeds_drive="ultralytics' seed (deterministic mode): the initial weights of every layer trained from scratch and "
                "of the new head, the order of the training images and the mosaic and colour augmentations drawn; "
                "the test images stay the same")
