import numpy as np
import torch
from PIL import Image
from skimage import data
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from core import registry
from core.data import samples
from core.models import classifiers
from core.models.outputs import Detections, TopK
from core.predictors import build

CPU = torch.device("cpu")


def test_efficientnet_lite0_says_espresso_for_coffee():
    model = build(registry.variant("efficientnet_lite0/imagenet"), CPU)
    (top,) = model.predict([samples.load_sample("coffee").image])
    assert isinstance(top, TopK) and len(top.labels) == 5
    assert top.labels[0] == "espresso" and top.probs[0] > 0.5
    assert np.all(np.diff(top.probs) <= 0)


def test_efficientnet_lite1_batch_matches_single_images():
    model = build(registry.variant("efficientnet_lite1/imagenet"), CPU)
    images = [samples.load_sample(n).image for n in ("coffee", "chelsea")]
    batch = model.predict(images)
    single = [model.predict([im])[0] for im in images]
    for b, s in zip(batch, single, strict=True):
        assert b.labels == s.labels
        np.testing.assert_allclose(b.probs, s.probs, atol=1e-4)
    assert batch[1].labels[0] in {"tabby", "tiger cat", "Egyptian cat"}


def test_mtcnn_finds_the_one_face_in_astronaut():
    model = build(registry.variant("mtcnn/pretrained"), CPU)
    (dets,) = model.predict([samples.load_sample("astronaut").image])
    assert isinstance(dets, Detections) and dets.boxes.shape == (1, 4) and dets.boxes.dtype == float
    x1, y1, x2, y2 = dets.boxes[0]
    assert dets.scores[0] > 0.9
    # The face in the 512x512 photo sits at x 160-290, y 40-200.
    assert 160 < x1 < x2 < 290 and 40 < y1 < y2 < 200


def test_mtcnn_on_an_image_without_faces_returns_empty_arrays():
    model = build(registry.variant("mtcnn/pretrained"), CPU)
    (dets,) = model.predict([Image.new("RGB", (64, 48), "white")])
    assert dets.boxes.shape == (0, 4) and dets.scores.shape == (0,)


def _lfw_features(model: torch.nn.Module, prep: classifiers.Preprocess) -> np.ndarray:
    faces = data.lfw_subset()  # 200 x 25 x 25 floats in [0, 1]: 100 faces, then 100 non-faces
    transform = classifiers.Preprocess(64, 64, prep.mean, prep.std).transform()  # 25 px patches: 64 px is plenty
    batch = torch.stack([transform(Image.fromarray((f * 255).astype(np.uint8)).convert("RGB")) for f in faces])
    with torch.inference_mode():
        return model(batch).numpy()


def test_mobilenet_v2_feature_weights_map_and_transfer():
    pretrained, prep = classifiers.pretrained("mobilenet_v2_features")
    labels = np.repeat([1, 0], 100)
    probe = LogisticRegression(max_iter=2000)
    acc = cross_val_score(probe, _lfw_features(pretrained, prep), labels, cv=5).mean()
    torch.manual_seed(0)
    scratch, _ = classifiers.architecture("mobilenet_v2_features")
    scratch.classifier = torch.nn.Identity()
    acc_scratch = cross_val_score(probe, _lfw_features(scratch.eval(), prep), labels, cv=5).mean()
    assert acc >= 0.95
    assert acc > acc_scratch


def test_flat_mobilenet_keys_are_renamed_to_torchvision_nesting():
    flat = {"features.1.conv.3.weight": 1, "features.2.conv.4.bias": 2, "features.2.conv.7.weight": 3,
            "features.0.0.weight": 4}
    assert classifiers.remap_flat_mobilenet_v2(flat) == {
        "features.1.conv.1.weight": 1, "features.2.conv.1.1.bias": 2, "features.2.conv.3.weight": 3,
        "features.0.0.weight": 4}
