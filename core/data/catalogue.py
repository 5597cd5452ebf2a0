"""Every dataset the dashboard knows: built-in sets, and folders users brought (user_data/ or $TLDASH_DATA_DIR).

Loading is cached per process; `describe(path)` recognises a folder's format and reports its
statistics and problems.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import archive, cartoon_attributes, domains, fashion_mnist, formats, identities
from core.data.archive import dataset_root
from core.data.types import DataError, Dataset, DetectionSet, LabelledImages, VerificationSet

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CARTOON = ASSETS / "cartoon_faces"
USER_DIR_ENV = "TLDASH_DATA_DIR"
SIZE_SAMPLE = 200


def user_dir() -> Path:
    return Path(os.environ.get(USER_DIR_ENV, "user_data"))


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    content: str
    source: str
    licence: str
    load: Callable[[], Dataset]
    available: Callable[[], bool] = lambda: True


def _cartoon_verification() -> VerificationSet:
    parts = [formats.lfw_pairs(CARTOON / "verification" / "images", CARTOON / "verification" / f"pairs_{s}.txt", s)
             for s in ("train", "val", "test")]
    return VerificationSet("cartoon_faces/verification", [p for part in parts for p in part.pairs],
                           source=str(CARTOON / "verification"), licence="Apache-2.0 (facesjs); see LICENSE.md",
                           problems=[q for part in parts for q in part.problems])


def _lfw_subset() -> LabelledImages:
    from skimage.data import lfw_subset

    patches = (lfw_subset() * 255).round().astype(np.uint8)  # floats in [0, 1]: 100 faces, then 100 non-faces
    labels = np.repeat([1, 0], 100)
    split = np.where(np.arange(200) % 5 == 0, "test", "train")
    return LabelledImages("lfw_subset", list(patches), labels, split, ["non-face", "face"], source="scikit-image",
                          licence="LFW terms of use")


def _digits() -> LabelledImages:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * (255 / 16)).round().astype(np.uint8)
    split = np.where(np.arange(len(images)) % 5 == 0, "test", "train")
    return LabelledImages("digits", list(images), d.target.astype(int), split, [str(i) for i in range(10)],
                          source="scikit-learn", licence="CC BY 4.0")


def _cartoon_patches() -> LabelledImages:
    detection = formats.yolo(CARTOON / "detection", "cartoon_faces/detection")
    return domains.face_patches(detection, "cartoon_faces/patches")


def _fashion_shifted(shift: str) -> LabelledImages:
    return domains.shifted(fashion_mnist.balanced_sample(), shift)


BUILTIN: dict[str, Entry] = {e.name: e for e in [
    Entry("cartoon_faces/detection", "detection", "600 generated images, 0-5 cartoon faces each, exact boxes",
          "generated with facesjs (assets/cartoon_faces)", "Apache-2.0 (facesjs); see LICENSE.md",
          lambda: formats.yolo(CARTOON / "detection", "cartoon_faces/detection"),
          lambda: (CARTOON / "detection" / "images").is_dir()),
    Entry("cartoon_faces/verification", "verification", "150 identities x 4 renderings, identity-disjoint pairs",
          "generated with facesjs (assets/cartoon_faces)", "Apache-2.0 (facesjs); see LICENSE.md",
          _cartoon_verification, lambda: (CARTOON / "verification" / "pairs_test.txt").is_file()),
    Entry("lfw", "verification", "LFW's official pairs.txt: 10 folds of 300 same and 300 different pairs",
          "torchvision LFWPairs (funneled) under the user data folder; fetch it with a network: "
          "python -c \"from torchvision.datasets import LFWPairs; LFWPairs('user_data', split='10fold', "
          "image_set='funneled', download=True)\"", "LFW terms of use",
          lambda: formats.lfw_torchvision(user_dir(), split="10fold"), lambda: (user_dir() / "lfw-py").is_dir()),
    Entry("fashion_mnist_imbalanced3", "classification",
          "Sneaker / Sandal / Ankle boot with the KITTI study's counts 2074 / 303 / 122",
          "embedded subset of Fashion-MNIST", fashion_mnist.LICENCE, fashion_mnist.imbalanced,
          fashion_mnist.SUBSET.is_file),
    Entry("fashion_mnist_sample", "classification", "100 test images of each of 10 clothing classes",
          "embedded subset of Fashion-MNIST", fashion_mnist.LICENCE, fashion_mnist.balanced_sample,
          fashion_mnist.SUBSET.is_file),
    Entry("fashion_mnist", "classification", "70,000 28x28 clothing photos, 10 classes",
          "Debian dataset-fashion-mnist, or torchvision's download", fashion_mnist.LICENCE, fashion_mnist.full,
          lambda: (fashion_mnist.DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file()),
    Entry("lfw_subset", "classification", "200 grayscale 25x25 patches: 100 faces, 100 non-faces",
          "scikit-image", "LFW terms of use", _lfw_subset),
    Entry("digits", "classification", "1,797 8x8 handwritten digits", "scikit-learn", "CC BY 4.0", _digits),
    Entry("cartoon_faces/patches", "classification",
          "200 grayscale 25x25 patches of the cartoon photos: 100 faces, 100 non-faces (lfw_subset's cartoon twin)",
          "cut from assets/cartoon_faces/detection", "Apache-2.0 (facesjs); see LICENSE.md", _cartoon_patches,
          lambda: (CARTOON / "detection" / "images").is_dir()),
    *[Entry(f"fashion_mnist_sample/{shift}", "classification",
            f"fashion_mnist_sample shifted: {how}", "embedded subset of Fashion-MNIST", fashion_mnist.LICENCE,
            lambda shift=shift: _fashion_shifted(shift), fashion_mnist.SUBSET.is_file)
      for shift, how in domains.SHIFTS.items()],
    *[Entry(f"cartoon_faces/{a}", "classification" if classes else "regression",
            f"1,559 cartoon faces labelled {' / '.join(classes)}" if classes else
            "1,559 cartoon faces with their fatness in [0, 1]: an offline stand-in for age",
            "generated with facesjs (assets/cartoon_faces)", cartoon_attributes.LICENCE,
            lambda a=a: cartoon_attributes.load(a), lambda: (CARTOON / "verification" / "renderings.csv").is_file())
      for a, classes in cartoon_attributes.CLASSES.items()],
]}


def detect_format(path: Path) -> tuple[str, Callable[[], Dataset]]:
    """The format of a folder or file, and a loader for it; DataError when none fits."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".json":
            return "coco", lambda: formats.coco(path)
        if path.suffix == ".txt":
            head = [ln.split() for ln in path.read_text(errors="replace").splitlines()[:2]]
            if len(head) == 2 and len(head[0]) == 1 and len(head[1]) == 1 and head[1][0].isdigit():
                return "wider_face", lambda: formats.wider_face(path, path.parent / "images")
            return "box_list", lambda: formats.box_list(path)
        raise DataError(f"{path.name}: not a dataset file (expected COCO .json or a .txt box list)")
    if not path.is_dir():
        raise DataError(f"{path} does not exist")
    if (path / "pairs.txt").is_file():
        return "lfw", lambda: formats.lfw_pairs(path)
    described = [p for p in (path / "data.yaml", path / "dataset.yaml") if _is_yolo_yaml(p)]
    if described:
        return "yolo", lambda: formats.yolo_yaml(described[0])
    if (path / "images").is_dir() and (path / "labels").is_dir():
        return "yolo", lambda: formats.yolo(path)
    jsons = [p for p in sorted(path.glob("*.json")) if _is_coco(p)]
    if jsons:
        return "coco", lambda: formats.coco(jsons[0], path)
    wider = sorted(path.glob("wider_face_*_bbx_gt.txt"))
    if wider:
        return "wider_face", lambda: formats.wider_face(wider[0], path / "images")
    images = [p for p in path.rglob("*") if p.suffix.lower() in formats.IMAGE_SUFFIXES]
    if images and sum(bool(formats.UTK_NAME.match(p.name)) for p in images) > 0.8 * len(images):
        return "utkface", lambda: formats.utkface(path)
    if any(d.is_dir() for d in path.iterdir()):
        return "image_folder", lambda: formats.image_folder(path)
    lists = [p for p in sorted(path.glob("*.txt")) if _is_box_list(p)]
    if lists:
        return "box_list", lambda: formats.box_list(lists[0])
    raise DataError(f"{path}: format not recognised. Expected an ImageFolder (CLASS/image.jpg), YOLO (images/ and "
                    "labels/), COCO json, LFW (pairs.txt), UTKFace (age_gender_race_date.jpg), a box list "
                    "(image x1 y1 x2 y2 label) or WIDER FACE (wider_face_*_bbx_gt.txt)")


