"""MTCNN inference over many images at once, keeping each box's score at every stage.

facenet-pytorch's pipeline runs PNet on one batch of equal-size images and keeps only the
final (ONet) score. Here images are grouped by size for PNet, and the refine stages (RNet,
ONet) run once over the candidates of all images together. Each box carries its PNet, RNet and
ONet scores. With `cascade(..., exhaustive=True)` once, `resolve` gives the detections for any
stricter stage thresholds with NMS alone, no network. The box arithmetic is facenet-pytorch's
own helpers, so with the same thresholds the boxes equal a per-image `MTCNN.detect` loop.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from facenet_pytorch.models.utils.detect_face import (
    batched_nms_numpy,
    bbreg,
    generateBoundingBox,
    imresample,
    pad,
    rerec,
)
from PIL import Image
from torch import nn
from torchvision.ops.boxes import batched_nms

PNET_SCALE_NMS, PNET_IMAGE_NMS, RNET_NMS, ONET_NMS = 0.5, 0.7, 0.7, 0.7
NORM_MEAN, NORM_SCALE = 127.5, 0.0078125  # MTCNN's input: (pixel - 127.5) / 128
REFINE_BATCH = 256
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's stage thresholds
STUDY_THRESHOLDS = (0.1, 0.2, 0.2)  # the face study's permissive ones
STUDY_IOU = 0.3  # and its IoU for a match


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) pixels in 0-255 -> MTCNN's input scale."""
    return (pixels - NORM_MEAN) * NORM_SCALE


@dataclass(frozen=True)
class StagedDetections:
    """Faces in one image."""

    boxes: np.ndarray  # (N, 4) float, x1 y1 x2 y2 in pixels
    scores: np.ndarray  # (N,) final (ONet) score
    stage_scores: np.ndarray  # (N, 3) PNet, RNet and ONet score of each box


def _pyramid(h: int, w: int, min_face_size: int, factor: float) -> list[float]:
    m = 12.0 / min_face_size
    side, scale, scales = min(h, w) * m, m, []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def proposals(imgs: torch.Tensor, pnet: nn.Module, threshold: float, min_face_size: int,
               factor: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PNet over a batch of equal-size images: (boxes (K, 4), PNet scores (K,), image index (K,))."""
    h, w = imgs.shape[2:4]
    scales = _pyramid(h, w, min_face_size, factor)
    if not scales:  # smaller than one 12 px window at the smallest face size: nothing to propose
        empty = imgs.new_zeros((0,))
        return imgs.new_zeros((0, 5)), empty, empty.long()
    boxes, inds, offset, keep = [], [], 0, []
    for scale in scales:
        data = normalise(imresample(imgs, (int(h * scale + 1), int(w * scale + 1))))
        reg, probs = pnet(data.contiguous(memory_format=torch.channels_last))
        found, found_inds = generateBoundingBox(reg, probs[:, 1], scale, threshold)
        boxes.append(found)
        inds.append(found_inds)
        keep.append(batched_nms(found[:, :4], found[:, 4], found_inds, PNET_SCALE_NMS) + offset)
        offset += found.shape[0]
    boxes, inds = torch.cat(boxes)[torch.cat(keep)], torch.cat(inds)[torch.cat(keep)]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, PNET_IMAGE_NMS)
    boxes, inds = boxes[pick], inds[pick]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    regressed = torch.stack([boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
                             boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4]], dim=1)
    return rerec(regressed), boxes[:, 4].clone(), inds


def _crops(images: list[torch.Tensor], boxes: torch.Tensor, owner: torch.Tensor, size: int) -> tuple[torch.Tensor,
                                                                                                        torch.Tensor]:
    """Crops of each box from its own image, resized to size x size and normalised; and the kept rows.

    Crops of equal shape are resized in one call: area resampling treats each sample alone.
    """
    spans = []
    for k, (box, i) in enumerate(zip(boxes, owner.tolist(), strict=True)):
        img = images[i]
        y, ey, x, ex = pad(box[None], img.shape[2], img.shape[1])
        if ey[0] > y[0] - 1 and ex[0] > x[0] - 1:
            spans.append((k, i, int(y[0]) - 1, int(ey[0]), int(x[0]) - 1, int(ex[0])))
    if not spans:
        return torch.zeros(0, 3, size, size), torch.zeros(0, dtype=torch.long)
    groups: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for span in spans:
        groups[(span[3] - span[2], span[5] - span[4])].append(span)
    out = torch.empty(len(spans), 3, size, size, dtype=images[0].dtype, device=images[0].device)
    position = {span[0]: n for n, span in enumerate(spans)}
    for members in groups.values():
        stack = torch.stack([images[i][:, y0:y1, x0:x1] for _, i, y0, y1, x0, x1 in members])
        out[[position[m[0]] for m in members]] = imresample(stack, (size, size))
    kept = torch.tensor([span[0] for span in spans], dtype=torch.long)
    return normalise(out), kept


def _in_batches(net: nn.Module, data: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The refine nets run on channels-last input: 2-3x faster on CPU, outputs within a few 1e-6."""
    outs = [net(data[i:i + REFINE_BATCH].contiguous(memory_format=torch.channels_last))
            for i in range(0, len(data), REFINE_BATCH)]
    return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))


@dataclass(frozen=True)
class Cascade:
    """Everything the networks said about one image's candidates, enough to decide any stricter
    thresholds again with NMS alone. Rows are the PNet proposals (after PNet's NMS and regression)."""

    proposals: torch.Tensor  # (K, 5) x1 y1 x2 y2 and PNet score
    rnet_score: torch.Tensor  # (K,) nan where the box had no crop
    rnet_reg: torch.Tensor  # (K, 4)
    refined: torch.Tensor  # (K, 4) the box after RNet's regression and squaring: ONet's input
    onet_score: torch.Tensor  # (K,) nan where ONet did not run
    onet_reg: torch.Tensor  # (K, 4)
    floor: tuple[float, float, float]  # the thresholds it was computed with; stricter ones resolve exactly


