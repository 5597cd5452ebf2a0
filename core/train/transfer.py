"""Moved to core.studies.transfer."""

from core.train import moved

moved("core.train.transfer", "core.studies.transfer")
