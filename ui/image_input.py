"""Pick a sample photo or upload one; refusals become one clear message, never a traceback."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from core.data import catalogue, samples
from core.data.types import DataError, DetectionSet, LabelledImages, open_image
from core.images import ImageRejected, LoadedImage, load_image
from ui.settings import KEEP

THUMB_SIDE = 80


@st.cache_data(max_entries=32, show_spinner=False)
def _sample(name: str) -> LoadedImage:
    return samples.load_sample(name)


@st.cache_data(max_entries=32, show_spinner=False)
def _thumbnail(name: str) -> Image.Image:
    return ImageOps.fit(_sample(name).image, (THUMB_SIDE, THUMB_SIDE))


def _gallery(prefix: str) -> str:
    """A strip of square thumbnails with a single-choice selector under it; returns the chosen name."""
    names = samples.available()
    st.image([_thumbnail(n) for n in names], caption=names, width=THUMB_SIDE)
    chosen = st.pills("Sample", names, default=names[0], key=f"{prefix}.sample", **KEEP, label_visibility="collapsed")
    return chosen or names[0]


@dataclass(frozen=True)
class Picked:
    loaded: LoadedImage
    key: str  # identifies the image for caches
    truth: np.ndarray | None = None  # (M, 4) ground-truth boxes when the image comes from a detection set
    label: str | None = None  # the true class when the image comes from a labelled classification set


@st.cache_resource(max_entries=4, show_spinner="Reading the dataset…")
def _dataset(name: str, source: str) -> DetectionSet | LabelledImages:
    return catalogue.load(name)


def _from_dataset(prefix: str) -> Picked | None:
    names = [n for n, e in catalogue.entries().items() if e.task != "verification" and e.available()]
    name = st.selectbox("Dataset", names, key=f"{prefix}.dataset", **KEEP)
    try:
        ds = _dataset(name, catalogue.entries()[name].source)
    except (DataError, OSError) as exc:
        st.error(f"{name} cannot be read: {exc}")
        return None
    count = len(ds.samples) if isinstance(ds, DetectionSet) else len(ds.images)
    index = st.number_input(f"Image (0–{count - 1})", 0, count - 1, 0, key=f"{prefix}.index", **KEEP)
    if isinstance(ds, DetectionSet):
        sample = ds.samples[int(index)]
        loaded = LoadedImage(open_image(sample.image), sample.image.name, (0, 0), "RGB")
        st.caption(f"**{name}** · {sample.image.name} · {sample.split} · {len(sample.boxes)} ground-truth box(es)")
        return Picked(loaded, f"data:{name}:{index}", sample.boxes)
    image = open_image(ds.images[int(index)])
    label = ds.classes[int(ds.targets[index])] if ds.classes else f"{ds.target_name} {ds.targets[index]:g}"
    st.caption(f"**{name}** · image {index} · {label}")
    return Picked(LoadedImage(image, f"{name}[{index}]", image.size, "RGB"), f"data:{name}:{index}",
                  label=ds.classes[int(ds.targets[index])] if ds.classes else None)


def pick_image(prefix: str) -> Picked | None:
    """A checked RGB image and a cache key for it, or None (with a message shown) when there is none yet."""
    mode = st.radio("Image", ["Sample photo", "Upload", "From a dataset"], horizontal=True, key=f"{prefix}.source", **KEEP)
    if mode == "From a dataset":
        return _from_dataset(prefix)
    if mode == "Sample photo":
        name = _gallery(prefix)
        loaded = _sample(name)
        st.caption(f"**{name}** · {samples.SAMPLES[name].shows} · {samples.SAMPLES[name].credit}")
        return Picked(loaded, f"sample:{name}")
    return uploaded("Upload an image (JPEG, PNG, WebP, BMP, TIFF or GIF)", f"{prefix}.upload",
                    "Choose an image file to upload, or pick a sample photo.")


def uploaded(label: str, key: str, hint: str) -> Picked | None:
    """An uploaded image, checked (a refusal is one message, never a traceback), with a key from its bytes."""
    upload = st.file_uploader(label, key=key)
    if upload is None:
        st.info(hint)
        return None
    data = upload.getvalue()
    try:
        loaded = load_image(data, upload.name)
    except ImageRejected as exc:
        st.error(str(exc))
        return None
    for note in loaded.notes:
        st.caption(f"{upload.name}: {note}")
    return Picked(loaded, "upload:" + hashlib.sha256(data).hexdigest())
