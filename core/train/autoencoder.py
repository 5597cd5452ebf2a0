"""Moved to core.studies.feature_extraction."""

from core.train import moved

moved("core.train.autoencoder", "core.studies.feature_extraction")
