"""Caches: models per (variant, device) as resources, predictions per (variant, device, image) as data."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import streamlit as st
import torch
from PIL import Image

from core import devices, registry
from core.predictors import Predictor, build

WARMUP_SIDE = 64
TIMING_REPEATS = 3  # the median of three calls: one busy moment on a shared machine skews a single timing


@st.cache_resource(max_entries=6, show_spinner="Loading model…")
def predictor(variant_name: str, device: str) -> Predictor:
    """Never trained or mutated by a page: shared by every session. Warmed up once so timings are steady."""
    model = build(registry.variant(variant_name), torch.device(device))
    model.predict([Image.new("RGB", (WARMUP_SIDE, WARMUP_SIDE), "gray")])
    return model


@dataclass(frozen=True)
class Timed:
    outputs: list
    ms_per_image: float


@st.cache_data(max_entries=64, show_spinner=False)
def predict(variant_name: str, device: str, image_key: str, _images: tuple[Image.Image, ...]) -> Timed:
    """Outputs for the images identified by image_key, with the median wall time of TIMING_REPEATS calls."""
    model = predictor(variant_name, device)
    dev = torch.device(device)
    times = []
    for _ in range(TIMING_REPEATS):
        devices.synchronize(dev)
        start = time.perf_counter()
        outputs = model.predict(list(_images))
        devices.synchronize(dev)
        times.append(time.perf_counter() - start)
    return Timed(outputs, statistics.median(times) * 1000 / max(len(_images), 1))
