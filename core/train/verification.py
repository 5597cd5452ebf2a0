"""Moved to core.studies.face_verification."""

from core.train import moved

moved("core.train.verification", "core.studies.face_verification")