def _is_coco(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "images" in data and "annotations" in data


def _is_yolo_yaml(path: Path) -> bool:
    """A data.yaml naming a train split (ultralytics' dataset file)."""
    return path.is_file() and any(ln.strip().startswith("train:") for ln in path.read_text(errors="replace").splitlines())


def _is_box_list(path: Path) -> bool:
    """Most of the first lines read "image x1 y1 x2 y2 label" (bad lines are the adapter's to report)."""
    lines = [ln.split() for ln in path.read_text(errors="replace").splitlines() if ln.strip()][:10]
    return bool(lines) and sum(len(ln) == 6 and _numbers(ln[1:5]) for ln in lines) >= 0.6 * len(lines)


def _numbers(fields: list[str]) -> bool:
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


SOURCE_HASH = ".source-sha256"  # in a user folder: the hash of the zip it came from, to spot a re-upload


@dataclass(frozen=True)
class Added:
    name: str  # "user/FOLDER"
    format: str
    problems: list[str]
    again: bool = False  # the same zip was added before: nothing new was written


def add_zip(source: bytes, filename: str) -> Added:
    """A user's zip as a dataset folder: the same bytes added before give the existing folder back; a zip whose
    content is no recognised format is removed again and refused (DataError), leaving nothing on disk."""
    digest = hashlib.sha256(source).hexdigest()
    root = user_dir()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        mark = folder / SOURCE_HASH
        if mark.is_file() and mark.read_text().strip() == digest:
            fmt, _ = detect_format(dataset_root(folder))
            return Added(f"user/{folder.name}", fmt, [], again=True)
    result = archive.extract_zip(source, root, filename)
    try:
        fmt, _ = detect_format(result.root)
    except DataError as exc:
        shutil.rmtree(result.folder, ignore_errors=True)
        raise DataError(f"{filename}: {exc}; nothing was kept") from None
    (result.folder / SOURCE_HASH).write_text(digest)
    return Added(f"user/{result.folder.name}", fmt, [str(p) for p in result.problems])


def remove_user(name: str) -> None:
    """Delete a user's dataset folder ("user/FOLDER") with its files; built-in sets cannot be removed."""
    folder = user_dir() / name.removeprefix("user/")
    if not name.startswith("user/") or folder.parent.resolve() != user_dir().resolve() or not folder.is_dir():
        raise DataError(f"{name} is not a dataset a user brought")
    shutil.rmtree(folder)
    _load_cached.cache_clear()


def user_entries() -> dict[str, Entry]:
    """One entry per folder in the user data folder whose format is recognised."""
    found = {}
    root = user_dir()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        try:
            fmt, loader = detect_format(dataset_root(folder))
        except DataError:
            continue
        task = {"yolo": "detection", "coco": "detection", "wider_face": "detection", "box_list": "detection",
                "lfw": "verification", "utkface": "regression"}.get(fmt, "classification")
        found[f"user/{folder.name}"] = Entry(f"user/{folder.name}", task, f"{fmt} folder brought by a user",
                                             str(dataset_root(folder)), "the user's", loader)
    return found


def entries() -> dict[str, Entry]:
    return {**BUILTIN, **user_entries()}


def load(name: str) -> Dataset:
    """A dataset by name, cached per process (the cartoon detection set loads once)."""
    known = entries()
    if name not in known:
        raise KeyError(f"unknown dataset {name!r}; choose from {sorted(known)}")
    return _load_cached(name, known[name].source)


CROPS = "crops of "


def labelled_names(task: str) -> list[str]:
    """The sets a backbone can train on for this task ("classification" or "regression"): labelled
    sets, and for classification the box crops of every detection set with two or more classes."""
    known = entries()
    names = [n for n, e in known.items() if e.task == task and e.available()]
    if task == "classification":
        names += [CROPS + n for n, e in known.items() if e.task == "detection" and e.available()
                  and n != "cartoon_faces/detection"]  # one class (face): nothing to classify
    return names


def labelled(name: str) -> LabelledImages:
    """A labelled set by name; "crops of NAME" cuts the boxes of detection set NAME (the KITTI study's crops)."""
    data = load(name.removeprefix(CROPS))
    if name.startswith(CROPS):
        if not isinstance(data, DetectionSet):
            raise DataError(f"{name.removeprefix(CROPS)} is a {data.task} set; only detection sets have boxes to cut")
        return _crops_cached(name, entries()[name.removeprefix(CROPS)].source)
    if not isinstance(data, LabelledImages):
        raise DataError(f"{name} is a {data.task} set; training a backbone needs one label per image")
    return data


@functools.lru_cache(maxsize=4)
def _crops_cached(name: str, source: str) -> LabelledImages:
    return formats.crops(load(name.removeprefix(CROPS)))


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, source: str) -> Dataset:
    return entries()[name].load()


