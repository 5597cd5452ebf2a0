"""Detection metrics: IoU, greedy matching, PR curves, AP three ways, F1 against threshold.

COCO evaluation follows pycocotools' rules exactly (per image and class: detections by
descending score, at most max_dets; each ground truth matched once, crowd regions many times;
unmatched detections outside an area range ignored), vectorised over all images at once.

Boxes: (N, 4) float, x1 y1 x2 y2 in pixels. Scores: (N,) float, finite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.metrics.checks import check_boxes, check_same_length, check_scores, check_xywh

if TYPE_CHECKING:
    import pandas as pd

COCO_IOUS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2))
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETS = (1, 10, 100)


@dataclass(frozen=True)
class ImageTruth:
    """Ground truth of one image. area: per-box area used for the size ranges (default w*h)."""

    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray | None = None
    area: np.ndarray | None = None


@dataclass(frozen=True)
class ImageDetections:
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall after each detection, in descending score order."""

    precision: np.ndarray  # (N,)
    recall: np.ndarray  # (N,)
    scores: np.ndarray  # (N,) the score threshold at each point
    n_gt: int

    @property
    def f1(self) -> np.ndarray:
        denom = self.precision + self.recall
        return np.where(denom > 0, 2 * self.precision * self.recall / np.where(denom > 0, denom, 1), 0.0)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class DetectionResult:
    """COCO summary, VOC and trapezoid AP, per-class AP, and PR curves at the first IoU threshold."""

    stats: dict[str, float]
    per_class: pd.DataFrame
    curves: dict[str, PRCurve] = field(repr=False)
    iou_thresholds: tuple[float, ...] = COCO_IOUS
    n_images: int = 0
    n_gt: int = 0
    n_detections: int = 0


def iou_matrix(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """(N, M) IoU of boxes a (N, 4) and b (M, 4); against a crowd box the union is a's area alone."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool)[None, :], area_a[:, None], union)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _greedy_match(iou: np.ndarray, det_valid: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray,
                  thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' greedy matching for many units (image x class) at once.

    iou: (U, D, G), padded entries -1; dets within a unit in descending score order.
    gt_ignore: (A, U, G) per area range; crowd: (U, G); thresholds: (T,).
    Returns matched (A, T, U, D), matched_to_ignored (A, T, U, D) and taken (A, T, U, G), all bool.
    Among qualifying truths the highest IoU wins, ties to the later one; ignored truths only
    when no regular one qualifies; crowd truths stay available after a match.
    """
    n_a, n_u, n_g = gt_ignore.shape
    n_t, n_d = len(thresholds), iou.shape[1]
    taken = np.zeros((n_a, n_t, n_u, n_g), bool)
    matched = np.zeros((n_a, n_t, n_u, n_d), bool)
    to_ignored = np.zeros((n_a, n_t, n_u, n_d), bool)
    reverse = np.arange(n_g)[::-1]
    for d in range(n_d):
        col = iou[:, d, :]
        units = np.flatnonzero(det_valid[:, d] & (col >= thresholds.min()).any(axis=1))
        if units.size == 0:
            continue
        v = col[units]  # (u, G)
        ok = v[None, None] >= thresholds[None, :, None, None]  # (1, T, u, G)
        free = ~taken[:, :, units] | crowd[units][None, None]
        ign = gt_ignore[:, units][:, None]  # (A, 1, u, G)
        regular = ok & free & ~ign
        use_regular = regular.any(axis=-1, keepdims=True)
        cand = np.where(use_regular, regular, ok & free & ign)
        score = np.where(cand, v[None, None], -np.inf)
        best = n_g - 1 - np.argmax(score[..., reverse], axis=-1)  # (A, T, u): last of the maxima
        hit = cand.any(axis=-1)
        a_idx, t_idx, u_idx = np.nonzero(hit)
        g_idx = best[a_idx, t_idx, u_idx]
        taken[a_idx, t_idx, units[u_idx], g_idx] = True
        matched[a_idx, t_idx, units[u_idx], d] = True
        to_ignored[a_idx, t_idx, units[u_idx], d] = gt_ignore[a_idx, units[u_idx], g_idx]
    return matched, to_ignored, taken


def _interpolated_precision(precision: np.ndarray, recall: np.ndarray, points: np.ndarray) -> np.ndarray:
    """COCO's precision at fixed recall points from the monotone envelope; 0 beyond the last recall."""
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, points, side="left")
    out = np.zeros(len(points))
    inside = idx < len(envelope)
    out[inside] = envelope[idx[inside]]
    return out