def _nan(n: int, *shape: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((n, *shape), float("nan"), dtype=like.dtype, device=like.device)


def _rnet_survivors(c: Cascade, thresholds: tuple[float, float, float]) -> torch.Tensor:
    """Rows that pass PNet and RNet and survive RNet's NMS, as facenet-pytorch's second stage."""
    ok = (c.proposals[:, 4] >= thresholds[0]) & (c.rnet_score > thresholds[1])  # nan compares False
    rows = torch.nonzero(ok).flatten()
    keep = batched_nms(c.proposals[rows, :4], c.rnet_score[rows], torch.zeros_like(rows), RNET_NMS)
    return rows[keep]


@torch.inference_mode()
def cascade(images: list[Image.Image], pnet: nn.Module, rnet: nn.Module, onet: nn.Module,
            thresholds: tuple[float, float, float], min_face_size: int = 20, factor: float = 0.709,
            exhaustive: bool = False, device: torch.device | None = None) -> list[Cascade]:
    """Run the three networks over all images (grouped by size for PNet, batched across images for
    RNet and ONet). exhaustive: ONet sees every box that passes RNet, not only RNet's NMS survivors,
    so that any stricter thresholds can be resolved later without a network."""
    device = device or next(pnet.parameters()).device
    dtype = next(pnet.parameters()).dtype
    tensors = [torch.as_tensor(np.array(im.convert("RGB")), device=device).permute(2, 0, 1).to(dtype)
               for im in images]
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, t in enumerate(tensors):
        by_size[tuple(t.shape[1:])].append(i)
    boxes, owner = [], []
    for members in by_size.values():
        b, _, local = proposals(torch.stack([tensors[i] for i in members]), pnet, thresholds[0], min_face_size,
                                 factor)
        boxes.append(b)
        owner.append(torch.as_tensor(members, device=device)[local])
    boxes, owner = torch.cat(boxes), torch.cat(owner)
    k = len(boxes)
    rnet_score, rnet_reg = _nan(k, like=boxes), _nan(k, 4, like=boxes)
    data, rows = _crops(tensors, boxes, owner, 24)
    if len(data):
        reg, probs = _in_batches(rnet, data)
        rnet_score[rows], rnet_reg[rows] = probs[:, 1], reg
    refined = boxes[:, :4].clone()
    with_reg = ~torch.isnan(rnet_score)
    refined[with_reg] = rerec(bbreg(torch.cat([boxes[with_reg, :4], rnet_score[with_reg, None]], 1),
                                    rnet_reg[with_reg]))[:, :4]
    per_image = [Cascade(boxes[owner == i], rnet_score[owner == i], rnet_reg[owner == i], refined[owner == i],
                         _nan(int((owner == i).sum()), like=boxes), _nan(int((owner == i).sum()), 4, like=boxes),
                         tuple(thresholds)) for i in range(len(images))]
    if exhaustive:
        wanted = [torch.nonzero((c.proposals[:, 4] >= thresholds[0]) & (c.rnet_score > thresholds[1])).flatten()
                  for c in per_image]
    else:
        wanted = [_rnet_survivors(c, thresholds) for c in per_image]
    flat = torch.cat([c.refined[w] for c, w in zip(per_image, wanted, strict=True)])
    flat_owner = torch.cat([torch.full((len(w),), i, device=device) for i, w in enumerate(wanted)])
    data, rows = _crops(tensors, flat, flat_owner, 48)
    if len(data):
        reg, _, probs = _in_batches(onet, data)
        scores, regs = _nan(len(flat), like=flat), _nan(len(flat), 4, like=flat)
        scores[rows], regs[rows] = probs[:, 1], reg
        start = 0
        for c, w in zip(per_image, wanted, strict=True):
            c.onet_score[w], c.onet_reg[w] = scores[start:start + len(w)], regs[start:start + len(w)]
            start += len(w)
    return per_image


def resolve(c: Cascade, thresholds: tuple[float, float, float]) -> StagedDetections:
    """The detections for thresholds at least as strict as the cascade's floor: NMS only, no network."""
    if any(t < f for t, f in zip(thresholds, c.floor, strict=True)):
        raise ValueError(f"thresholds {thresholds} are below the cached run's {c.floor}; run the networks again")
    rows = _rnet_survivors(c, thresholds)
    rows = rows[c.onet_score[rows] > thresholds[2]]
    final = bbreg(torch.cat([c.refined[rows], c.onet_score[rows, None]], 1), c.onet_reg[rows])
    pick = batched_nms_numpy(final[:, :4], final[:, 4], torch.zeros(len(rows), dtype=torch.long), ONET_NMS, "Min")
    rows, final = rows[pick], final[pick]
    stages = torch.stack([c.proposals[rows, 4], c.rnet_score[rows], final[:, 4]], dim=1)
    return StagedDetections(final[:, :4].cpu().numpy().astype(float), final[:, 4].cpu().numpy().astype(float),
                            stages.cpu().numpy().astype(float))


def detect(images: list[Image.Image], pnet: nn.Module, rnet: nn.Module, onet: nn.Module,
           thresholds: tuple[float, float, float], min_face_size: int = 20, factor: float = 0.709,
           device: torch.device | None = None) -> list[StagedDetections]:
    """Faces in every image, with per-stage scores; images may differ in size."""
    return [resolve(c, thresholds) for c in cascade(images, pnet, rnet, onet, thresholds, min_face_size, factor,
                                                    device=device)]
