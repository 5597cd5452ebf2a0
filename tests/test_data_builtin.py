import csv
import gzip
import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import cartoon_faces, catalogue, fashion_mnist
from core.data.types import DataError

CARTOON = catalogue.CARTOON
needs_node = pytest.mark.skipif(not (shutil.which("node") and (cartoon_faces.REPO_ROOT / "node_modules" / "facesjs")
                                     .is_dir()), reason="Node.js and facesjs are needed (npm ci)")


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@needs_node
def test_the_same_seed_gives_identical_files(tmp_path):
    for run in ("a", "b"):
        cartoon_faces.generate(tmp_path / run, seed=3, n_images=8, n_identities=4, renders=3)
    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert len(first) > 30 and first == second
    cartoon_faces.generate(tmp_path / "c", seed=4, n_images=8, n_identities=4, renders=3)
    assert digests(tmp_path / "c") != first


def test_committed_detection_set_is_large_consistent_and_exact():
    ds = catalogue.load("cartoon_faces/detection")
    assert len(ds.samples) >= 600 and set(ds.counts()) == {"train", "val", "test"} and not ds.problems
    per_image = [len(s.boxes) for s in ds.samples]
    assert min(per_image) == 0 and max(per_image) == 5
    for s in ds.samples[:200]:
        w, h = Image.open(s.image).size
        tol = 0.01  # YOLO stores 6 decimals
        assert (s.boxes[:, :2] >= -tol).all() and (s.boxes[:, 2] <= w + tol).all() and (s.boxes[:, 3] <= h + tol).all()
    heights = np.concatenate([s.boxes[:, 3] - s.boxes[:, 1] for s in ds.samples])
    assert heights.max() <= cartoon_faces.FACE_PX[1] + 60  # rotation can widen a 200 px head's box
    manifest = list(csv.DictReader((CARTOON / "detection" / "manifest.csv").read_text().splitlines()))
    assert len(manifest) == len(heights) and {"identity", "gender", "race", "fatness", "glasses",
                                               "facial_hair"} <= set(manifest[0])


def test_committed_coco_json_agrees_with_the_yolo_labels():
    ds = catalogue.load("cartoon_faces/detection")
    yolo_boxes = {s.image.relative_to(CARTOON / "detection").as_posix(): s.boxes for s in ds.samples}
    for split in ("train", "val", "test"):
        coco = json.loads((CARTOON / "detection" / f"{split}.json").read_text())
        boxes = defaultdict(list)
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            boxes[a["image_id"]].append([x, y, x + w, y + h])
        for im in coco["images"]:
            np.testing.assert_allclose(np.array(boxes[im["id"]]).reshape(-1, 4), yolo_boxes[im["file_name"]], atol=0.02)


def test_committed_verification_set_has_disjoint_identities_and_lfw_pairs():
    rows = list(csv.DictReader((CARTOON / "verification" / "renderings.csv").read_text().splitlines()))
    by_identity = defaultdict(list)
    for r in rows:
        by_identity[r["identity"]].append(r)
    assert len(by_identity) >= 150 and min(len(v) for v in by_identity.values()) >= 4
    splits = {i: {r["split"] for r in v} for i, v in by_identity.items()}
    assert all(len(s) == 1 for s in splits.values()), "an identity must sit in exactly one split"
    ds = catalogue.load("cartoon_faces/verification")
    assert not ds.problems and {"train", "val", "test"} == set(ds.counts())
    for pair in ds.pairs:
        same_identity = pair.a.parent.name == pair.b.parent.name
        assert same_identity == pair.same
        assert splits[pair.a.parent.name] == {pair.split}
    header = (CARTOON / "verification" / "pairs_test.txt").read_text().splitlines()[0].split("\t")
    assert header[0] == "1" and int(header[1]) == sum(p.same for p in ds.pairs if p.split == "test")


def test_assets_fit_the_size_budget_and_carry_licence_notes():
    assets = catalogue.ASSETS
    total = sum(p.stat().st_size for p in assets.rglob("*") if p.is_file() and "screenshots" not in p.parts)
    assert total <= 30 * 2**20
    assert "facesjs" in (CARTOON / "LICENSE.md").read_text() and "MIT" in (assets / "fashion_mnist" / "LICENSE.md").read_text()


def test_fashion_subset_mirrors_the_kitti_counts():
    ds = fashion_mnist.imbalanced()
    assert ds.class_counts() == {"Sneaker": 2074, "Sandal": 303, "Ankle boot": 122}
    assert ds.images[0].shape == (28, 28) and len(ds.images) + len(fashion_mnist.balanced_sample().images) >= 3000
    test = ds.subset("test")
    assert np.bincount(ds.targets[test]).tolist() == [415, 61, 24]  # stratified 20%


def test_idx_reader_reads_and_refuses_truncated_files(tmp_path):
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    good, cut = tmp_path / "x-idx3-ubyte.gz", tmp_path / "cut-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(header + bytes(range(12))))
    cut.write_bytes(gzip.compress(header + bytes(range(7))))
    assert fashion_mnist.read_idx(good).tolist() == np.arange(12).reshape(2, 2, 3).tolist()
    with pytest.raises(DataError, match="truncated"):
        fashion_mnist.read_idx(cut)


@pytest.mark.skipif(not fashion_mnist.DEBIAN_DIR.is_dir(), reason="Debian dataset-fashion-mnist is not installed")
def test_full_fashion_mnist_from_debian_files():
    ds = fashion_mnist.full()
    assert ds.counts() == {"train": 60000, "test": 10000} and np.bincount(ds.targets).tolist() == [7000] * 10


def test_lfw_subset_and_digits_are_real_and_labelled():
    faces = catalogue.load("lfw_subset")
    assert faces.class_counts() == {"non-face": 100, "face": 100} and faces.images[0].dtype == np.uint8
    assert faces.images[0].max() > 200  # scaled from [0, 1] floats
    assert len(catalogue.load("digits").images) == 1797
    info = catalogue.describe_dataset(faces)  # a built-in set has no file format to report, so no empty one
    assert "format" not in info and info["classes"] == {"non-face": 100, "face": 100}


def test_second_domains_share_their_twins_class_names():
    patches = catalogue.load("cartoon_faces/patches")
    assert patches.classes == catalogue.load("lfw_subset").classes and patches.class_counts() == {"non-face": 100,
                                                                                                    "face": 100}
    assert patches.images[0].shape == (25, 25)
    plain, inverted = catalogue.load("fashion_mnist_sample"), catalogue.load("fashion_mnist_sample/inverted")
    assert inverted.classes == plain.classes and (inverted.targets == plain.targets).all()
    assert int(inverted.images[0][..., 0].astype(int).sum()) == 255 * 28 * 28 - int(plain.images[0].astype(int).sum())


def test_backgrounds_never_show_real_people():
    backgrounds = cartoon_faces.Backgrounds(np.random.default_rng(0))
    assert backgrounds.names and not {"astronaut", "grace_hopper", "zidane", "bus", "camera"} & set(backgrounds.names)