def ap_voc(curve: PRCurve) -> float:
    """VOC 2010+ all-point AP: the area under the precision envelope, over every recall step."""
    if curve.n_gt == 0:
        return float("nan")
    rec = np.concatenate([[0.0], curve.recall, [1.0]])
    pre = np.concatenate([[0.0], curve.precision, [0.0]])
    pre = np.maximum.accumulate(pre[::-1])[::-1]
    steps = np.flatnonzero(rec[1:] != rec[:-1])
    return float(np.sum((rec[steps + 1] - rec[steps]) * pre[steps + 1]))


def ap_coco101(curve: PRCurve) -> float:
    """COCO AP of one curve: mean precision envelope at recall 0, 0.01, ..., 1."""
    if curve.n_gt == 0:
        return float("nan")
    return float(_interpolated_precision(curve.precision, curve.recall, RECALL_POINTS).mean())


def ap_trapezoid(curve: PRCurve) -> float:
    """AP as the trapezoid area under the precision envelope sampled at 101 recall points,
    the curve closed with (recall 0, precision 1) and (recall 1, precision 0) (ultralytics' "interp")."""
    if curve.n_gt == 0:
        return float("nan")
    rec = np.concatenate([[0.0], curve.recall, [1.0]])
    pre = np.concatenate([[1.0], curve.precision, [0.0]])
    pre = np.maximum.accumulate(pre[::-1])[::-1]
    return float(np.trapezoid(np.interp(RECALL_POINTS, rec, pre), RECALL_POINTS))


def pr_curve(scores: np.ndarray, is_tp: np.ndarray, n_gt: int) -> PRCurve:
    """PR curve from detections pooled over images. scores (N,), is_tp (N,) bool, n_gt: truths counted."""
    scores = check_scores(scores, "scores")
    is_tp = np.asarray(is_tp, bool).reshape(-1)
    if len(is_tp) != len(scores):
        raise ValueError(f"scores has {len(scores)} entries but is_tp has {len(is_tp)}")
    if n_gt < 0:
        raise ValueError(f"n_gt must be >= 0, got {n_gt}")
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(is_tp[order])
    fp = np.cumsum(~is_tp[order])
    recall = tp / n_gt if n_gt else np.zeros(len(tp))
    precision = tp / np.maximum(tp + fp, np.finfo(float).eps)
    return PRCurve(precision, recall, scores[order], n_gt)


def best_f1(curve: PRCurve) -> OperatingPoint:
    """The score threshold with the highest F1 (the first, i.e. highest threshold, among ties)."""
    if len(curve.scores) == 0:
        return OperatingPoint(float("nan"), 0.0, 0.0, 0.0)
    f1 = curve.f1
    i = int(np.argmax(f1))
    return OperatingPoint(float(curve.scores[i]), float(curve.precision[i]), float(curve.recall[i]), float(f1[i]))


@dataclass(frozen=True)
class ImageMatch:
    is_tp: np.ndarray  # (N,) bool per detection, in the order given
    gt_matched: np.ndarray  # (M,) bool per ground-truth box; the others are misses


def match_image(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                iou_threshold: float = 0.5) -> ImageMatch:
    """Greedy matching of one image's detections (by descending score) to its truths, each truth once."""
    det_boxes = check_boxes(det_boxes, "det_boxes")
    gt_boxes = check_boxes(gt_boxes, "gt_boxes")
    det_scores = check_scores(det_scores, "det_scores")
    if len(det_scores) != len(det_boxes):
        raise ValueError(f"det_boxes has {len(det_boxes)} boxes but det_scores has {len(det_scores)} scores")
    order = np.argsort(-det_scores, kind="mergesort")
    iou = iou_matrix(det_boxes[order], gt_boxes)[None]
    valid = np.ones((1, len(order)), bool)
    n_gt = len(gt_boxes)
    matched, _, taken = _greedy_match(iou, valid, np.zeros((1, 1, n_gt), bool), np.zeros((1, n_gt), bool),
                                      np.array([iou_threshold]))
    is_tp = np.zeros(len(order), bool)
    is_tp[order] = matched[0, 0, 0]
    return ImageMatch(is_tp, taken[0, 0, 0])


