"""ImageNet classifiers repurposed as face embeddings: the verification study's networks.

An embedding network is a backbone's blocks, its own pooling, and its ImageNet classifier cut at a
tap: "output" keeps the whole classifier (the 1000-d output the study compared), "penultimate"
stops before the last linear layer (4096-d for AlexNet and VGG16, the pooled 1280-d features for
MobileNetV2 and EfficientNet-Lite0). The cut classifier is the head, so the freeze strategies of
core.engine.strategies apply unchanged: "frozen" trains the classifier layers only (the study's
phase 1), "two_phase" then everything (its phase 2).
"""

from __future__ import annotations

import torch
from torch import nn

from core import weights
from core.models import backbones, classifiers

TAPS = {
    "output": "the 1000-d ImageNet output (the study)",
    "penultimate": "the features before the last linear layer",
}


def check_tap(tap: str) -> None:
    if tap not in TAPS:
        raise ValueError(f"unknown embedding tap {tap!r}; choose from {list(TAPS)}")


def source(backbone: str, tap: str) -> str:
    """The weights source an embedding needs: the 1000-d output needs a file that has the ImageNet classifier."""
    check_tap(tap)
    if backbone not in backbones.BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; choose from {sorted(backbones.BACKBONES)}")
    src = backbones.BACKBONES[backbone].source
    return "mobilenet_v2_imagenet" if tap == "output" and src == "mobilenet_v2_features" else src


class EmbeddingNet(backbones.TransferModel):
    """blocks -> the architecture's own pooling -> flatten -> head (the classifier up to the tap)."""

    def __init__(self, blocks: nn.Sequential, pool: nn.Module, head: nn.Sequential, width: int) -> None:
        super().__init__(blocks, width, head)
        self.pool = pool


def _classifier(backbone: str, model: nn.Module) -> tuple[nn.Module, list[nn.Module]]:
    """(pooling, classifier layers in order) of an ImageNet model."""
    if backbone.startswith(("mobilenet", "alexnet", "vgg")):
        pool = getattr(model, "avgpool", nn.AdaptiveAvgPool2d(1))
        head = model.classifier
        return pool, [] if isinstance(head, nn.Identity) else list(head)
    if backbone.startswith(("resnet", "regnet")):
        return model.avgpool, [model.fc]
    if backbone.startswith("efficientnet"):
        return model._avg_pooling, [model._dropout, model._fc]
    raise KeyError(f"no classifier split for backbone {backbone!r}")


def cut(layers: list[nn.Module], tap: str) -> list[nn.Module]:
    """The classifier up to the tap: all of it, or everything before its last linear layer (and the
    dropout just before that layer, which only matters in training)."""
    check_tap(tap)
    if tap == "output":
        return layers
    last = max((i for i, m in enumerate(layers) if isinstance(m, nn.Linear)), default=0)
    kept = layers[:last]
    while kept and isinstance(kept[-1], nn.Dropout):
        kept.pop()
    return kept


def build(backbone: str, tap: str, pretrained: bool = True) -> tuple[EmbeddingNet, classifiers.Preprocess]:
    """The embedding network and the preprocessing of its weights (WeightsUnavailable when not on disk)."""
    src = source(backbone, tap)
    if pretrained:
        weights.fetch(src)
        model, prep = classifiers.pretrained(src)
    else:
        model, prep = classifiers.architecture(src)
    pool, layers = _classifier(backbone, model)
    if tap == "output" and not layers:
        raise ValueError(f"{backbone}: its weights {src!r} have no ImageNet classifier, so no 1000-d output")
    head = nn.Sequential(*cut(layers, tap))
    linears = [m for m in head if isinstance(m, nn.Linear)]
    width = linears[-1].out_features if linears else backbones.BACKBONES[backbone].width
    return EmbeddingNet(backbones.blocks_of(backbone, model), pool, head, width).eval(), prep


def head_has_layers(backbone: str, tap: str) -> bool:
    """Whether the classifier cut at this tap keeps any layer with weights (phase 1 has something to train).
    Read from the architecture built on the meta device (no weights, no memory) where its builder allows."""
    try:
        with torch.device("meta"):
            model, _ = classifiers.architecture(source(backbone, tap))
    except NotImplementedError:  # a builder that computes with real tensors (RegNet's widths): a small model
        model, _ = classifiers.architecture(source(backbone, tap))
    _, layers = _classifier(backbone, model)
    return any(p.numel() for m in cut(layers, tap) for p in m.parameters())


@torch.inference_mode()
def embed(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) normalised images -> (B, D) float embeddings on the CPU."""
    return model(batch).float().cpu()
