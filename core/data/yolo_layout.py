"""Any detection set written out in the layout ultralytics trains on, after a strict check.

The images are linked, not copied (each appears once, in one split); the labels are written anew
from the boxes the adapters read, so a YOLO, COCO, box-list or WIDER FACE set trains the same way.
A set with no train split is split 70/15/15 by image (seeded); one without val or test has them
carved out of train.

Before any training starts, `check` refuses a set with problems (a label line with the wrong
number of fields, coordinates outside [0, 1], a class index beyond the names, an unreadable image)
or with an empty training split, with one message naming the files and lines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.types import DataError, DetectionSample, DetectionSet

SPLITS = ("train", "val", "test")
CARVE = (0.7, 0.15, 0.15)  # train, val, test shares when a set has no splits
SHOWN_PROBLEMS = 5


def check(ds: DetectionSet) -> None:
    """DataError when the set cannot train as it is: its problems with file and line, or no training images."""
    if ds.problems:
        shown = "; ".join(str(p) for p in ds.problems[:SHOWN_PROBLEMS])
        more = f" (and {len(ds.problems) - SHOWN_PROBLEMS} more)" if len(ds.problems) > SHOWN_PROBLEMS else ""
        raise DataError(f"{ds.name} has {len(ds.problems)} problem(s); fix them before training: {shown}{more}")
    splits = assign_splits(ds)
    if not splits["train"]:
        raise DataError(f"{ds.name}: the training split is empty (splits: {ds.counts()})")
    if not any(len(s.boxes) for s in splits["train"]):
        raise DataError(f"{ds.name}: no training image has a box to learn from")


def assign_splits(ds: DetectionSet, seed: int = 0) -> dict[str, list[DetectionSample]]:
    """train, val and test samples: the set's own splits, with the missing ones carved out (seeded)."""
    own = {s: ds.split_samples(s) for s in SPLITS}
    if not own["train"]:
        pool = [s for s in ds.samples if s.split not in ("val", "test")]
        order = np.random.default_rng(seed).permutation(len(pool))
        cut = np.cumsum([int(round(f * len(pool))) for f in CARVE[:2]])
        own["train"] = [pool[i] for i in order[:cut[0]]]
        own["val"] = own["val"] or [pool[i] for i in order[cut[0]:cut[1]]]
        own["test"] = own["test"] or [pool[i] for i in order[cut[1]:]]
        return own
    for split in ("val", "test"):
        if not own[split]:
            n = max(1, int(round(CARVE[SPLITS.index(split)] * len(own["train"])))) if len(own["train"]) > 2 else 0
            order = np.random.default_rng(seed + SPLITS.index(split)).permutation(len(own["train"]))
            own[split] = [own["train"][i] for i in order[:n]]
            own["train"] = [own["train"][i] for i in order[n:]]
    return own


def key(ds: DetectionSet) -> str:
    """What the written layout depends on: image paths, splits, boxes and classes (a short hash)."""
    digest = hashlib.sha1(json.dumps(ds.classes).encode())
    for s in ds.samples:
        digest.update(f"{s.image}|{s.split}|".encode())
        digest.update(np.asarray(s.boxes, np.float64).tobytes() + np.asarray(s.labels, np.int64).tobytes())
    return digest.hexdigest()[:12]


def yolo_lines(sample: DetectionSample, width: int, height: int) -> str:
    """One "class cx cy w h" line per box, normalised, the box clipped to the image first."""
    lines = []
    for (x1, y1, x2, y2), label in zip(np.asarray(sample.boxes).reshape(-1, 4), sample.labels, strict=True):
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 > x1 and y2 > y1:
            lines.append(f"{int(label)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                         f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def write(ds: DetectionSet, folder: Path, seed: int = 0) -> Path:
    """The set under folder/KEY/ (images linked, labels written, data.yaml); reused when already written.
    Returns the data.yaml path."""
    check(ds)
    root = Path(folder) / f"{ds.name.replace('/', '_')}-{key(ds)}"
    data_yaml = root / "data.yaml"
    if data_yaml.is_file():
        return data_yaml
    for split, samples in assign_splits(ds, seed).items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, sample in enumerate(samples):
            stem = f"{i:05d}_{Path(sample.image).stem}"
            link = root / "images" / split / f"{stem}{Path(sample.image).suffix.lower()}"
            link.unlink(missing_ok=True)
            link.symlink_to(Path(sample.image).resolve())
            with Image.open(sample.image) as im:
                width, height = im.size
            (root / "labels" / split / f"{stem}.txt").write_text(yolo_lines(sample, width, height))
    names = "\n".join(f"  {i}: {json.dumps(n)}" for i, n in enumerate(ds.classes))
    data_yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\n"
                         f"names:\n{names}\n")
    return data_yaml