def _batched_iou(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """(U, D, G) IoU of padded boxes (U, D, 4) and (U, G, 4); crowd (U, G) uses the detection's area."""
    iw = np.minimum(det[:, :, None, 2], gt[:, None, :, 2]) - np.maximum(det[:, :, None, 0], gt[:, None, :, 0])
    ih = np.minimum(det[:, :, None, 3], gt[:, None, :, 3]) - np.maximum(det[:, :, None, 1], gt[:, None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_d = ((det[..., 2] - det[..., 0]) * (det[..., 3] - det[..., 1]))[:, :, None]
    area_g = ((gt[..., 2] - gt[..., 0]) * (gt[..., 3] - gt[..., 1]))[:, None, :]
    union = np.where(crowd[:, None, :], area_d, area_d + area_g - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _pad(unit: np.ndarray, n_units: int, values: dict[str, np.ndarray], fill: dict[str, float]) -> tuple:
    """Scatter flat per-item arrays (sorted by unit) into (U, K, ...) padded arrays; returns (rank, valid, arrays)."""
    starts = np.searchsorted(unit, np.arange(n_units))
    rank = np.arange(len(unit)) - starts[unit]
    width = int(rank.max()) + 1 if len(unit) else 0
    valid = np.zeros((n_units, width), bool)
    valid[unit, rank] = True
    out = {}
    for key, arr in values.items():
        padded = np.full((n_units, width, *arr.shape[1:]), fill[key], dtype=arr.dtype)
        padded[unit, rank] = arr
        out[key] = padded
    return rank, valid, out


def _flatten(truth: Mapping, detections: Mapping, class_ids: list) -> tuple[list, dict, dict]:
    """Check inputs and flatten them to arrays, with each image's position in sorted id order."""
    unknown = [k for k in detections if k not in truth]
    if unknown:
        raise ValueError(f"detections name image ids that have no ground truth entry (first: {unknown[0]!r})")
    image_ids = sorted(truth)
    position = {k: i for i, k in enumerate(image_ids)}
    class_pos = {c: i for i, c in enumerate(class_ids)}
    g: dict[str, list] = {"img": [], "label": [], "box": [], "crowd": [], "area": []}
    d: dict[str, list] = {"img": [], "label": [], "box": [], "score": []}
    for img_id in image_ids:
        t = truth[img_id]
        boxes = check_boxes(t.boxes, f"ground-truth boxes of image {img_id!r}")
        labels = np.asarray(t.labels).reshape(-1)
        crowd = np.zeros(len(boxes), bool) if t.crowd is None else np.asarray(t.crowd, bool).reshape(-1)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) if t.area is None else np.asarray(t.area, float)
        check_same_length(boxes=boxes, labels=labels, crowd=crowd, area=area)
        g["img"].append(np.full(len(boxes), position[img_id]))
        g["label"].append(_class_index(labels, class_pos, f"ground-truth labels of image {img_id!r}"))
        g["box"].append(boxes), g["crowd"].append(crowd), g["area"].append(area)
    for img_id, det in detections.items():
        boxes = check_boxes(det.boxes, f"detection boxes of image {img_id!r}")
        scores = check_scores(det.scores, f"detection scores of image {img_id!r}")
        labels = np.asarray(det.labels).reshape(-1)
        check_same_length(boxes=boxes, scores=scores, labels=labels)
        d["img"].append(np.full(len(boxes), position[img_id]))
        d["label"].append(_class_index(labels, class_pos, f"detection labels of image {img_id!r}"))
        d["box"].append(boxes), d["score"].append(scores)
    cat = lambda parts, shape: np.concatenate(parts) if parts else np.zeros(shape)  # noqa: E731
    gt = {k: cat(v, (0, 4) if k == "box" else (0,)) for k, v in g.items()}
    det = {k: cat(v, (0, 4) if k == "box" else (0,)) for k, v in d.items()}
    return image_ids, gt, det


def _class_index(labels: np.ndarray, class_pos: dict, name: str) -> np.ndarray:
    idx = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels.tolist()):
        if label not in class_pos:
            raise ValueError(f"{name} has an unknown class id {label!r} (first at index {i})")
        idx[i] = class_pos[label]
    return idx


def evaluate(truth: Mapping, detections: Mapping, iou_thresholds: Sequence[float] = COCO_IOUS,
             class_names: Mapping | None = None, max_dets: Sequence[int] = MAX_DETS) -> DetectionResult:
    """COCO-style evaluation of detections against ground truth, keyed by image id.

    truth: image id -> ImageTruth (every evaluated image, also those without boxes).
    detections: image id -> ImageDetections (missing images have no detections).
    class_names: class id -> name; default: every label seen, named by its id.
    The first IoU threshold is the one for the PR curves, VOC and trapezoid AP and best F1.
    """
    thresholds = np.asarray(iou_thresholds, dtype=float)
    if thresholds.size == 0 or (thresholds <= 0).any() or (thresholds > 1).any():
        raise ValueError(f"IoU thresholds must lie in (0, 1], got {list(iou_thresholds)}")
    if class_names is None:
        seen = {lab for t in truth.values() for lab in np.asarray(t.labels).reshape(-1).tolist()}
        seen |= {lab for d in detections.values() for lab in np.asarray(d.labels).reshape(-1).tolist()}
        class_names = {c: str(c) for c in sorted(seen)}
    class_ids = list(class_names)
    image_ids, gt, det = _flatten(truth, detections, class_ids)
    n_img, n_cls, top = len(image_ids), len(class_ids), max(max_dets)

    gt_unit = gt["label"] * n_img + gt["img"]
    det_unit = det["label"] * n_img + det["img"]
    units, inverse = np.unique(np.concatenate([gt_unit, det_unit]), return_inverse=True)
    gt_u, det_u = inverse[: len(gt_unit)], inverse[len(gt_unit):]
    n_units = len(units)

    g_order = np.argsort(gt_u, kind="mergesort")
    _, gt_valid, G = _pad(gt_u[g_order], n_units, {"box": gt["box"][g_order], "crowd": gt["crowd"][g_order].astype(bool),
                                                   "area": gt["area"][g_order]}, {"box": 0.0, "crowd": False, "area": 0.0})
    d_order = np.lexsort((-det["score"], det_u))
    rank_all = np.arange(len(d_order)) - np.searchsorted(det_u[d_order], det_u[d_order])
    d_order = d_order[rank_all < top]  # at most max_dets per image and class, as pycocotools
    rank, det_valid, D = _pad(det_u[d_order], n_units, {"box": det["box"][d_order], "score": det["score"][d_order]},
                              {"box": 0.0, "score": -np.inf})
    det_area = (D["box"][..., 2] - D["box"][..., 0]) * (D["box"][..., 3] - D["box"][..., 1])

    n_g = G["box"].shape[1]
    iou = _batched_iou(D["box"], G["box"], G["crowd"]) if n_g and D["box"].shape[1] else \
        np.zeros((n_units, D["box"].shape[1], n_g))
    iou = np.where(det_valid[:, :, None] & gt_valid[:, None, :], iou, -1.0)
    ranges = np.array(list(AREA_RANGES.values()))
    outside_g = (G["area"][None] < ranges[:, None, None, 0]) | (G["area"][None] > ranges[:, None, None, 1])
    gt_ignore = G["crowd"][None] | outside_g | ~gt_valid[None]
    matched, to_ignored, _ = _greedy_match(iou, det_valid, gt_ignore, G["crowd"], thresholds)
    outside_d = (det_area[None] < ranges[:, None, None, 0]) | (det_area[None] > ranges[:, None, None, 1])
    det_ignore = to_ignored | (~matched & outside_d[:, None])

    unit_cls = units // n_img
    precision = -np.ones((len(thresholds), len(RECALL_POINTS), n_cls, len(ranges), len(max_dets)))
    recall = -np.ones((len(thresholds), n_cls, len(ranges), len(max_dets)))
    rows, curves = [], {}
    for k, cid in enumerate(class_ids):
        in_k = unit_cls == k
        n_pos = (~gt_ignore[:, in_k]).sum(axis=(1, 2))  # (A,)
        sel_u, sel_d = np.nonzero(det_valid & in_k[:, None])  # unit-major, rank order: pycocotools' concatenation
        order = np.argsort(-D["score"][sel_u, sel_d], kind="mergesort")
        sel_u, sel_d = sel_u[order], sel_d[order]
        scores = D["score"][sel_u, sel_d]
        m_k = matched[:, :, sel_u, sel_d]
        ig_k = det_ignore[:, :, sel_u, sel_d]
        for mi, m in enumerate(max_dets):
            keep = sel_d < m
            tps = np.cumsum(m_k[..., keep] & ~ig_k[..., keep], axis=-1)
            fps = np.cumsum(~m_k[..., keep] & ~ig_k[..., keep], axis=-1)
            for a in range(len(ranges)):
                if n_pos[a] == 0:
                    continue
                for t in range(len(thresholds)):
                    rc = tps[a, t] / n_pos[a]
                    pr = tps[a, t] / (tps[a, t] + fps[a, t] + np.spacing(1))
                    recall[t, k, a, mi] = rc[-1] if len(rc) else 0.0
                    precision[t, :, k, a, mi] = _interpolated_precision(pr, rc, RECALL_POINTS)
        name = str(class_names[cid])
        counted = ~ig_k[0, 0]
        curves[name] = pr_curve(scores[counted], m_k[0, 0][counted], int(n_pos[0]))
        point = best_f1(curves[name])
        ap_k = precision[:, :, k, 0, -1]
        rows.append({"class": name, "n_gt": int(n_pos[0]), "n_detections": int(len(scores)),
                     "AP": float(ap_k.mean()) if n_pos[0] else float("nan"),
                     f"AP{round(thresholds[0] * 100)}": float(ap_k[0].mean()) if n_pos[0] else float("nan"),
                     f"AP_VOC{round(thresholds[0] * 100)}": ap_voc(curves[name]),
                     "best_F1": point.f1, "best_F1_threshold": point.threshold})
    stats = _summarise(precision, recall, thresholds, max_dets)
    import pandas as pd  # here: the trainers that import this module for IoU never load pandas

    per_class = pd.DataFrame(rows)
    t0 = round(thresholds[0] * 100)
    with_gt = [c for c, r in zip(curves, rows, strict=True) if r["n_gt"] > 0]
    stats[f"AP_VOC{t0}"] = float(np.mean([ap_voc(curves[c]) for c in with_gt])) if with_gt else -1.0
    stats[f"AP_trapz{t0}"] = float(np.mean([ap_trapezoid(curves[c]) for c in with_gt])) if with_gt else -1.0
    return DetectionResult(stats, per_class, curves, tuple(float(t) for t in thresholds), n_img,
                           int((~gt["crowd"].astype(bool)).sum()), len(det["score"]))


def _summarise(precision: np.ndarray, recall: np.ndarray, thresholds: np.ndarray,
               max_dets: Sequence[int]) -> dict[str, float]:
    """COCO's twelve summary numbers (those that the thresholds allow); -1 where nothing was counted."""
    def mean(arr: np.ndarray) -> float:
        valid = arr[arr > -1]
        return float(valid.mean()) if valid.size else -1.0

    names = list(AREA_RANGES)
    last = len(max_dets) - 1
    stats = {"AP": mean(precision[..., 0, last])}
    for t in (0.5, 0.75):
        hit = np.flatnonzero(np.isclose(thresholds, t))
        if hit.size:
            stats[f"AP{round(t * 100)}"] = mean(precision[hit[0], ..., 0, last])
    for a, area in enumerate(names[1:], start=1):
        stats[f"AP_{area}"] = mean(precision[..., a, last])
    for mi, m in enumerate(max_dets):
        stats[f"AR{m}"] = mean(recall[..., 0, mi])
    for a, area in enumerate(names[1:], start=1):
        stats[f"AR_{area}"] = mean(recall[..., a, last])
    return stats


def from_coco(gt: dict, results: list[dict]) -> tuple[dict, dict, dict]:
    """COCO json (ground-truth dict, detection result list) to (truth, detections, class_names)."""
    class_names = {c["id"]: c.get("name", str(c["id"])) for c in gt.get("categories", [])}
    by_img: dict = {im["id"]: [] for im in gt.get("images", [])}
    for i, ann in enumerate(gt.get("annotations", [])):
        missing = [k for k in ("image_id", "category_id", "bbox") if not isinstance(ann, dict) or k not in ann]
        if missing:
            raise ValueError(f"annotation {i} lacks {missing}")
        if ann.get("image_id") not in by_img:
            raise ValueError(f"annotation {i} names image id {ann.get('image_id')!r}, not in 'images'")
        by_img[ann["image_id"]].append(ann)
    truth = {}
    for img_id, anns in by_img.items():
        boxes = check_xywh(np.array([a["bbox"] for a in anns], float).reshape(-1, 4), f"bbox of image {img_id!r}")
        truth[img_id] = ImageTruth(boxes, np.array([a["category_id"] for a in anns]),
                                   np.array([bool(a.get("iscrowd", 0)) for a in anns]),
                                   np.array([a.get("area", (b[2] - b[0]) * (b[3] - b[1]))
                                             for a, b in zip(anns, boxes, strict=True)], float))
    dets: dict = {}
    for i, r in enumerate(results):
        if r.get("image_id") not in by_img:
            raise ValueError(f"detection {i} names image id {r.get('image_id')!r}, not in the ground truth")
        dets.setdefault(r["image_id"], []).append(r)
    detections = {}
    for img_id, rs in dets.items():
        boxes = check_xywh(np.array([r["bbox"] for r in rs], float).reshape(-1, 4),
                           f"bbox of detections in image {img_id!r}")
        detections[img_id] = ImageDetections(boxes, np.array([r["score"] for r in rs], float),
                                             np.array([r["category_id"] for r in rs]))
    return truth, detections, class_names


def ap_of_counts(image_index: np.ndarray, scores: np.ndarray, is_tp: np.ndarray, n_gt_per_image: np.ndarray,
                 method: str = "coco101") -> Callable[[np.ndarray], float]:
    """AP as a function of per-image draw counts, for the paired bootstrap over images.

    image_index, scores, is_tp: (N,) per detection, already matched (matching is per image, so a
    resample only reweights detections); n_gt_per_image: (I,) truths per image.
    """
    image_index = np.asarray(image_index, np.int64).reshape(-1)
    scores = check_scores(scores)
    is_tp = np.asarray(is_tp, bool).reshape(-1)
    check_same_length(image_index=image_index, scores=scores, is_tp=is_tp)
    n_gt_per_image = np.asarray(n_gt_per_image, float).reshape(-1)
    if len(image_index) and (image_index.min() < 0 or image_index.max() >= len(n_gt_per_image)):
        bad = int(np.flatnonzero((image_index < 0) | (image_index >= len(n_gt_per_image)))[0])
        raise ValueError(f"image_index names an image outside 0..{len(n_gt_per_image) - 1} (first at index {bad})")
    order = np.argsort(-scores, kind="mergesort")
    img, tp, s = image_index[order], is_tp[order], scores[order]
    ap = {"coco101": ap_coco101, "voc": ap_voc, "trapezoid": ap_trapezoid}.get(method)
    if ap is None:
        raise ValueError(f"unknown AP method {method!r}; choose from ['coco101', 'trapezoid', 'voc']")

    def metric(counts: np.ndarray) -> float:
        w = counts[img].astype(float)
        n_gt = float(counts @ n_gt_per_image)
        tps, fps = np.cumsum(w * tp), np.cumsum(w * ~tp)
        if n_gt == 0:
            return float("nan")
        precision = tps / np.maximum(tps + fps, np.finfo(float).eps)
        return ap(PRCurve(precision, tps / n_gt, s, int(n_gt)))
    return metric
