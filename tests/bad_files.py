"""Bad uploads made on the fly: each is a real file of the kind users send by mistake."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from skimage import data


def jpeg_bytes(quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def text_as_jpg() -> bytes:
    return b"name,age\nalice,31\nbob,27\n" * 20


def truncated_jpeg() -> bytes:
    whole = jpeg_bytes()
    return whole[: len(whole) // 2]


def huge_png(side: int = 20000) -> bytes:
    """A real 20000x20000 PNG (1-bit, so it is small on disk: a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, "PNG")
    return buf.getvalue()


def checkpoint_as_png() -> bytes:
    buf = io.BytesIO()
    torch.save({"weight": torch.zeros(3, 3)}, buf)
    return buf.getvalue()


def png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, "PNG")
    return buf.getvalue()


BAD_UPLOADS = {
    "notes.jpg": (text_as_jpg, "text file"),
    "cut.jpg": (truncated_jpeg, "truncated"),
    "bomb.png": (huge_png, "megapixels"),
    "model.png": (checkpoint_as_png, "checkpoint"),
    "empty.png": (lambda: b"", "empty"),
}
