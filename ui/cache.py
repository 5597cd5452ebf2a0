"""Caches: models per (variant, device) as resources, predictions per (variant, device, image) as data."""

from __future__ import annotations

import streamlit as st
import torch
from PIL import Image

from core import registry, timing
from core.predictors import Predictor, build

WARMUP_SIDE = 64


@st.cache_resource(max_entries=6, show_spinner="Loading model…")
def predictor(variant_name: str, device: str) -> Predictor:
    """Never trained or mutated by a page: shared by every session. Warmed up once so timings are steady."""
    model = build(registry.variant(variant_name), torch.device(device))
    model.predict([Image.new("RGB", (WARMUP_SIDE, WARMUP_SIDE), "gray")])
    return model


@st.cache_data(max_entries=64, show_spinner=False)
def predict(variant_name: str, device: str, image_key: str, _images: tuple[Image.Image, ...]) -> list:
    """Outputs for the images identified by image_key."""
    return predictor(variant_name, device).predict(list(_images))


@st.cache_data(max_entries=64, show_spinner="Timing the variants side by side (interleaved rounds)…")
def timings(variant_names: tuple[str, ...], device: str, image_key: str, _images: tuple[Image.Image, ...]
            ) -> dict[str, timing.Timing]:
    """The variants timed together on these images: warmed up, interleaved, median and range (core.timing)."""
    models = {n: predictor(n, device) for n in variant_names}
    return timing.interleaved({n: (lambda m=m: m.predict(list(_images))) for n, m in models.items()},
                              items=max(len(_images), 1), device=torch.device(device))
