"""Images in: uploads and files checked by content, limited in size, normalised to RGB.

Every refusal is an ``ImageRejected`` whose message says what was wrong and what to do.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 50 * 2**20
MAX_PIXELS = 50_000_000  # an 8000x6000 photo (48 MP) passes; a 20000x20000 bomb (400 MP) does not
MODEL_MAX_SIDE = 2048  # larger images are downscaled before any model sees them
EXIF_ORIENTATION = 0x0112
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


class ImageRejected(ValueError):
    """An input that is not a usable image; the message is meant for the user."""


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image  # RGB, at most MODEL_MAX_SIDE on its longer side
    name: str
    original_size: tuple[int, int]  # (width, height) as stored in the file
    original_mode: str
    notes: list[str] = field(default_factory=list)


def _what_is_it(data: bytes) -> str:
    """A guess at what a non-image is, for the refusal message."""
    if data[:4] == b"PK\x03\x04":
        return "a zip archive (a PyTorch .pt checkpoint is one)"
    if data[:2] == b"\x80\x02" or data[:1] == b"\x80":
        return "a pickle file (a PyTorch checkpoint?)"
    if data[:5] == b"%PDF-":
        return "a PDF document"
    try:
        data[:4096].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "not an image in a format we read"


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit and float scaled, alpha composited on white, palettes expanded."""
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(arr / 257.0 if arr.max() > 255 else arr, 0, 255).astype(np.uint8))
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        im = Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8))
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def load_image(data: bytes, name: str = "upload") -> LoadedImage:
    """Decode bytes into a checked RGB image, or raise ImageRejected with a message for the user."""
    if not data:
        raise ImageRejected(f"{name} is empty (0 bytes). Choose an image file.")
    if len(data) > MAX_BYTES:
        raise ImageRejected(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageRejected(f"{name} is {_what_is_it(data)}, not an image. Use JPEG, PNG, WebP, BMP, TIFF or GIF."
                                ) from None
        raise ImageRejected(f"{name} is far too large in pixels (a decompression bomb?); "
                            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels.") from None
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageRejected(f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first.")
    if width < 1 or height < 1:
        raise ImageRejected(f"{name} has no pixels ({width}×{height}).")
    try:
        im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"{name} is truncated or corrupt ({exc}). Save it again or choose another file."
                            ) from None
    mode = im.mode
    notes = []
    if im.getexif().get(EXIF_ORIENTATION, 1) != 1:
        notes.append("rotated to its EXIF orientation")
    rgb = _to_rgb(ImageOps.exif_transpose(im))
    if mode != "RGB":
        notes.append(f"converted from {mode} to RGB")
    if max(rgb.size) > MODEL_MAX_SIDE:
        before = rgb.size
        rgb.thumbnail((MODEL_MAX_SIDE, MODEL_MAX_SIDE), Image.Resampling.LANCZOS)
        notes.append(f"downscaled from {before[0]}×{before[1]} to {rgb.size[0]}×{rgb.size[1]} for the models")
    return LoadedImage(rgb, name, (width, height), mode, notes)


def load_path(path: Path | str) -> LoadedImage:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageRejected(f"{path} cannot be read ({exc.strerror}).") from None
    if size > MAX_BYTES:
        raise ImageRejected(f"{path.name} is {size / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    return load_image(path.read_bytes(), path.name)
