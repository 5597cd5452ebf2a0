"""Pick a sample photo or upload one; refusals become one clear message, never a traceback."""

from __future__ import annotations

import hashlib

import streamlit as st
from PIL import Image, ImageOps

from core.data import samples
from core.images import ImageRejected, LoadedImage, load_image

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
    chosen = st.pills("Sample", names, default=names[0], key=f"{prefix}.sample", label_visibility="collapsed")
    return chosen or names[0]


def pick_image(prefix: str) -> tuple[LoadedImage, str] | None:
    """A checked RGB image and a cache key for it, or None (with a message shown) when there is none yet."""
    mode = st.radio("Image", ["Sample photo", "Upload"], horizontal=True, key=f"{prefix}.source")
    if mode == "Sample photo":
        name = _gallery(prefix)
        loaded = _sample(name)
        st.caption(f"**{name}** · {samples.SAMPLES[name].shows} · {samples.SAMPLES[name].credit}")
        return loaded, f"sample:{name}"
    upload = st.file_uploader("Upload an image (JPEG, PNG, WebP, BMP, TIFF or GIF)", key=f"{prefix}.upload")
    if upload is None:
        st.info("Choose an image file to upload, or pick a sample photo.")
        return None
    data = upload.getvalue()
    try:
        loaded = load_image(data, upload.name)
    except ImageRejected as exc:
        st.error(str(exc))
        return None
    for note in loaded.notes:
        st.caption(f"{upload.name}: {note}")
    return loaded, "upload:" + hashlib.sha256(data).hexdigest()
