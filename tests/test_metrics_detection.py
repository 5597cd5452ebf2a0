import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.metrics import detection as det
from core.metrics import paired
from core.metrics.synthetic import make_coco_set

STATS = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium",
         "AR_large"]


def pycocotools_eval(gt: dict, results: list[dict], ious: list[float] | None = None) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        e = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
        if ious is not None:
            e.params.iouThrs = np.array(ious)
        e.evaluate()
        e.accumulate()
        if ious is None:
            e.summarize()
    return e


@pytest.mark.parametrize("seed, n_images, crowd_rate, informative", [(11, 600, 0.03, False), (12, 500, 0.15, False),
                                                                     (14, 500, 0.03, True)])
def test_coco_numbers_equal_pycocotools(seed, n_images, crowd_rate, informative):
    gt, results = make_coco_set(seed, n_images, crowd_rate=crowd_rate, informative_scores=informative)
    counts = [sum(a["image_id"] == i for a in gt["annotations"]) for i in range(1, 50)]
    assert len(set(counts)) > 5 and 0 in counts, "the set must vary the number of boxes per image"
    truth, dets, names = det.from_coco(gt, results)
    ours = det.evaluate(truth, dets, class_names=names)
    ref = pycocotools_eval(gt, results)
    np.testing.assert_allclose([ours.stats[k] for k in STATS], ref.stats, atol=1e-4)
    assert ours.stats["AP"] > 0.01 and ours.n_images == n_images


def test_single_custom_iou_threshold_equals_pycocotools():
    gt, results = make_coco_set(13, 500)
    truth, dets, names = det.from_coco(gt, results)
    ours = det.evaluate(truth, dets, iou_thresholds=(0.3,), class_names=names)
    precision = pycocotools_eval(gt, results, ious=[0.3]).eval["precision"][0, :, :, 0, -1]
    assert ours.stats["AP"] == pytest.approx(precision[precision > -1].mean(), abs=1e-4)
    assert "AP_VOC30" in ours.stats and "AP50" not in ours.stats


def hand_curve() -> det.PRCurve:
    """3 truths; detections by score: TP, FP, TP, FP, TP."""
    return det.pr_curve(np.array([0.9, 0.8, 0.7, 0.6, 0.5]), np.array([1, 0, 1, 0, 1], bool), 3)


def test_ap_three_ways_on_a_hand_worked_curve():
    curve = hand_curve()
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 1 / 2, 3 / 5])
    np.testing.assert_allclose(curve.recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    # VOC all-point: envelope 1, 2/3, 3/5 over thirds of recall.
    assert det.ap_voc(curve) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # COCO 101-point: recall 0..0.33 -> 1 (34 points), 0.34..0.66 -> 2/3 (33), 0.67..1 -> 3/5 (34).
    assert det.ap_coco101(curve) == pytest.approx((34 + 33 * 2 / 3 + 34 * 3 / 5) / 101)
    best = det.best_f1(curve)
    assert (best.threshold, best.f1) == (0.5, pytest.approx(0.75))


def test_perfect_detector_scores_one_and_trapezoid_keeps_its_documented_995():
    curve = det.pr_curve(np.array([0.9, 0.8]), np.array([True, True]), 2)
    assert det.ap_voc(curve) == 1.0 and det.ap_coco101(curve) == 1.0
    assert det.ap_trapezoid(curve) == pytest.approx(0.995)  # closing at (recall 1, precision 0), as ultralytics


def test_each_truth_is_matched_once_and_the_higher_score_wins():
    gt = np.array([[0, 0, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9]], float)
    match = det.match_image(boxes, np.array([0.2, 0.9]), gt, 0.5)
    assert match.is_tp.tolist() == [False, True] and match.gt_matched.tolist() == [True]
    assert det.match_image(boxes[:0], np.zeros(0), gt).gt_matched.tolist() == [False]


def test_images_without_truth_or_detections_are_handled():
    empty = np.zeros((0, 4))
    truth = {1: det.ImageTruth(np.array([[0, 0, 10, 10]], float), np.array([1])),
             2: det.ImageTruth(empty, np.zeros(0, int)), 3: det.ImageTruth(empty, np.zeros(0, int))}
    dets = {1: det.ImageDetections(np.array([[0, 0, 10, 10]], float), np.array([0.5]), np.array([1])),
            2: det.ImageDetections(np.array([[5, 5, 20, 20]], float), np.array([0.9]), np.array([1]))}
    r = det.evaluate(truth, dets, iou_thresholds=(0.5,))
    # The false positive on image 2 outranks the true positive: precision 1/2 at recall 1.
    assert r.stats["AP"] == pytest.approx(0.5) and r.n_gt == 1 and r.n_detections == 2
    nothing = det.evaluate({1: det.ImageTruth(empty, np.zeros(0, int))}, {})
    assert nothing.stats["AP"] == -1.0 and nothing.per_class.empty


@pytest.mark.parametrize("make, message", [
    (lambda: ({1: det.ImageTruth(np.zeros((0, 4)), np.zeros(0))},
              {1: det.ImageDetections(np.array([[0, 0, 1, 1], [0, 0, 2, 2]]), np.array([0.5, np.nan]), np.array([1, 1]))}),
     "NaN or infinite value (first at index 1)"),
    (lambda: ({1: det.ImageTruth(np.array([[5, 0, 1, 1]]), np.array([1]))}, {}), "x2 < x1 or y2 < y1 (first at index 0"),
    (lambda: ({1: det.ImageTruth(np.zeros((0, 4)), np.zeros(0))},
              {7: det.ImageDetections(np.zeros((0, 4)), np.zeros(0), np.zeros(0))}), "no ground truth entry (first: 7)"),
    (lambda: ({1: det.ImageTruth(np.array([[0, 0, 1, 1]]), np.array([1, 2]))}, {}), "lengths differ"),
])
def test_bad_detection_input_names_the_problem(make, message):
    truth, dets = make()
    with pytest.raises(ValueError) as info:
        det.evaluate(truth, dets)
    assert message in str(info.value)


def test_negative_coco_size_and_bad_thresholds_are_refused():
    gt = {"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, -3, 4]}],
          "categories": [{"id": 1}]}
    with pytest.raises(ValueError, match="negative width or height"):
        det.from_coco(gt, [])
    with pytest.raises(ValueError, match="IoU thresholds"):
        det.evaluate({}, {}, iou_thresholds=())


def test_ap_over_resampled_images_and_its_paired_bootstrap():
    rng = np.random.default_rng(0)
    n_img = 60
    img = np.repeat(np.arange(n_img), 4)
    n_gt = np.full(n_img, 3)
    good_tp = rng.random(len(img)) < 0.7
    bad_tp = good_tp & (rng.random(len(img)) < 0.6)
    scores = rng.random(len(img))
    good = det.ap_of_counts(img, scores, good_tp, n_gt)
    bad = det.ap_of_counts(img, scores, bad_tp, n_gt)
    ones = np.ones(n_img, np.int64)
    assert good(ones) == pytest.approx(det.ap_coco101(det.pr_curve(scores, good_tp, 3 * n_img)))
    assert good(2 * ones) == pytest.approx(good(ones))
    cmp = paired.paired_bootstrap(good, bad, n_img, "AP", n_boot=300)
    assert cmp.delta > 0 and cmp.ci95[0] > 0 and cmp.ci95[0] <= cmp.delta <= cmp.ci95[1]
    with pytest.raises(ValueError, match="unknown AP method"):
        det.ap_of_counts(img, scores, good_tp, n_gt, method="magic")