def describe_dataset(ds: Dataset, fmt: str = "") -> dict:
    """Counts, classes, sizes, boxes per image and problems: JSON-ready."""
    out: dict = {"name": ds.name, **({"format": fmt} if fmt else {}), "task": ds.task, "splits": ds.counts(),
                 "problems": [str(p) for p in ds.problems]}
    if isinstance(ds, LabelledImages):
        out["samples"] = len(ds.images)
        if ds.classes is not None:
            out["classes"] = ds.class_counts()
        else:
            out["target"] = {"name": ds.target_name, "min": float(ds.targets.min()), "max": float(ds.targets.max()),
                             "mean": float(ds.targets.mean())}
        out["image_sizes"] = _sizes(ds.images[:SIZE_SAMPLE])
    elif isinstance(ds, DetectionSet):
        per_image = np.array([len(s.boxes) for s in ds.samples])
        heights = np.concatenate([s.boxes[:, 3] - s.boxes[:, 1] for s in ds.samples]) if ds.samples else np.zeros(0)
        out |= {"images": len(ds.samples), "boxes": int(per_image.sum()), "classes": ds.class_counts(),
                "boxes_per_image": {"min": int(per_image.min()), "median": float(np.median(per_image)),
                                    "max": int(per_image.max())},
                "box_height_px": ({"min": float(heights.min()), "median": float(np.median(heights)),
                                   "max": float(heights.max())} if len(heights) else {}),
                "image_sizes": _sizes([s.image for s in ds.samples[:SIZE_SAMPLE]])}
    else:
        same = sum(p.same for p in ds.pairs)
        out |= {"pairs": len(ds.pairs), "same": same, "different": len(ds.pairs) - same}
    return out


