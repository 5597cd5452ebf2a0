"""Cartoon faces, the target domain: generated with exact boxes, identities and attributes.

    python -m core.data.cartoon_faces --seed 0 --out assets/cartoon_faces

facesjs (npm) draws each face as SVG; resvg renders it; the face is composited onto a crop of
a real sample photo or a plain or gradient background, at 24-200 px, rotated a little, some
partly occluded or cut by the border. The face box is the outline of the head and ears
(rendered alone, with the same transform), clipped to the image: exact, not annotated.

Writes detection images with YOLO labels, COCO json and a manifest, and a verification set
(identities x renderings with different expression, accessories, scale, rotation and
background) with identity-disjoint splits and LFW-style pairs files. The same seed gives
identical files.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from core.data import samples

RENDERER = Path(__file__).with_name("cartoon") / "render_faces.mjs"
REPO_ROOT = Path(__file__).resolve().parents[2]
VIEWBOX = (400, 600)
REFERENCE_HEIGHT = 300
RACES = ("white", "black", "asian", "brown")
GENDERS = ("male", "female")
IMAGE_SIZES = ((320, 240), (360, 270), (288, 288), (240, 320))
FACE_PX = (24, 200)  # head box height before rotation
MAX_ROTATION = 15.0
OCCLUDER_RATE = 0.15
TRUNCATION_RATE = 0.15
SPLITS = {"train": 0.7, "val": 0.15, "test": 0.15}
VERIFICATION_CROP = 112
JPEG_QUALITY = 90
BATCH = 250


class GeneratorUnavailable(RuntimeError):
    """Node or facesjs is missing; the message says how to install them."""


@dataclass(frozen=True)
class FaceBox:
    image: str
    split: str
    x1: float
    y1: float
    x2: float
    y2: float
    identity: str
    gender: str
    race: str
    fatness: float
    glasses: bool
    facial_hair: bool
    rotation: float
    occluded: bool
    truncated: bool
    visible_fraction: float


def render_svgs(items: list[dict]) -> tuple[dict, list[dict]]:
    """Run the Node renderer on job items; returns (feature index, [{face, full, head}])."""
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "facesjs").is_dir():
        raise GeneratorUnavailable("the cartoon-face generator needs Node.js and facesjs: run `npm ci` in "
                                   f"{REPO_ROOT} (Node {'found' if node else 'not found'})")
    index, out = {}, []
    for start in range(0, len(items), BATCH):
        job = json.dumps({"items": items[start:start + BATCH]})
        done = subprocess.run([node, str(RENDERER)], input=job.encode(), capture_output=True, cwd=REPO_ROOT,
                              check=False)
        if done.returncode != 0:
            raise GeneratorUnavailable(f"the facesjs renderer failed: {done.stderr.decode()[-500:]}")
        answer = json.loads(done.stdout)
        index = answer["index"]
        out += answer["items"]
    return index, out


def rasterise(svg: str, height: int) -> Image.Image:
    """RGBA render of a facesjs SVG at the given pixel height (the 400x600 view box keeps its aspect)."""
    import resvg_py

    width = max(1, round(height * VIEWBOX[0] / VIEWBOX[1]))
    sized = svg.replace('width="100%" height="100%"', f'width="{VIEWBOX[0]}" height="{VIEWBOX[1]}"', 1)
    return Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=sized, width=width, height=height))))


def _alpha_box(im: Image.Image) -> tuple[int, int, int, int]:
    """Tight box of the clearly opaque pixels (alpha > 127), as x1 y1 x2 y2 (x2, y2 exclusive)."""
    return im.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox() or (0, 0, 0, 0)


def face_layers(rendered: dict, head_px: float, angle: float) -> tuple[Image.Image, Image.Image, tuple]:
    """Full face and head-only layers, rotated together, and the head box inside them."""
    ref_box = _alpha_box(rasterise(rendered["head"], REFERENCE_HEIGHT))
    scale = head_px / max(ref_box[3] - ref_box[1], 1)
    height = max(8, round(REFERENCE_HEIGHT * scale))
    full = rasterise(rendered["full"], height).rotate(angle, Image.Resampling.BICUBIC, expand=True)
    head = rasterise(rendered["head"], height).rotate(angle, Image.Resampling.BICUBIC, expand=True)
    return full, head, _alpha_box(head)


class Backgrounds:
    """Random crops of the installed sample photos without people (a real face in the background would be an
    unlabelled face), plain colours and gradients."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.names = [n for n in samples.available() if not samples.SAMPLES[n].people]
        self.photos = [samples.load_sample(n).image for n in self.names]

    def draw(self, size: tuple[int, int]) -> tuple[Image.Image, str]:
        kind = self.rng.choice(["photo", "photo", "photo", "plain", "gradient"])
        w, h = size
        if kind == "photo" and self.photos:
            photo = self.photos[int(self.rng.integers(len(self.photos)))]
            zoom = self.rng.uniform(max(w / photo.width, h / photo.height), 1.6 * max(w / photo.width, h / photo.height))
            scaled = photo.resize((max(w, round(photo.width * zoom)), max(h, round(photo.height * zoom))))
            x, y = int(self.rng.integers(0, scaled.width - w + 1)), int(self.rng.integers(0, scaled.height - h + 1))
            return scaled.crop((x, y, x + w, y + h)), "photo"
        c1 = tuple(int(v) for v in self.rng.integers(0, 256, 3))
        if kind == "plain":
            return Image.new("RGB", size, c1), "plain"
        c2 = np.array(self.rng.integers(0, 256, 3), float)
        t = np.linspace(0, 1, h if self.rng.random() < 0.5 else w)
        ramp = (1 - t)[:, None] * np.array(c1, float) + t[:, None] * c2
        arr = np.repeat(ramp[:, None], w, 1) if len(t) == h else np.repeat(ramp[None], h, 0)
        return Image.fromarray(arr.astype(np.uint8)), "gradient"


