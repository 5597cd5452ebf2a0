import numpy as np
import pytest
from facenet_pytorch import MTCNN

from core.data import catalogue, samples
from core.data.types import open_image
from core.models import mtcnn_batched as mb

PERMISSIVE = mb.STUDY_THRESHOLDS
DEFAULT = mb.DEFAULT_THRESHOLDS


@pytest.fixture(scope="module")
def images():
    test = catalogue.load("cartoon_faces/detection").split_samples("test")[:14]
    return [open_image(s.image) for s in test] + [samples.load_sample(n).image for n in ("astronaut", "zidane")]


def facenet_loop(images, thresholds):
    m = MTCNN(keep_all=True, thresholds=list(thresholds), device="cpu", post_process=False).eval()
    out = []
    for im in images:
        boxes, probs = m.detect(im)
        out.append((np.zeros((0, 4)), np.zeros(0)) if boxes is None else
                   (np.asarray(boxes, float), np.asarray(probs, float)))
    return m, out


def sort_rows(boxes: np.ndarray) -> np.ndarray:
    return boxes[np.lexsort(boxes.T[::-1])]


def test_batched_detections_equal_a_per_image_facenet_loop(images):
    m, reference = facenet_loop(images, PERMISSIVE)
    ours = mb.detect(images, m.pnet, m.rnet, m.onet, PERMISSIVE)
    assert sum(len(b) for b, _ in reference) > 20, "the images must hold faces and false alarms to compare"
    for (boxes, probs), d in zip(reference, ours, strict=True):
        assert d.boxes.shape == boxes.shape
        np.testing.assert_allclose(sort_rows(d.boxes), sort_rows(boxes), atol=1e-3)
        np.testing.assert_allclose(np.sort(d.scores), np.sort(probs), atol=1e-4)


def test_stage_scores_pass_the_thresholds_and_end_in_the_final_score(images):
    m, _ = facenet_loop(images[:1], PERMISSIVE)
    for d in mb.detect(images, m.pnet, m.rnet, m.onet, PERMISSIVE):
        assert d.stage_scores.shape == (len(d.boxes), 3)
        np.testing.assert_array_equal(d.stage_scores[:, 2], d.scores)
        assert (d.stage_scores[:, 0] >= PERMISSIVE[0]).all() and (d.stage_scores[:, 1] > PERMISSIVE[1]).all()


@pytest.fixture(scope="module")
def cached(images):
    """The nets and one exhaustive cascade at the study's thresholds, shared by the re-scoring checks."""
    m, _ = facenet_loop(images[:1], PERMISSIVE)
    return m, mb.cascade(images, m.pnet, m.rnet, m.onet, PERMISSIVE, exhaustive=True)


@pytest.mark.parametrize("strict", [DEFAULT, (0.3, 0.5, 0.9), (0.1, 0.9, 0.2)])
def test_stricter_thresholds_resolved_from_the_cache_equal_a_rerun(images, cached, strict):
    m, cached = cached
    rerun = mb.detect(images, m.pnet, m.rnet, m.onet, strict)
    assert sum(len(r.boxes) for r in rerun) > 5
    for c, r in zip(cached, rerun, strict=True):
        resolved = mb.resolve(c, strict)
        assert resolved.boxes.shape == r.boxes.shape
        np.testing.assert_allclose(sort_rows(resolved.boxes), sort_rows(r.boxes), atol=1e-3)


def test_thresholds_below_the_cached_floor_are_refused(images):
    m, _ = facenet_loop(images[:1], PERMISSIVE)
    (c,) = mb.cascade(images[:1], m.pnet, m.rnet, m.onet, DEFAULT, exhaustive=True)
    with pytest.raises(ValueError, match="below the cached run"):
        mb.resolve(c, PERMISSIVE)