def _sizes(refs: list) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for ref in refs:
        if isinstance(ref, np.ndarray):
            key = f"{ref.shape[1]}x{ref.shape[0]}"
        else:
            with Image.open(ref) as im:
                key = f"{im.width}x{im.height}"
        sizes[key] = sizes.get(key, 0) + 1
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:5])


def describe(path: Path) -> dict:
    fmt, loader = detect_format(path)
    return describe_dataset(loader(), fmt)


def listing() -> list[dict]:
    """One row per dataset for tables: name, task, content, counts, source, licence, present."""
    rows = []
    for name, e in entries().items():
        present = e.available()
        row = {"name": name, "task": e.task, "content": e.content, "source": e.source, "licence": e.licence,
               "present": present, "samples": None, "splits": ""}
        if present and name != "fashion_mnist":  # the full set takes seconds to read; its size is known
            ds = load(name)
            row["samples"] = len(getattr(ds, "images", getattr(ds, "samples", getattr(ds, "pairs", []))))
            row["splits"] = ", ".join(f"{k} {v}" for k, v in sorted(ds.counts().items()))
        elif present:
            row["samples"], row["splits"] = 70_000, "test 10000, train 60000"
        rows.append(row)
    return rows


# Verification: pairs sets, and sets of people --------------------------------------------------

def verification_names() -> list[str]:
    """Sets a face-verification variant can be scored or trained on: pairs sets, and folders of people
    (a user's ImageFolder read as one folder per person)."""
    known = entries()
    return [n for n, e in known.items() if e.available() and
            (e.task == "verification" or (n.startswith("user/") and e.task == "classification"))]


def people(name: str, seed: int = 0) -> LabelledImages:
    """The set's images labelled by person, with identity-disjoint train / val / test splits."""
    data = load(name)
    if isinstance(data, VerificationSet):
        return identities.disjoint_splits(identities.of_pairs(data), seed)
    if isinstance(data, LabelledImages) and data.classes is not None:
        renamed = LabelledImages(data.name, data.images, data.targets, data.split, data.classes, data.source,
                                 data.licence, data.problems, target_name="identity")
        return identities.disjoint_splits(renamed, seed)
    raise DataError(f"{name} is a {data.task} set; verification needs pairs or one folder per person")


def pairs(name: str, split: str = "test", seed: int = 0) -> VerificationSet:
    """The pairs a set is scored on: its own pairs of that split (all of them when it has no splits), or
    balanced seeded pairs made from the split's people."""
    data = load(name)
    if isinstance(data, VerificationSet):
        chosen = [p for p in data.pairs if p.split == split] or [p for p in data.pairs if p.split == "all"]
        if not chosen:
            raise DataError(f"{name} has no {split} pairs; its splits are {sorted(data.counts())}")
        return VerificationSet(f"{name}/{chosen[0].split}", chosen, data.source, data.licence, data.problems)
    return identities.make_pairs(people(name, seed), split, seed)
