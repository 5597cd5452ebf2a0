"""Image classifiers built from weight sources, with the preprocessing that belongs to their weights."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.transforms import v2 as T

from core import weights


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side, centre-crop, normalise: what each set of weights was trained with."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def transform(self) -> T.Compose:
        return T.Compose([
            T.ToImage(), T.Resize(self.resize, antialias=True), T.CenterCrop(self.crop),
            T.ToDtype(torch.float32, scale=True), T.Normalize(self.mean, self.std),
        ])


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_PREPROCESS = Preprocess(256, 224, IMAGENET_MEAN, IMAGENET_STD)

# Architecture name for each torchvision-family source (torchvision.models.get_model names).
TORCHVISION_ARCH = {
    "resnet18_imagenet": "resnet18", "resnet50_imagenet": "resnet50", "resnet152_imagenet": "resnet152",
    "alexnet_imagenet": "alexnet", "vgg16_imagenet": "vgg16", "mobilenet_v2_imagenet": "mobilenet_v2",
    "mobilenet_v3_large_imagenet": "mobilenet_v3_large", "mobilenet_v3_small_imagenet": "mobilenet_v3_small",
    "regnet_y_400mf_imagenet": "regnet_y_400mf", "mobilenet_v2_features": "mobilenet_v2",
}
EFFICIENTNET_LITE = {"efficientnet_lite0_imagenet": ("efficientnet-lite0", 224),
                     "efficientnet_lite1_imagenet": ("efficientnet-lite1", 240)}


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard index order (shipped inside torchvision)."""
    return list(tvm.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def remap_flat_mobilenet_v2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an older flat MobileNetV2 layout (features.N.conv.I.*) to torchvision's nesting.

    Block 1 (no expansion) has conv indices 0,1,3,4; blocks 2-17 have 0,1,3,4,6,7.
    """
    block1 = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
    later = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
    pattern = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")
    out = {}
    for key, value in state.items():
        match = pattern.match(key)
        if match:
            block, index, rest = match.groups()
            table = block1 if block == "1" else later
            key = f"features.{block}.conv.{table[index]}.{rest}"
        out[key] = value
    return out


def preprocess(source: str) -> Preprocess:
    """What the source's weights expect, without building a model."""
    if source in EFFICIENTNET_LITE:
        size = EFFICIENTNET_LITE[source][1]
        return Preprocess(int(round(size / 0.875)), size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    if source in TORCHVISION_ARCH:
        return TORCHVISION_PREPROCESS
    raise KeyError(f"no preprocessing known for source {source!r}; "
                   f"choose from {sorted([*EFFICIENTNET_LITE, *TORCHVISION_ARCH])}")


def build_efficientnet_lite(source: str, num_classes: int = 1000) -> tuple[nn.Module, Preprocess]:
    from efficientnet_lite_pytorch import EfficientNet

    arch, _ = EFFICIENTNET_LITE[source]
    return EfficientNet.from_name(arch, num_classes=num_classes), preprocess(source)


def build_torchvision(source: str, num_classes: int = 1000) -> tuple[nn.Module, Preprocess]:
    return tvm.get_model(TORCHVISION_ARCH[source], weights=None, num_classes=num_classes), TORCHVISION_PREPROCESS


def architecture(source: str, num_classes: int = 1000) -> tuple[nn.Module, Preprocess]:
    """An untrained model of the source's architecture and the preprocessing its weights expect."""
    if source in EFFICIENTNET_LITE:
        return build_efficientnet_lite(source, num_classes)
    if source in TORCHVISION_ARCH:
        return build_torchvision(source, num_classes)
    raise KeyError(f"no classifier architecture for source {source!r}; "
                   f"choose from {sorted([*EFFICIENTNET_LITE, *TORCHVISION_ARCH])}")


def pretrained(source: str) -> tuple[nn.Module, Preprocess]:
    """The source's architecture with its pretrained weights loaded (strict, except a missing head).

    Raises weights.WeightsUnavailable when the file is not on this machine.
    """
    model, prep = architecture(source)
    state = weights.load_state_dict(source)
    if source == "mobilenet_v2_features":
        state = remap_flat_mobilenet_v2(state)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"classifier.1.weight", "classifier.1.bias"}:
            raise ValueError(f"MobileNetV2 feature weights did not map: missing {missing}, unexpected {unexpected}")
        model.classifier = nn.Identity()  # features only: no ImageNet head ships with this file
    else:
        model.load_state_dict(state)
    return model.eval(), prep