def _attributes(face: dict) -> dict:
    return {"fatness": float(face["fatness"]), "glasses": face["glasses"]["id"] != "none",
            "facial_hair": face["facialHair"]["id"] != "none"}


def _split_names(n: int, rng: np.random.Generator) -> list[str]:
    order = rng.permutation(n)
    cuts = np.cumsum([round(n * f) for f in SPLITS.values()])[:-1]
    names = np.empty(n, dtype=object)
    for name, part in zip(SPLITS, np.split(order, cuts), strict=True):
        names[part] = name
    return list(names)


def _place(canvas: Image.Image, owner: np.ndarray, full: Image.Image, head: Image.Image, head_box: tuple,
           k: int, heads: dict[int, np.ndarray], rng: np.random.Generator) -> tuple | None:
    """Paste a face where it hides at most 40% of any earlier head.

    Returns (box, box clipped to the image, head pixels, head pixels inside the image), or None."""
    w, h = canvas.size
    bw, bh = head_box[2] - head_box[0], head_box[3] - head_box[1]
    full_mask = np.asarray(full.getchannel("A")) > 127
    head_mask = np.asarray(head.getchannel("A")) > 127
    for _ in range(30):
        if rng.random() < TRUNCATION_RATE or bw >= w or bh >= h:  # cut by the border
            cx, cy = rng.uniform(-0.2 * bw, w + 0.2 * bw), rng.uniform(-0.2 * bh, h + 0.2 * bh)
        else:
            cx, cy = rng.uniform(bw / 2, w - bw / 2), rng.uniform(bh / 2, h - bh / 2)
        ox, oy = round(cx - (head_box[0] + head_box[2]) / 2), round(cy - (head_box[1] + head_box[3]) / 2)
        box = (ox + head_box[0], oy + head_box[1], ox + head_box[2], oy + head_box[3])
        clipped = (max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            continue
        if (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) < 0.4 * bw * bh:
            continue
        layer = np.zeros((h, w), bool)
        _stamp(layer, full_mask, ox, oy)
        if any((layer & m).sum() > 0.4 * m.sum() for m in heads.values()):
            continue
        canvas.paste(full, (ox, oy), full)
        owner[layer] = k
        mask = np.zeros((h, w), bool)
        _stamp(mask, head_mask, ox, oy)
        heads[k] = mask
        for j in heads:
            if j != k:
                heads[j] &= ~layer
        return box, clipped, int(head_mask.sum()), int(mask.sum())
    return None


def _stamp(target: np.ndarray, mask: np.ndarray, ox: int, oy: int) -> None:
    """target[oy:, ox:] |= mask, clipped to target's bounds."""
    h, w = target.shape
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + mask.shape[0], h), min(ox + mask.shape[1], w)
    if y1 > y0 and x1 > x0:
        target[y0:y1, x0:x1] |= mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def _occlude(canvas: Image.Image, box: tuple, rng: np.random.Generator) -> tuple:
    """Cover one side of a box with a flat shape (a hand, a sign, an object in front)."""
    x1, y1, x2, y2 = box
    frac = rng.uniform(0.25, 0.5)
    side = rng.choice(["left", "right", "top", "bottom"])
    if side == "left":
        area = (x1 - 5, y1 - 5, x1 + frac * (x2 - x1), y2 + 5)
    elif side == "right":
        area = (x2 - frac * (x2 - x1), y1 - 5, x2 + 5, y2 + 5)
    elif side == "top":
        area = (x1 - 5, y1 - 5, x2 + 5, y1 + frac * (y2 - y1))
    else:
        area = (x1 - 5, y2 - frac * (y2 - y1), x2 + 5, y2 + 5)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw = ImageDraw.Draw(canvas)
    (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(area, fill=colour)
    return area


def make_detection(out: Path, n_images: int, rng: np.random.Generator) -> list[FaceBox]:
    counts = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5], n_images)
    faces = [{"seed": int(rng.integers(2**31)), "gender": str(rng.choice(GENDERS)), "race": str(rng.choice(RACES))}
             for _ in range(int(counts.sum()))]
    _, rendered = render_svgs(faces)
    splits = _split_names(n_images, rng)
    backgrounds = Backgrounds(rng)
    boxes: list[FaceBox] = []
    next_face = 0
    for i, (n_faces, split) in enumerate(zip(counts, splits, strict=True)):
        size = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
        canvas, _ = backgrounds.draw(size)
        owner = np.full((size[1], size[0]), -1)
        heads: dict[int, np.ndarray] = {}
        placed = []
        top = min(FACE_PX[1], 0.8 * min(size))
        sizes = np.exp(rng.uniform(np.log(FACE_PX[0]), np.log(top), n_faces))
        for k, head_px in enumerate(sorted(sizes)):  # small (far) faces first, big (near) ones in front
            face = faces[next_face] | rendered[next_face]
            next_face += 1
            angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
            full, head, head_box = face_layers(face, float(head_px), angle)
            spot = _place(canvas, owner, full, head, head_box, k, heads, rng)
            if spot is not None:
                placed.append((k, face, angle, *spot))
        occluded_by_shape = set()
        for k, _, _, box, *_ in placed:
            if rng.random() < OCCLUDER_RATE:
                ax1, ay1, ax2, ay2 = (round(v) for v in _occlude(canvas, box, rng))
                heads[k][max(ay1, 0):max(ay2, 0), max(ax1, 0):max(ax2, 0)] = False
                occluded_by_shape.add(k)
        name = f"{i:04d}.jpg"
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        canvas.save(out / "images" / split / name, quality=JPEG_QUALITY)
        for k, face, angle, box, clipped, head_pixels, in_image in placed:
            visible = round(float(heads[k].sum()) / max(head_pixels, 1), 3)
            hidden = float(heads[k].sum()) < 0.9 * in_image  # covered by another face or a shape
            boxes.append(FaceBox(f"images/{split}/{name}", split, *map(float, clipped), f"det{i:04d}_{k}",
                                 face["gender"], face["race"], **_attributes(face["face"]), rotation=round(angle, 2),
                                 occluded=k in occluded_by_shape or hidden, truncated=clipped != box,
                                 visible_fraction=visible))
    write_detection_labels(out, boxes, n_images, splits)
    return boxes


