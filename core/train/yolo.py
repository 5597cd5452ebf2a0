"""Moved to core.studies.object_detection."""

from core.train import moved

moved("core.train.yolo", "core.studies.object_detection")
