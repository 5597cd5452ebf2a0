"""Generated prediction sets with exact ground truth, for tests, benchmarks and the page's examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def make_coco_set(seed: int, n_images: int, n_classes: int = 3, max_gt: int = 12, dets_per_image: int | None = None,
                  crowd_rate: float = 0.03, background_rate: float = 0.35,
                  informative_scores: bool = False) -> tuple[dict, list[dict]]:
    """(ground-truth COCO dict, list of detection results). Boxes are xywh in pixels.

    Detections are jittered copies of ground truth (some good, some poor), duplicates, and
    background boxes; some images have no truth, some no detections. dets_per_image fixes the
    count of detections per image (for benchmarks); None draws it. background_rate: the share of
    detections that are boxes on background rather than jittered copies of a truth.
    informative_scores: scores rise with box quality, as a trained detector's do; else uniform.
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
            if gts and rng.random() >= background_rate:
                cat, x, y, bw, bh = gts[int(rng.integers(len(gts)))]
                spread = float(rng.choice([0.05, 0.15, 0.4]))
                jitter = rng.normal(0, spread, 4)
                x, y = x + jitter[0] * bw, y + jitter[1] * bh
                bw, bh = bw * float(np.exp(jitter[2])), bh * float(np.exp(jitter[3]))
                if rng.random() < 0.1:
                    cat = int(rng.integers(1, n_classes + 1))
            else:
                spread = 1.0
                cat = int(rng.integers(1, n_classes + 1))
                bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
                x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            tie = dets_per_image is None and rng.random() < 0.05 and j > 0  # equal scores, on purpose
            if informative_scores:
                score = float(np.clip(rng.normal(1.0 - 0.7 * spread, 0.12), 0.001, 1.0))
            else:
                score = results[-1]["score"] if tie else float(rng.random())
            results.append({"image_id": img_id, "category_id": cat, "bbox": [float(x), float(y), float(bw), float(bh)],
                            "score": score})
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def classification_example(seed: int = 0, n: int = 600) -> pd.DataFrame:
    """true, pred, pred_b on the KITTI study's imbalanced classes. b falls back to the majority class: its
    plain accuracy is higher but its mean class accuracy lower, which is why the study reports mCA."""
    rng = np.random.default_rng(seed)
    names = np.array(["car", "person", "cyclist"])
    true = rng.choice(3, n, p=np.array([2074, 303, 122]) / 2499)
    pred = np.where(rng.random(n) < 0.85, true, rng.integers(0, 3, n))
    pred_b = np.where(rng.random(n) < 0.65, true, 0)
    return pd.DataFrame({"true": names[true], "pred": names[pred], "pred_b": names[pred_b]})


def verification_example(seed: int = 0, n: int = 600) -> pd.DataFrame:
    """label (1 = same identity), distance and distance_b between the two images' embeddings."""
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    return pd.DataFrame({"label": same.astype(int), "distance": np.abs(rng.normal(1.6 - 0.9 * same, 0.45)),
                         "distance_b": np.abs(rng.normal(1.6 - 0.5 * same, 0.5))})


def regression_example(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """true, pred, pred_b of an age-like target; b is noisier and biased towards the mean."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(5, 80, n)
    return pd.DataFrame({"true": true, "pred": true + rng.normal(0, 6, n),
                         "pred_b": 0.6 * true + 0.4 * true.mean() + rng.normal(0, 9, n)})


def detection_example() -> tuple[dict, list]:
    """A generated COCO ground truth and result list, as the Score page's example upload."""
    return make_coco_set(7, 300, max_gt=6, background_rate=0.2, informative_scores=True)


def example_for(scoring: str) -> Callable[[], object]:
    """The generated example upload of a metric family (a task's `scoring`)."""
    found = globals().get(f"{scoring}_example")
    if found is None:
        raise KeyError(f"no example for {scoring!r}; choose from detection, classification, verification, regression")
    return found