def write_detection_labels(out: Path, boxes: list[FaceBox], n_images: int, splits: list[str]) -> None:
    """YOLO txt per image, COCO json per split, manifest.csv with every attribute."""
    by_image: dict[str, list[FaceBox]] = {f"images/{s}/{i:04d}.jpg": [] for i, s in enumerate(splits)}
    for b in boxes:
        by_image[b.image].append(b)
    coco = {s: {"images": [], "annotations": [], "categories": [{"id": 1, "name": "face"}]} for s in SPLITS}
    for image_id, (rel, faces) in enumerate(by_image.items(), start=1):
        split = rel.split("/")[1]
        w, h = Image.open(out / rel).size
        coco[split]["images"].append({"id": image_id, "file_name": rel, "width": w, "height": h})
        lines = []
        for b in faces:
            bw, bh = b.x2 - b.x1, b.y2 - b.y1
            lines.append(f"0 {(b.x1 + bw / 2) / w:.6f} {(b.y1 + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
            coco[split]["annotations"].append({
                "id": len(coco[split]["annotations"]) + 1, "image_id": image_id, "category_id": 1,
                "bbox": [round(b.x1, 2), round(b.y1, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2),
                "iscrowd": 0, "identity": b.identity, "occluded": b.occluded, "truncated": b.truncated})
        label = out / "labels" / split / Path(rel).with_suffix(".txt").name
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("\n".join(lines) + ("\n" if lines else ""))
    (out / "classes.txt").write_text("face\n")
    for split, data in coco.items():
        (out / f"{split}.json").write_text(json.dumps(data, separators=(",", ":")))
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FaceBox.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(b) for b in boxes)


def make_verification(out: Path, n_identities: int, renders: int, rng: np.random.Generator) -> None:
    """Identities x renderings, identity-disjoint splits, pairs files in LFW pairs.txt format."""
    bases = [{"seed": int(rng.integers(2**31)), "gender": str(rng.choice(GENDERS)), "race": str(rng.choice(RACES))}
             for _ in range(n_identities)]
    index, base_faces = render_svgs(bases)
    glasses = [g for g in index["glasses"] if g != "none"]
    jobs, meta = [], []
    for i, base in enumerate(base_faces):
        face = base["face"]
        for r in range(renders):
            gender = bases[i]["gender"]
            overrides = {"eye": {"angle": int(rng.integers(-10, 16))}, "eyebrow": {"angle": int(rng.integers(-15, 21))},
                         "mouth": {"id": str(rng.choice(index["mouth"])), "flip": bool(rng.random() < 0.5)},
                         "glasses": {"id": str(rng.choice(glasses)) if rng.random() < 0.25 else face["glasses"]["id"]},
                         "accessories": {"id": str(rng.choice(index["accessories"])) if rng.random() < 0.2
                                         else face["accessories"]["id"]}}
            jobs.append({"seed": int(rng.integers(2**31)), "base": face, "overrides": overrides})
            meta.append((i, r, gender, bases[i]["race"]))
    _, rendered = render_svgs(jobs)
    splits = _split_names(n_identities, rng)
    backgrounds = Backgrounds(rng)
    rows = []
    for (i, r, gender, race), job in zip(meta, rendered, strict=True):
        identity = f"cartoon_{i + 1:04d}"
        head_px = float(rng.uniform(55, 90))
        angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
        full, _, head_box = face_layers(job, head_px, angle)
        canvas, background = backgrounds.draw((VERIFICATION_CROP, VERIFICATION_CROP))
        cx, cy = (head_box[0] + head_box[2]) / 2, (head_box[1] + head_box[3]) / 2
        jitter = rng.normal(0, 4, 2)
        offset = (round(VERIFICATION_CROP / 2 - cx + jitter[0]), round(VERIFICATION_CROP / 2 - cy + jitter[1]))
        canvas.paste(full, offset, full)
        rel = Path("images") / identity / f"{identity}_{r + 1:04d}.jpg"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        canvas.save(out / rel, quality=JPEG_QUALITY)
        rows.append({"file": rel.as_posix(), "identity": identity, "split": splits[i], "gender": gender, "race": race,
                     **_attributes(job["face"]), "eye_angle": job["face"]["eye"]["angle"],
                     "eyebrow_angle": job["face"]["eyebrow"]["angle"], "mouth": job["face"]["mouth"]["id"],
                     "head_px": round(head_px, 1), "rotation": round(angle, 2), "background": background})
    with open(out / "renderings.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for split in SPLITS:
        names = sorted({row["identity"] for row in rows if row["split"] == split})
        write_pairs(out / f"pairs_{split}.txt", names, renders, rng)


def write_pairs(path: Path, identities: list[str], renders: int, rng: np.random.Generator) -> None:
    """LFW pairs.txt layout with one fold: "1<TAB>N", N matched "name i j", N mismatched "name1 i name2 j"."""
    matched = [(name, a, b) for name in identities for a, b in itertools.combinations(range(1, renders + 1), 2)]
    mismatched = set()
    while len(mismatched) < len(matched) and len(identities) > 1:
        a, b = rng.choice(len(identities), 2, replace=False)
        first, second = (identities[a], int(rng.integers(1, renders + 1))), (identities[b], int(rng.integers(1, renders + 1)))
        mismatched.add((*min(first, second), *max(first, second)))  # (A, i, B, j) and (B, j, A, i) are one pair
    lines = [f"1\t{len(matched)}"] + ["\t".join(map(str, m)) for m in matched]
    lines += ["\t".join(map(str, m)) for m in sorted(mismatched)]
    path.write_text("\n".join(lines) + "\n")


LICENCE_NOTE = """# Cartoon faces: licence and provenance

Generated by `python -m core.data.cartoon_faces --seed {seed} --out <folder>` in this repository.

- Faces: drawn with facesjs 5.0.3 (npm, Apache-2.0, by Jeremy Scheff), rendered with resvg.
  Identities, boxes and attributes are exact: they come from the generator, not from annotation.
- Backgrounds: random crops of sample photos without people (coffee, chelsea, motorcycle, rocket from
  scikit-image, CC0; china and flower from scikit-learn, CC BY 2.0), and plain or gradient fills.
- Face box: the outline of the head and ears (hair, neck and body excluded), after rotation,
  clipped to the image.
"""


def generate(out: Path, seed: int, n_images: int = 600, n_identities: int = 150, renders: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    boxes = make_detection(out / "detection", n_images, rng)
    make_verification(out / "verification", n_identities, renders, rng)
    summary = {"seed": seed, "detection_images": n_images, "faces": len(boxes), "identities": n_identities,
               "renderings_per_identity": renders, "generator": "facesjs 5.0.3"}
    (out / "dataset.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "LICENSE.md").write_text(LICENCE_NOTE.format(seed=seed))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.data.cartoon_faces", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, default=600, help="detection images")
    p.add_argument("--identities", type=int, default=150, help="verification identities")
    p.add_argument("--renders", type=int, default=4, help="renderings per identity")
    args = p.parse_args(argv)
    try:
        print(json.dumps(generate(args.out, args.seed, args.images, args.identities, args.renders)))
    except GeneratorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
