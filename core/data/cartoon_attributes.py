"""Cartoon-face attributes as classification and regression sets, from the generator's exact labels.

Two sources of one face each: the 600 verification portraits (112 x 112) and every fully visible
face in the detection images, cut out with a margin and resized to the same size. Splits follow
the source (identity-disjoint for the portraits, image-disjoint for the detection faces).
`fatness` (0 to 1, how round the face is) is the offline stand-in for age in the regression study.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.data.cartoon_faces import VERIFICATION_CROP
from core.data.types import DataError, ImageRef, LabelledImages, open_image

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[2] / "assets" / "cartoon_faces"
SIZE = VERIFICATION_CROP  # the portraits' size: every crop is one
MARGIN = 0.2  # each side, as a fraction of the face box: the outline of the face must show for fatness
CLASSES: dict[str, list[str] | None] = {
    "fatness": None,
    "glasses": ["no glasses", "glasses"],
    "facial_hair": ["no facial hair", "facial hair"],
    "gender": ["female", "male"],
    "skin_tone": ["tone 1", "tone 2", "tone 3", "tone 4"],
}
# The generator's own column and values behind an attribute that is named neutrally here: facesjs picks a face's
# skin colour from one of four palettes, which its table names; the app shows them as tones 1 to 4.
COLUMNS: dict[str, tuple[str, list[str]]] = {"skin_tone": ("race", ["asian", "black", "brown", "white"])}
LICENCE = "Apache-2.0 (facesjs); see assets/cartoon_faces/LICENSE.md"


def _label(values: pd.Series, classes: list[str] | None) -> np.ndarray:
    if classes is None:
        return values.astype(float).to_numpy()
    text = values.astype(str).str.lower()
    names = {"true": classes[-1], "false": classes[0]}
    return np.array([classes.index(names.get(t, t)) for t in text])


def _portraits() -> tuple[list[ImageRef], pd.DataFrame]:
    import pandas as pd  # here, not at import: a trainer process that never reads the table starts faster

    table = pd.read_csv(ROOT / "verification" / "renderings.csv")
    return [ROOT / "verification" / f for f in table["file"]], table


def _detection_faces() -> tuple[list[ImageRef], pd.DataFrame]:
    import pandas as pd

    table = pd.read_csv(ROOT / "detection" / "manifest.csv")
    table = table[~table["occluded"] & ~table["truncated"]].reset_index(drop=True)
    crops: list[ImageRef] = []
    for file, faces in table.groupby("image", sort=False):
        image = open_image(ROOT / "detection" / str(file))
        for x1, y1, x2, y2 in faces[["x1", "y1", "x2", "y2"]].to_numpy():
            mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
            box = (int(x1 - mx), int(y1 - my), int(x2 + mx), int(y2 + my))
            crops.append(np.asarray(image.crop(box).resize((SIZE, SIZE), Image.Resampling.BILINEAR)))
    order = np.concatenate([idx for idx in table.groupby("image", sort=False).indices.values()])
    return crops, table.iloc[order].reset_index(drop=True)


def load(attribute: str) -> LabelledImages:
    """One attribute of every cartoon face: a class index, or fatness in [0, 1]."""
    if attribute not in CLASSES:
        raise KeyError(f"unknown cartoon attribute {attribute!r}; choose from {sorted(CLASSES)}")
    if not (ROOT / "verification" / "renderings.csv").is_file():
        raise DataError(f"{ROOT} has no cartoon faces; run python -m core.data.cartoon_faces")
    classes = CLASSES[attribute]
    images, targets, splits = [], [], []
    for refs, table in (_portraits(), _detection_faces()):
        images += refs
        column, values = COLUMNS.get(attribute, (attribute, None))
        targets.append(_label(table[column], values or classes))
        splits.append(table["split"].to_numpy(str))
    kind = "a stand-in for age" if classes is None else "exact generator labels"
    return LabelledImages(f"cartoon_faces/{attribute}", images, np.concatenate(targets), np.concatenate(splits),
                          classes, source=f"generated with facesjs ({kind})", licence=LICENCE, target_name=attribute)
