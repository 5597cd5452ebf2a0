"""Backbones with a new task head: feature extractor + head, pretrained or from scratch.

A backbone splits into an ordered list of blocks (for "freeze the first k" and gradual
unfreezing) ending in a feature vector of known width; the head is linear or a grafted MLP
(512->256->32->out, or 2048->512->128->out for wide features, GELU, as in the age study).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core import weights
from core.models import classifiers

MLP_HEADS = {512: (256, 32), 1280: (256, 32), 2048: (512, 128)}  # feature width -> hidden widths
HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    source: str  # weights source key
    width: int  # feature vector width


BACKBONES = {s.name: s for s in [
    BackboneSpec("mobilenet_v2", "mobilenet_v2_features", 1280),
    BackboneSpec("efficientnet_lite0", "efficientnet_lite0_imagenet", 1280),
    BackboneSpec("resnet18", "resnet18_imagenet", 512),
    BackboneSpec("resnet50", "resnet50_imagenet", 2048),
    BackboneSpec("resnet152", "resnet152_imagenet", 2048),
    BackboneSpec("mobilenet_v3_large", "mobilenet_v3_large_imagenet", 960),
    BackboneSpec("regnet_y_400mf", "regnet_y_400mf_imagenet", 440),
    BackboneSpec("alexnet", "alexnet_imagenet", 256),
    BackboneSpec("vgg16", "vgg16_imagenet", 512),
]}


class TransferModel(nn.Module):
    """blocks -> global pool -> flatten -> head. `blocks` is an nn.Sequential, earliest first."""

    def __init__(self, blocks: nn.Sequential, width: int, head: nn.Module) -> None:
        super().__init__()
        self.blocks, self.width, self.head = blocks, width, head
        self.pool = nn.AdaptiveAvgPool2d(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, width)."""
        return torch.flatten(self.pool(self.blocks(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_head(kind: str, width: int, out: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(width, out)
    if kind == "mlp":
        hidden = MLP_HEADS.get(width, (max(width // 2, 32), 32))
        layers: list[nn.Module] = []
        for a, b in zip((width, *hidden), hidden, strict=False):
            layers += [nn.Linear(a, b), nn.GELU()]
        return nn.Sequential(*layers, nn.Linear(hidden[-1], out))
    raise ValueError(f"unknown head {kind!r}; choose from {list(HEADS)}")


def blocks_of(name: str, model: nn.Module) -> nn.Sequential:
    """The backbone's layers in order, each a unit of freezing; the classifier is left out."""
    if name in ("mobilenet_v2", "mobilenet_v3_large"):
        return nn.Sequential(*model.features)
    if name == "efficientnet_lite0":
        stem = nn.Sequential(model._conv_stem, model._bn0, nn.ReLU6())
        head = nn.Sequential(model._conv_head, model._bn1, nn.ReLU6())
        return nn.Sequential(stem, *model._blocks, head)
    if name.startswith("resnet"):
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        return nn.Sequential(stem, model.layer1, model.layer2, model.layer3, model.layer4)
    if name.startswith("regnet"):
        return nn.Sequential(model.stem, *model.trunk_output)
    if name in ("alexnet", "vgg16"):  # one block per stage: the convolutions up to and including a max-pool
        stages, current = [], []
        for layer in model.features:
            current.append(layer)
            if isinstance(layer, nn.MaxPool2d):
                stages.append(nn.Sequential(*current))
                current = []
        return nn.Sequential(*stages)
    raise KeyError(f"no block split for backbone {name!r}")


def build(backbone: str, num_outputs: int, head: str = "linear", pretrained: bool = True
          ) -> tuple[TransferModel, classifiers.Preprocess]:
    """A backbone with a new head; pretrained weights when asked (WeightsUnavailable if not on disk)."""
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    spec = BACKBONES[backbone]
    if pretrained:
        weights.fetch(spec.source)  # downloads into the torch cache when online; one clear message when not
        model, prep = classifiers.pretrained(spec.source)
    else:
        model, prep = classifiers.architecture(spec.source)
        if spec.source == "mobilenet_v2_features":
            model.classifier = nn.Identity()
    return TransferModel(blocks_of(backbone, model), spec.width, make_head(head, spec.width, num_outputs)), prep


def preprocess(backbone: str) -> classifiers.Preprocess:
    """The normalisation the backbone's pretrained weights expect (used from scratch too)."""
    return classifiers.preprocess(BACKBONES[backbone].source)


def available(backbone: str) -> bool:
    """Whether pretrained weights can be had now: on disk, or downloadable."""
    return weights.state(BACKBONES[backbone].source) != weights.State.MISSING
