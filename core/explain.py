"""Where does a classifier look? Grad-CAM heatmaps (the `grad-cam` package) of a classifier's last convolutional
feature map for chosen classes of one image, over the image as the model saw it (resized, centre-cropped).

Used side by side for a pretrained and a fine-tuned classifier on the same image, for the predicted and the true
class: the heatmap shows which regions raised that class's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.predictors import Classifier


@dataclass(frozen=True)
class Heatmap:
    label: str  # the class the map explains
    role: str  # "predicted", "true", or both ("predicted = true")
    prob: float  # the model's probability for that class on this image
    mask: np.ndarray  # (H, W) float in [0, 1], the model's input size
    overlay: np.ndarray  # (H, W, 3) uint8: the input image with the map over it


def target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional feature map: a transfer model's last backbone block, else the last Conv2d."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.Sequential) and len(blocks):
        return blocks[-1]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no convolutional layer for Grad-CAM")
    return convs[-1]


def seen_image(clf: Classifier, x: torch.Tensor) -> np.ndarray:
    """The normalised input tensor (3, H, W) back to the RGB float image in [0, 1] that the model saw."""
    mean = torch.tensor(clf.prep.mean).view(3, 1, 1)
    std = torch.tensor(clf.prep.std).view(3, 1, 1)
    return (x.detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def gradcam(clf: Classifier, image: Image.Image, true_label: str | None = None) -> list[Heatmap]:
    """Heatmaps for the predicted class and, when given and one of the classifier's classes, the true class
    (one map when they are the same class)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = clf.batch([image])
    probs = clf.probabilities(x)[0].cpu().numpy()
    predicted = int(probs.argmax())
    wanted = [(predicted, "predicted")]
    if true_label is not None and true_label in clf.labels:
        true = clf.labels.index(true_label)
        wanted = [(predicted, "predicted = true")] if true == predicted else [*wanted, (true, "true")]
    rgb = seen_image(clf, x[0])
    with torch.enable_grad(), GradCAM(model=clf.model, target_layers=[target_layer(clf.model)]) as cam:
        masks = cam(input_tensor=x.repeat(len(wanted), 1, 1, 1),
                    targets=[ClassifierOutputTarget(i) for i, _ in wanted])
    return [Heatmap(clf.labels[i], role, float(probs[i]), mask, show_cam_on_image(rgb, mask, use_rgb=True))
            for (i, role), mask in zip(wanted, masks, strict=True)]
