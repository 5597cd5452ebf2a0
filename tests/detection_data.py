"""Generated detection sets in COCO json form: varied counts, sizes, crowds, empty images, near misses."""

from __future__ import annotations

import numpy as np


def make_coco_set(seed: int, n_images: int, n_classes: int = 3, max_gt: int = 12, dets_per_image: int | None = None,
                  crowd_rate: float = 0.03) -> tuple[dict, list[dict]]:
    """(ground-truth COCO dict, list of detection results). Boxes are xywh in pixels.

    Detections are jittered copies of ground truth (some good, some poor), duplicates, and
    background boxes; some images have no truth, some no detections. dets_per_image fixes the
    count of detections per image (for benchmarks); None draws it.
    """
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    ann_id = 1
    for img_id in range(1, n_images + 1):
        w, h = int(rng.integers(200, 800)), int(rng.integers(200, 800))
        images.append({"id": img_id, "width": w, "height": h})
        n_gt = int(rng.integers(0, max_gt + 1)) if rng.random() > 0.08 else 0
        gts = []
        for _ in range(n_gt):
            side = float(np.exp(rng.uniform(np.log(6), np.log(min(w, h) * 0.8))))
            bw, bh = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
            x, y = rng.uniform(0, max(w - bw, 1)), rng.uniform(0, max(h - bh, 1))
            crowd = int(rng.random() < crowd_rate)
            cat = int(rng.integers(1, n_classes + 1))
            annotations.append({"id": ann_id, "image_id": img_id, "category_id": cat, "bbox": [x, y, bw, bh],
                                "area": bw * bh, "iscrowd": crowd})
            gts.append((cat, x, y, bw, bh))
            ann_id += 1
        n_det = dets_per_image if dets_per_image is not None else int(rng.integers(0, 2 * max_gt + 1))
        for j in range(n_det):
            if gts and rng.random() < 0.65:
                cat, x, y, bw, bh = gts[int(rng.integers(len(gts)))]
                jitter = rng.normal(0, rng.choice([0.05, 0.15, 0.4]), 4)
                x, y = x + jitter[0] * bw, y + jitter[1] * bh
                bw, bh = bw * float(np.exp(jitter[2])), bh * float(np.exp(jitter[3]))
                if rng.random() < 0.1:
                    cat = int(rng.integers(1, n_classes + 1))
            else:
                cat = int(rng.integers(1, n_classes + 1))
                bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
                x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            tie = dets_per_image is None and rng.random() < 0.05 and j > 0  # equal scores, on purpose
            score = results[-1]["score"] if tie else float(rng.random())
            results.append({"image_id": img_id, "category_id": cat, "bbox": [float(x), float(y), float(bw), float(bh)],
                            "score": score})
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, results
