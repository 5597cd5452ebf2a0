"""Where does it look: Grad-CAM of two classifiers on the same image, side by side, for the predicted and the
true class (core.explain)."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from core import explain
from core.predictors import Classifier
from core.weights import WeightsUnavailable
from ui import cache, figures


@st.cache_data(max_entries=32, show_spinner="Computing Grad-CAM…")
def heatmaps(variant: str, device: str, image_key: str, true_label: str | None, _image: Image.Image
             ) -> list[explain.Heatmap]:
    model = cache.predictor(variant, device)
    if not isinstance(model, Classifier):
        raise TypeError(f"{variant} is not a classifier")
    return explain.gradcam(model, _image, true_label)


def where_it_looks(variants: list[str], device: str, image_key: str, image: Image.Image, true_label: str | None,
                   names: dict[str, str] | None = None) -> None:
    """One column per variant: its Grad-CAM for the predicted class and, when known and one of its classes,
    the true class."""
    for col, variant in zip(st.columns(len(variants)), variants, strict=True):
        col.markdown(f"**{(names or {}).get(variant, variant)}**")
        try:
            maps = heatmaps(variant, device, image_key, true_label, image)
        except (WeightsUnavailable, TypeError, ValueError) as exc:
            col.error(f"No Grad-CAM for {variant}: {exc}")
            continue
        col.image([m.overlay for m in maps], width=220,
                  caption=[f"{m.role}: {m.label} (p {m.prob:.2f})" for m in maps])
        if true_label is not None and not any("true" in m.role for m in maps):
            col.caption(f"The true class, {true_label}, is not one of this model's classes.")
    figures.explain("Grad-CAM: the last convolutional feature map, weighted by the gradient of the class's score; "
                    "red marks the regions that raised it, over the image as the model saw it (resized, centre-"
                    "cropped). A model that is right for the wrong reason looks at the background.")
