"""Tiny datasets in each supported format, made on the fly, each with a few deliberate faults."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from PIL import Image


def image(path: Path, size: tuple[int, int] = (100, 50), colour: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def image_folder(root: Path) -> Path:
    image(root / "train" / "cat" / "a.png")
    image(root / "train" / "dog" / "b.png", colour="blue")
    image(root / "test" / "cat" / "c.png")
    (root / "train" / "dog" / "notes.jpg").write_text("not an image")
    return root


def yolo(root: Path) -> Path:
    image(root / "images" / "train" / "a.jpg")  # 100 x 50
    image(root / "images" / "train" / "b.jpg")
    image(root / "images" / "val" / "c.jpg")
    (root / "classes.txt").write_text("car\nperson\n")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.2 0.4\n"      # good: x 40-60, y 15-35
        "1 0.5 0.5 1.5 0.2\n"      # width outside [0, 1]
        "7 0.5 0.5 0.1 0.1\n"      # unknown class id
        "0 0.5 0.5 0.1\n"          # four fields
        "1 0.25 0.25 0.1 0.2\n")   # good
    (root / "labels" / "train" / "b.txt").write_text("x y z w h\n")
    return root


def coco(root: Path) -> Path:
    image(root / "a.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    data = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "gone.jpg"},
                       {"id": 3, "file_name": "broken.jpg"}],
            "categories": [{"id": 5, "name": "face"}],
            "annotations": [{"image_id": 1, "category_id": 5, "bbox": [10, 10, 20, 20]},
                            {"image_id": 9, "category_id": 5, "bbox": [1, 1, 2, 2]},
                            {"image_id": 1, "category_id": 6, "bbox": [1, 1, 2, 2]},
                            {"image_id": 1, "category_id": 5, "bbox": [1, 1, -2, 2]}]}
    (root / "instances.json").write_text(json.dumps(data))
    return root


def box_list(root: Path) -> Path:
    image(root / "frame1.png")
    image(root / "frame2.png")
    (root / "boxes.txt").write_text("frame1.png 10 5 30 25 dexter\nframe1.png 50 5 70 25 dee_dee\n"
                                    "frame2.png 30 30 10 40 dexter\nframe2.png 1 2 3\nmissing.png 1 1 5 5 dexter\n")
    return root


def wider_face(root: Path) -> Path:
    image(root / "images" / "0--Parade" / "a.jpg", (200, 100))
    image(root / "images" / "0--Parade" / "b.jpg", (200, 100))
    (root / "wider_face_val_bbx_gt.txt").write_text(
        "0--Parade/a.jpg\n2\n10 20 30 40 0 0 0 0 0 0\n50 20 30 40 0 0 0 1 0 0\n"
        "0--Parade/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    return root


def utkface(root: Path) -> Path:
    image(root / "25_0_2_20170116174525125.jpg.chip.jpg", (64, 64))
    image(root / "61_1_0_20170109142408075.jpg", (64, 64))
    image(root / "7_0_4_20170103200837452.jpg", (64, 64))
    image(root / "200_0_0_20170103200837452.jpg", (64, 64))
    return root


def lfw(root: Path) -> Path:
    for person, n in (("Ada_Lovelace", 2), ("Alan_Turing", 1)):
        for i in range(1, n + 1):
            image(root / person / f"{person}_{i:04d}.jpg", (64, 64))
    (root / "pairs.txt").write_text("1\t2\nAda_Lovelace\t1\t2\nAda_Lovelace\t1\tAlan_Turing\t1\n"
                                    "Alan_Turing\t1\t3\nnonsense\nAda_Lovelace\t2\t1\nAda_Lovelace\t1\t1\n"
                                    "Ada_Lovelace\t1\tGrace_Hopper\t1\n")
    return root


def zip_of(folder: Path, extra: dict[str, bytes] | None = None, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, Path("mydata") / path.relative_to(folder))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()
