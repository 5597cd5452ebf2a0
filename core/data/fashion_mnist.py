"""Fashion-MNIST (real photos of clothing, MIT): Debian's idx files, torchvision's download, or the embedded subset.

    python -m core.data.fashion_mnist --make-subset assets/fashion_mnist   (from the full set)
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

from core.data.types import DataError, LabelledImages

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SUBSET = Path(__file__).resolve().parents[2] / "assets" / "fashion_mnist" / "subset.npz"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
LICENCE = "MIT (Zalando Research)"
# The KITTI study's crops: 2074 cars, 303 people, 122 cyclists. Footwear stands in: common, rarer, rarest.
IMBALANCED = {"Sneaker": 2074, "Sandal": 303, "Ankle boot": 122}
BALANCED_PER_CLASS = 100
TEST_SHARE = 0.2


def read_idx(path: Path) -> np.ndarray:
    """An idx file (optionally gzipped) as a uint8 array: (N,) labels or (N, 28, 28) images."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path} is not an unsigned-byte idx file")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
    if arr.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: {arr.size} values for shape {shape}")
    return arr.reshape(shape)


def _full_arrays(root: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(images, labels, split) of all 70,000 images from idx files, or None when they are not here."""
    root = root or DEBIAN_DIR
    parts = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
        if not (images.is_file() and labels.is_file()):
            return None
        parts.append((read_idx(images), read_idx(labels), np.full(len(read_idx(labels)), split)))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))  # type: ignore[return-value]


def full(root: Path | None = None, download_root: Path | None = None) -> LabelledImages:
    """All 70,000 images: Debian's files, else torchvision's download (needs a network)."""
    arrays = _full_arrays(root)
    source = f"Debian dataset-fashion-mnist ({root or DEBIAN_DIR})"
    if arrays is None:
        from torchvision.datasets import FashionMNIST

        target = download_root or Path.home() / ".cache" / "tl-dashboard" / "fashion-mnist"
        try:
            train, test = (FashionMNIST(str(target), train=t, download=True) for t in (True, False))
        except (RuntimeError, OSError) as exc:
            raise DataError(f"Fashion-MNIST is not on this machine ({DEBIAN_DIR}) and the download failed ({exc}). "
                            "Install Debian's dataset-fashion-mnist, or use the embedded subset.") from None
        arrays = (np.concatenate([train.data.numpy(), test.data.numpy()]),
                  np.concatenate([train.targets.numpy(), test.targets.numpy()]),
                  np.array(["train"] * len(train) + ["test"] * len(test)))
        source = f"torchvision download ({target})"
    images, labels, split = arrays
    return LabelledImages("fashion_mnist", list(images), labels.astype(int), split, CLASSES, source=source,
                          licence=LICENCE)


def make_subset(out: Path, seed: int = 0) -> Path:
    """Write the embedded subset: the imbalanced 3-class set and a balanced 10-class sample of the test set."""
    arrays = _full_arrays()
    if arrays is None:
        raise DataError(f"making the subset needs the full set in {DEBIAN_DIR} (apt install dataset-fashion-mnist)")
    images, labels, split = arrays
    rng = np.random.default_rng(seed)
    pick_imb = np.concatenate([rng.choice(np.flatnonzero(labels == CLASSES.index(c)), n, replace=False)
                               for c, n in IMBALANCED.items()])
    test_idx = np.flatnonzero(split == "test")
    pick_bal = np.concatenate([rng.choice(test_idx[labels[test_idx] == c], BALANCED_PER_CLASS, replace=False)
                               for c in range(len(CLASSES))])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "subset.npz"
    np.savez_compressed(path, imbalanced_images=images[pick_imb], imbalanced_labels=labels[pick_imb],
                        balanced_images=images[pick_bal], balanced_labels=labels[pick_bal])
    (out / "LICENSE.md").write_text(
        "# Fashion-MNIST subset\n\nReal photos of clothing from Fashion-MNIST (Zalando Research), MIT licence.\n"
        f"Made by `python -m core.data.fashion_mnist --make-subset {out}` (seed {seed}) from Debian's\n"
        f"dataset-fashion-mnist: {sum(IMBALANCED.values())} images of {list(IMBALANCED)} with the KITTI study's\n"
        f"class counts {list(IMBALANCED.values())}, and {BALANCED_PER_CLASS} test images of each of the 10 classes.\n")
    return path


def _stratified_split(labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "train", dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        split[idx[: round(len(idx) * TEST_SHARE)]] = "test"
    return split.astype(str)


def _subset() -> np.lib.npyio.NpzFile:
    if not SUBSET.is_file():
        raise DataError(f"the embedded Fashion-MNIST subset is missing: {SUBSET}")
    return np.load(SUBSET)


def imbalanced() -> LabelledImages:
    """Sneaker / Sandal / Ankle boot with the KITTI study's counts 2074 / 303 / 122, split 80/20 by class."""
    data = _subset()
    names = list(IMBALANCED)
    labels = np.array([names.index(CLASSES[c]) for c in data["imbalanced_labels"]])
    return LabelledImages("fashion_mnist_imbalanced3", list(data["imbalanced_images"]), labels,
                          _stratified_split(labels, 0), names, source=f"embedded subset ({SUBSET.name})",
                          licence=LICENCE)


def balanced_sample() -> LabelledImages:
    """100 test images of each of the 10 classes, split 80/20 by class."""
    data = _subset()
    labels = data["balanced_labels"].astype(int)
    return LabelledImages("fashion_mnist_sample", list(data["balanced_images"]), labels, _stratified_split(labels, 0),
                          CLASSES, source=f"embedded subset ({SUBSET.name})", licence=LICENCE)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.data.fashion_mnist")
    p.add_argument("--make-subset", type=Path, required=True, metavar="FOLDER")
    args = p.parse_args(argv)
    try:
        print(make_subset(args.make_subset))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
