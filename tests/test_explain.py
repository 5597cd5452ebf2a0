"""Grad-CAM (core.explain): the heatmap follows the object, for the predicted and the true class."""

import numpy as np
import pytest
import torch
from PIL import Image

from core import explain, predictors, registry
from core.data import samples
from core.models import backbones


@pytest.fixture(scope="module")
def lite0():
    return predictors.build(registry.BUILTIN["efficientnet_lite0/imagenet"], torch.device("cpu"))


def _cat_on(side: str) -> Image.Image:
    """The chelsea cat on one half of a grey canvas."""
    canvas = Image.new("RGB", (448, 224), (128, 128, 128))
    canvas.paste(samples.load_sample("chelsea").image.convert("RGB").resize((210, 140)), (0 if side == "left" else 238, 42))
    return canvas


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_heatmap_sits_on_the_cat_for_the_predicted_and_the_true_class(lite0, side):
    maps = explain.gradcam(lite0, _cat_on(side), true_label="tabby")
    assert [m.role for m in maps] == ["predicted", "true"] and maps[1].label == "tabby"
    assert maps[0].label in ("Egyptian cat", "tabby", "tiger cat")
    for m in maps:
        assert m.mask.shape == (224, 224) and m.overlay.shape == (224, 224, 3) and m.overlay.dtype == np.uint8
        left = m.mask[:, :112].sum() / m.mask.sum()
        assert left > 0.7 if side == "left" else left < 0.3


def test_one_map_when_the_true_class_is_predicted_and_none_for_a_foreign_class(lite0):
    image = _cat_on("left")
    predicted = explain.gradcam(lite0, image)[0].label
    assert [m.role for m in explain.gradcam(lite0, image, true_label=predicted)] == ["predicted = true"]
    assert [m.role for m in explain.gradcam(lite0, image, true_label="not an imagenet class")] == ["predicted"]


def test_a_transfer_model_is_explained_at_its_last_backbone_block():
    model, _ = backbones.build("mobilenet_v2", 3, "linear", pretrained=False)
    assert explain.target_layer(model) is model.blocks[-1]
    with pytest.raises(ValueError, match="no convolutional layer"):
        explain.target_layer(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)))
