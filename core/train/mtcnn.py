"""Moved to core.studies.face_detection."""

from core.train import moved

moved("core.train.mtcnn", "core.studies.face_detection")
