"""Adapters for the standard formats users bring: ImageFolder, YOLO txt (and its crop cutter),
COCO json, LFW pairs, UTKFace names, plain box lists, WIDER FACE annotations.

Each reads a folder or file, skips bad samples with a Problem (file and line), and raises
DataError only when nothing usable is there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.types import (
    DataError,
    DetectionSample,
    DetectionSet,
    LabelledImages,
    Pair,
    Problem,
    VerificationSet,
    readable_image,
    relative_name,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
SPLIT_NAMES = ("train", "val", "valid", "test")


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _split_of(path: Path, root: Path) -> str:
    for part in path.relative_to(root).parts[:-1]:
        if part in SPLIT_NAMES:
            return "val" if part == "valid" else part
    return "all"


def _require_folder(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    return root


# ImageFolder ---------------------------------------------------------------------------------

def image_folder(root: Path, name: str = "") -> LabelledImages:
    """root/CLASS/*.jpg, or root/SPLIT/CLASS/*.jpg with SPLIT in train, val, test."""
    root = _require_folder(root)
    split_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name in SPLIT_NAMES]
    bases = split_dirs or [root]
    classes = sorted({d.name for base in bases for d in base.iterdir() if d.is_dir()})
    if not classes:
        raise DataError(f"{root} has no class folders (expected {root}/CLASS/image.jpg)")
    problems: list[Problem] = []
    images, targets, splits = [], [], []
    for base in bases:
        split = _split_of(base / "x" / "y", root) if base != root else "all"
        for index, cls in enumerate(classes):
            for path in images_under(base / cls) if (base / cls).is_dir() else []:
                if readable_image(path, problems, root):
                    images.append(path)
                    targets.append(index)
                    splits.append(split)
    if not images:
        raise DataError(f"{root} has class folders but no readable images")
    return LabelledImages(name or root.name, images, np.array(targets), np.array(splits), classes,
                          source=str(root), problems=problems)


# YOLO ----------------------------------------------------------------------------------------

def yolo_to_pixels(cx: float, cy: float, w: float, h: float, width: int, height: int) -> tuple[float, ...]:
    """Normalised YOLO (cx, cy, w, h) to a pixel box x1 y1 x2 y2.

    x1 = W * (cx - w/2): the half-width is taken inside the bracket. (The KITTI study printed
    W * cx - w/2, which subtracts a normalised half-width from a pixel coordinate.)
    """
    return (width * (cx - w / 2), height * (cy - h / 2), width * (cx + w / 2), height * (cy + h / 2))


def _yolo_names(root: Path) -> list[str] | None:
    for candidate in ("classes.txt", "obj.names"):
        if (root / candidate).is_file():
            return [line.strip() for line in (root / candidate).read_text().splitlines() if line.strip()]
    for candidate in ("data.yaml", "dataset.yaml"):
        if (root / candidate).is_file():
            import yaml

            names = (yaml.safe_load((root / candidate).read_text()) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
    return None


def _label_for(image: Path) -> Path:
    """ultralytics' rule: the label file's path is the image's with its last images/ folder read as labels/."""
    parts = list(image.parts)
    at = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:at], "labels", *parts[at + 1:]).with_suffix(".txt")


def yolo(root: Path, name: str = "") -> DetectionSet:
    """root/images/[SPLIT/]x.jpg with root/labels/[SPLIT/]x.txt: "class cx cy w h" per line, normalised.

    Class names from classes.txt, obj.names or data.yaml when present. An image without a label
    file has no boxes. Bad lines (field count, non-numbers, coordinates outside [0, 1], sizes
    <= 0, unknown class ids) are skipped and reported.
    """
    root = _require_folder(root)
    if not (root / "images").is_dir():
        raise DataError(f"{root} is not a YOLO folder: it has no images/ folder")
    images = [(image, _split_of(image, root / "images")) for image in images_under(root / "images")]
    return _yolo_set(root, images, _yolo_names(root), name)


def yolo_yaml(yaml_file: Path, name: str = "") -> DetectionSet:
    """A YOLO set described by a data.yaml (ultralytics' layout): train, val and test name image folders,
    relative to its `path` (or to the yaml's folder); labels sit in the matching labels/ folders. A split
    that points nowhere is a DataError naming the yaml's line."""
    import yaml

    text = yaml_file.read_text(errors="replace")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{yaml_file.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "train" not in data:
        raise DataError(f"{yaml_file.name}: expected the keys train, val (and test, names) of a YOLO data.yaml")
    base = Path(str(data.get("path") or "."))
    base = base if base.is_absolute() else yaml_file.parent / base
    images = []
    for split in ("train", "val", "test"):
        entries = data.get(split) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            folder = _yaml_folder(base, str(entry))
            if not folder.is_dir():
                line = next((n for n, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith(f"{split}:")), None)
                why = f"{split}: {entry} points to {folder}, which is not a folder of images"
                raise DataError(str(Problem(yaml_file.name, line, why)))
            images += [(image, split) for image in images_under(folder)]
    return _yolo_set(yaml_file.parent, images, _yolo_names(yaml_file.parent), name)


def _yaml_folder(base: Path, entry: str) -> Path:
    folder = (base / entry).resolve()
    if not folder.exists() and entry.startswith("../"):  # Roboflow's exports: as ultralytics reads them
        folder = (base / entry[3:]).resolve()
    return folder


def _yolo_set(root: Path, images: list[tuple[Path, str]], names: list[str] | None, name: str) -> DetectionSet:
    problems: list[Problem] = []
    samples = []
    seen_ids: set[int] = set()
    for image, split in images:
        if not readable_image(image, problems, root):
            continue
        with Image.open(image) as im:
            width, height = im.size
        boxes, labels = [], []
        label_file = _label_for(image)
        lines = label_file.read_text(errors="replace").splitlines() if label_file.is_file() else []
        for n, line in enumerate(lines, start=1):
            parsed = _yolo_line(line, names)
            if isinstance(parsed, str):
                problems.append(Problem(relative_name(label_file, root), n, parsed))
                continue
            if parsed is None:
                continue
            cls, cx, cy, w, h = parsed
            seen_ids.add(cls)
            boxes.append(yolo_to_pixels(cx, cy, w, h, width, height))
            labels.append(cls)
        samples.append(DetectionSample(image, np.array(boxes, float).reshape(-1, 4), np.array(labels, int), split))
    if not samples:
        raise DataError(f"{root} has no readable images")
    classes = names or [str(i) for i in range(max(seen_ids, default=-1) + 1)]
    return DetectionSet(name or root.name, samples, classes, source=str(root), problems=problems)


def _yolo_line(line: str, names: list[str] | None) -> tuple[int, float, float, float, float] | str | None:
    fields = line.split()
    if not fields:
        return None
    if len(fields) != 5:
        return f"expected 5 fields (class cx cy w h), got {len(fields)}"
    try:
        cls = int(fields[0])
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        return f"not numbers: {line.strip()!r}"
    if cls < 0 or (names is not None and cls >= len(names)):
        return f"unknown class id {cls}" + (f" (classes 0..{len(names) - 1})" if names else "")
    values = np.array([cx, cy, w, h])
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        return f"coordinates outside [0, 1]: {line.strip()!r}"
    if w <= 0 or h <= 0:
        return f"box of zero size: {line.strip()!r}"
    return cls, cx, cy, w, h


def crops(dataset: DetectionSet, size: int = 64, min_side: float = 4.0) -> LabelledImages:
    """The KITTI study's crop cutter: each box cut out (clipped to the image) and resized to size x size."""
    images, targets, splits = [], [], []
    for sample in dataset.samples:
        if not len(sample.boxes):
            continue
        with Image.open(sample.image) as im:
            rgb = im.convert("RGB")
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            x1, y1 = max(box[0], 0), max(box[1], 0)
            x2, y2 = min(box[2], rgb.width), min(box[3], rgb.height)
            if x2 - x1 < min_side or y2 - y1 < min_side:
                continue
            images.append(np.asarray(rgb.crop((x1, y1, x2, y2)).resize((size, size), Image.Resampling.BILINEAR)))
            targets.append(int(label))
            splits.append(sample.split)
    if not images:
        raise DataError(f"{dataset.name} has no boxes of at least {min_side} px to crop")
    return LabelledImages(f"{dataset.name} crops", images, np.array(targets), np.array(splits), dataset.classes,
                          source=dataset.source, licence=dataset.licence, problems=list(dataset.problems))


# COCO ----------------------------------------------------------------------------------------

def coco(annotation_file: Path, image_root: Path | None = None, split: str = "all", name: str = "") -> DetectionSet:
    """COCO json (images, annotations with bbox x y w h, categories); images relative to image_root."""
    annotation_file = Path(annotation_file)
    image_root = Path(image_root) if image_root else annotation_file.parent
    try:
        data = json.loads(annotation_file.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{annotation_file} is not readable COCO json: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{annotation_file} is not COCO json: no 'images' list")
    categories = sorted(data.get("categories", []), key=lambda c: c.get("id", 0))
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    problems: list[Problem] = []
    per_image: dict = {im.get("id"): ([], []) for im in data["images"]}
    for n, ann in enumerate(data.get("annotations", [])):
        where = f"{annotation_file.name} annotation {n}"
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            image_id, cat = ann["image_id"], ann["category_id"]
        except (KeyError, TypeError, ValueError):
            problems.append(Problem(where, None, "needs image_id, category_id and a 4-number bbox"))
            continue
        if image_id not in per_image:
            problems.append(Problem(where, None, f"unknown image id {image_id!r}"))
        elif cat not in cat_index:
            problems.append(Problem(where, None, f"unknown category id {cat!r}"))
        elif not (w > 0 and h > 0 and np.isfinite([x, y, w, h]).all()):
            problems.append(Problem(where, None, f"bbox of zero or negative size {ann['bbox']}"))
        else:
            per_image[image_id][0].append((x, y, x + w, y + h))
            per_image[image_id][1].append(cat_index[cat])
    samples = []
    for im in data["images"]:
        path = image_root / str(im.get("file_name", ""))
        if not readable_image(path, problems, image_root):
            continue
        boxes, labels = per_image[im.get("id")]
        samples.append(DetectionSample(path, np.array(boxes, float).reshape(-1, 4), np.array(labels, int), split))
    if not samples:
        raise DataError(f"none of the images listed in {annotation_file} could be read under {image_root}")
    return DetectionSet(name or annotation_file.stem, samples, [str(c.get("name", c["id"])) for c in categories],
                        source=str(annotation_file), problems=problems)


# Plain box list and WIDER FACE ---------------------------------------------------------------

def box_list(list_file: Path, image_root: Path | None = None, name: str = "") -> DetectionSet:
    """One box per line, "image x1 y1 x2 y2 label" (the cartoon-face study's annotation files)."""
    list_file = Path(list_file)
    image_root = Path(image_root) if image_root else list_file.parent
    problems: list[Problem] = []
    entries: dict[str, list] = {}
    classes: list[str] = []
    for n, line in enumerate(list_file.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 6:
            problems.append(Problem(list_file.name, n, f"expected 6 fields (image x1 y1 x2 y2 label), got {len(fields)}"))
            continue
        try:
            x1, y1, x2, y2 = (float(v) for v in fields[1:5])
        except ValueError:
            problems.append(Problem(list_file.name, n, f"box is not numbers: {line.strip()!r}"))
            continue
        if not (x2 > x1 and y2 > y1):
            problems.append(Problem(list_file.name, n, f"box has x2 <= x1 or y2 <= y1: {line.strip()!r}"))
            continue
        if fields[5] not in classes:
            classes.append(fields[5])
        entries.setdefault(fields[0], []).append(((x1, y1, x2, y2), classes.index(fields[5])))
    samples = []
    for image, boxes in entries.items():
        path = image_root / image
        if readable_image(path, problems, image_root):
            samples.append(DetectionSample(path, np.array([b for b, _ in boxes], float),
                                           np.array([c for _, c in boxes], int)))
    if not samples:
        raise DataError(f"{list_file} lists no readable images with valid boxes")
    return DetectionSet(name or list_file.stem, samples, classes, source=str(list_file), problems=problems)


def wider_face(annotation_file: Path, image_root: Path, split: str = "all", name: str = "") -> DetectionSet:
    """WIDER FACE wider_face_{split}_bbx_gt.txt: file name, count, then count lines
    "x y w h blur expression illumination invalid occlusion pose" (a count of 0 still has one line)."""
    annotation_file = Path(annotation_file)
    lines = annotation_file.read_text(errors="replace").splitlines()
    problems: list[Problem] = []
    samples = []
    i = 0
    while i < len(lines):
        file_line = i + 1
        rel = lines[i].strip()
        if not rel:
            i += 1
            continue
        try:
            count = int(lines[i + 1])
        except (IndexError, ValueError):
            problems.append(Problem(annotation_file.name, file_line + 1, f"expected a face count after {rel!r}"))
            break
        rows = lines[i + 2:i + 2 + max(count, 1)]
        i += 2 + max(count, 1)
        boxes = []
        for k, row in enumerate(rows[:count]):
            fields = row.split()
            try:
                x, y, w, h, *_, invalid = (float(v) for v in fields[:8])
            except ValueError:
                problems.append(Problem(annotation_file.name, file_line + 2 + k, f"malformed box line {row.strip()!r}"))
                continue
            if invalid or w <= 0 or h <= 0:
                continue  # WIDER marks invalid faces; they are not scored
            boxes.append((x, y, x + w, y + h))
        path = Path(image_root) / rel
        if readable_image(path, problems, Path(image_root)):
            samples.append(DetectionSample(path, np.array(boxes, float).reshape(-1, 4), np.zeros(len(boxes), int),
                                           split))
    if not samples:
        raise DataError(f"{annotation_file} lists no readable images under {image_root}")
    return DetectionSet(name or annotation_file.stem, samples, ["face"], source=str(annotation_file),
                        problems=problems)


# UTKFace -------------------------------------------------------------------------------------

UTK_NAME = re.compile(r"^(\d+)_(\d)_(\d)_(\d+)")
UTK_GENDERS = ("male", "female")
UTK_RACES = ("white", "black", "asian", "indian", "others")


def utkface(root: Path, name: str = "UTKFace") -> LabelledImages:
    """UTKFace crops named age_gender_race_date.jpg; the target is the age in years."""
    root = _require_folder(root)
    problems: list[Problem] = []
    images, ages, splits = [], [], []
    for path in images_under(root):
        match = UTK_NAME.match(path.name)
        if not match:
            problems.append(Problem(relative_name(path, root), None, "name is not age_gender_race_date.jpg"))
            continue
        age, gender, race = (int(g) for g in match.groups()[:3])
        if not (0 <= age <= 120 and gender < len(UTK_GENDERS) and race < len(UTK_RACES)):
            problems.append(Problem(relative_name(path, root), None, f"age {age}, gender {gender} or race {race} out of range"))
            continue
        if readable_image(path, problems, root):
            images.append(path)
            ages.append(float(age))
            splits.append(_split_of(path, root))
    if not images:
        raise DataError(f"{root} has no UTKFace images (age_gender_race_date.jpg)")
    return LabelledImages(name, images, np.array(ages), np.array(splits), None, source=str(root),
                          licence="UTKFace: non-commercial research", problems=problems, target_name="age")


# LFW -----------------------------------------------------------------------------------------

def lfw_pairs(root: Path, pairs_file: Path | None = None, split: str = "all", name: str = "") -> VerificationSet:
    """LFW layout: root/NAME/NAME_0001.jpg and a pairs.txt: an optional header line, then
    "name i j" (same person) or "name1 i name2 j" (different people) per line."""
    root = _require_folder(root)
    pairs_file = Path(pairs_file) if pairs_file else root / "pairs.txt"
    if not pairs_file.is_file():
        raise DataError(f"no pairs file at {pairs_file}")
    problems: list[Problem] = []
    pairs = []
    seen: dict[tuple, int] = {}
    for n, line in enumerate(pairs_file.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields or (n == 1 and all(f.isdigit() for f in fields)):
            continue  # the header: number of folds and pairs per fold
        try:
            if len(fields) == 3:
                a, b, same = (fields[0], int(fields[1])), (fields[0], int(fields[2])), True
            elif len(fields) == 4:
                a, b, same = (fields[0], int(fields[1])), (fields[2], int(fields[3])), False
            else:
                raise ValueError(f"expected 3 or 4 fields, got {len(fields)}")
        except ValueError as exc:
            problems.append(Problem(pairs_file.name, n, str(exc)))
            continue
        paths = [_lfw_image(root, person, index) for person, index in (a, b)]
        if any(p is None for p in paths):
            problems.append(Problem(pairs_file.name, n, _why_missing(root, a, b, same)))
            continue
        key = (same, *sorted(map(str, paths)))
        if paths[0] == paths[1]:
            problems.append(Problem(pairs_file.name, n, f"pairs {paths[0].name} with itself"))
        elif key in seen:
            problems.append(Problem(pairs_file.name, n, f"duplicate of line {seen[key]}: {line.strip()}"))
        else:
            seen[key] = n
            pairs.append(Pair(paths[0], paths[1], same, split))
    if not pairs:
        raise DataError(f"{pairs_file} gives no pairs whose images are under {root}")
    return VerificationSet(name or root.name, pairs, source=str(pairs_file), problems=problems)


def _why_missing(root: Path, a: tuple[str, int], b: tuple[str, int], same: bool) -> str:
    person = a[0]
    folder = root / person
    images = images_under(folder) if folder.is_dir() else []
    if same and len(images) == 1:
        return f"{person} has one image, and a same-person pair needs two"
    return "image not found for " + " and ".join(f"{p} {i}" for p, i in (a, b) if _lfw_image(root, p, i) is None)


def _lfw_image(root: Path, person: str, index: int) -> Path | None:
    for suffix in (".jpg", ".png", ".jpeg"):
        path = root / person / f"{person}_{index:04d}{suffix}"
        if path.is_file():
            return path
    return None


def lfw_torchvision(root: Path, split: str = "test", download: bool = False) -> VerificationSet:
    """torchvision's LFWPairs (funneled images) when present under root, or downloaded when asked and online.
    split "10fold" is the official pairs.txt (10 folds of 300 same and 300 different pairs): scored whole."""
    from torchvision.datasets import LFWPairs

    try:
        tv = LFWPairs(str(root), split=split, image_set="funneled", download=download)
    except (RuntimeError, OSError) as exc:
        raise DataError(f"torchvision LFWPairs not available under {root} ({exc}); download it with a network, "
                        "or point the LFW adapter at a folder with pairs.txt") from None
    label = "all" if split == "10fold" else split
    pairs = [Pair(Path(a), Path(b), bool(same), label) for (a, b), same in zip(tv.data, tv.targets, strict=True)]
    return VerificationSet("LFW", pairs, source="torchvision LFWPairs", licence="LFW terms of use")
