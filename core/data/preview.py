"""Small preview images of a dataset: boxes drawn for detection, the target as caption otherwise."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from core.data.types import Dataset, DetectionSet, LabelledImages, open_image

THUMB = 160
BOX_COLOUR = (44, 160, 44)


def previews(ds: Dataset, n: int = 12, seed: int = 0) -> list[tuple[Image.Image, str]]:
    """Up to n (thumbnail, caption) pairs drawn at random with a fixed seed."""
    rng = np.random.default_rng(seed)
    if isinstance(ds, DetectionSet):
        picks = rng.choice(len(ds.samples), min(n, len(ds.samples)), replace=False)
        out = []
        for i in picks:
            s = ds.samples[i]
            im = open_image(s.image)
            draw = ImageDraw.Draw(im)
            for box in s.boxes:
                draw.rectangle([float(v) for v in box], outline=BOX_COLOUR, width=max(2, im.width // 150))
            out.append((ImageOps.contain(im, (THUMB, THUMB)), f"{s.image.name} · {len(s.boxes)} box(es)"))
        return out
    if isinstance(ds, LabelledImages):
        picks = rng.choice(len(ds.images), min(n, len(ds.images)), replace=False)
        return [(ImageOps.contain(open_image(ds.images[i]), (THUMB, THUMB), Image.Resampling.NEAREST),
                 ds.classes[int(ds.targets[i])] if ds.classes else f"{ds.target_name} {ds.targets[i]:g}")
                for i in picks]
    picks = rng.choice(len(ds.pairs), min(n // 2, len(ds.pairs)), replace=False)
    out = []
    for i in picks:
        p = ds.pairs[i]
        a, b = (ImageOps.contain(open_image(x), (THUMB // 2, THUMB)) for x in (p.a, p.b))
        joined = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
        joined.paste(a, (0, 0))
        joined.paste(b, (a.width, 0))
        out.append((joined, "same" if p.same else "different"))
    return out
