import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from core.metrics import classification, paired, regression, verification


def noisy_scores(n: int, seed: int, separation: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    scores = np.round(rng.normal(labels * separation, 1.0), 1)  # rounded: many ties
    return scores, labels.astype(int)


def test_roc_and_auc_equal_sklearn_with_ties():
    scores, labels = noisy_scores(3000, 0)
    roc = verification.roc_curve(scores, labels)
    fpr, tpr, thr = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr)
    np.testing.assert_allclose(roc.tpr, tpr)
    np.testing.assert_allclose(roc.thresholds[1:], thr[1:])
    assert verification.auc(roc) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)


def test_eer_tar_and_best_accuracy():
    scores, labels = noisy_scores(4000, 1, separation=2.0)
    r = verification.evaluate(scores, labels)
    roc = r.roc
    frr = 1 - roc.tpr
    i = np.argmin(np.abs(roc.fpr - frr))
    assert abs(r.eer - (roc.fpr[i] + frr[i]) / 2) < 0.01
    brute = max(((scores >= t) == labels.astype(bool)).mean() for t in np.unique(scores))
    assert r.best_accuracy == pytest.approx(brute)
    far_ok = roc.fpr <= 1e-2
    assert r.tar_at_far[1e-2] == roc.tpr[far_ok].max() and 0 <= r.tar_at_far[1e-3] <= r.tar_at_far[1e-2]


def test_distance_normalisation_of_the_study():
    np.testing.assert_allclose(verification.normalised_similarity(np.array([0.0, 2.0, 4.0])), [1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="first negative at index 1"):
        verification.normalised_similarity(np.array([1.0, -1.0]))


@pytest.mark.parametrize("scores, labels, message", [
    ([0.1, np.inf], [0, 1], "NaN or infinite value (first at index 1)"),
    ([0.1, 0.2], [1, 1], "both classes"),
    ([0.1, 0.2, 0.3], [0, 1], "lengths differ"),
    ([0.1, 0.2], [0, 2], "0 or 1 (first other value at index 1)"),
])
def test_bad_verification_input(scores, labels, message):
    with pytest.raises(ValueError) as info:
        verification.evaluate(np.array(scores), np.array(labels))
    assert message in str(info.value)


def test_classification_equals_sklearn_on_imbalanced_classes():
    rng = np.random.default_rng(2)
    y_true = rng.choice(3, 2499, p=[2074 / 2499, 303 / 2499, 122 / 2499])  # the KITTI study's class counts
    y_pred = np.where(rng.random(len(y_true)) < 0.7, y_true, rng.integers(0, 3, len(y_true)))
    r = classification.evaluate(y_true, y_pred, ["car", "person", "cyclist"])
    np.testing.assert_array_equal(r.confusion, skm.confusion_matrix(y_true, y_pred))
    np.testing.assert_allclose(r.confusion_normalised, skm.confusion_matrix(y_true, y_pred, normalize="true"))
    assert r.mean_class_accuracy == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert r.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for avg in ("macro", "weighted"):
        p, rc, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        assert getattr(r, avg) == pytest.approx({"precision": p, "recall": rc, "f1": f})
    np.testing.assert_allclose(r.per_class["f1"], skm.f1_score(y_true, y_pred, average=None))


def test_classification_with_a_class_never_predicted_nor_present_matches_sklearn():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    r = classification.evaluate(y_true, y_pred, ["a", "b", "c"])
    p, rc, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], average="macro",
                                                      zero_division=0)
    assert r.macro == pytest.approx({"precision": p, "recall": rc, "f1": f})
    assert r.mean_class_accuracy == pytest.approx(0.75)  # over the classes that have samples


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1, 3], [0, 1, 1], "class 3 outside 0..2 (first at index 2)"),
    ([0, 1], [0, 1, 1], "lengths differ"),
    ([0.5, 1], [0, 1], "integer class indices"),
    ([], [], "no samples"),
])
def test_bad_classification_input(y_true, y_pred, message):
    with pytest.raises(ValueError) as info:
        classification.evaluate(np.array(y_true), np.array(y_pred), ["a", "b", "c"])
    assert message in str(info.value)


def test_regression_equals_scipy_and_sklearn():
    rng = np.random.default_rng(3)
    y = rng.uniform(1, 80, 500)
    pred = y + rng.normal(0, 8, 500)
    r = regression.evaluate(y, pred)
    assert r.pearson == pytest.approx(stats.pearsonr(y, pred).statistic)
    assert r.spearman == pytest.approx(stats.spearmanr(y, pred).statistic)
    assert r.mae == pytest.approx(skm.mean_absolute_error(y, pred))
    assert r.rmse == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert r.r2 == pytest.approx(skm.r2_score(y, pred))


def test_one_regression_metric_of_draw_counts_equals_the_full_summary_on_every_draw():
    rng = np.random.default_rng(4)
    y = np.round(rng.uniform(0, 1, 200), 2)  # rounded: tied targets, as a cartoon attribute has
    pred = np.round(y + rng.normal(0, 0.2, 200), 2)
    full = regression.summary_of_counts(y, pred)
    for counts in [np.ones(200, np.int64), *rng.multinomial(200, np.full(200, 1 / 200), size=5)]:
        for name in ("pearson", "spearman", "MAE"):
            assert regression.metric_of_counts(y, pred, name)(counts) == pytest.approx(full(counts)[name], abs=1e-12)
    flat = regression.metric_of_counts(y, np.full(200, 0.5), "pearson")(np.ones(200, np.int64))
    assert np.isnan(flat) and flat.reason == "constant predictions"
    with pytest.raises(ValueError, match="unknown metric 'r2'"):
        regression.metric_of_counts(y, pred, "r2")


def test_regression_bad_and_degenerate_input():
    with pytest.raises(ValueError, match="y_true has a NaN or infinite value \\(first at index 2\\)"):
        regression.evaluate(np.array([1.0, 2.0, np.nan]), np.array([1.0, 2.0, 3.0]))
    flat = regression.evaluate(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert np.isnan(flat.pearson) and flat.mae == pytest.approx(2 / 3)


def test_mcnemar_against_its_formulas():
    # 10 pairs only a got right, 2 only b: exact two-sided binomial p = 2 * P(X <= 2 | n=12, 1/2) = 158/4096.
    a = np.r_[np.ones(10), np.zeros(2), np.ones(30)].astype(bool)
    b = np.r_[np.zeros(10), np.ones(2), np.ones(30)].astype(bool)
    r = paired.mcnemar(a, b)
    assert r.test.startswith("McNemar exact") and r.p_value == pytest.approx(158 / 4096)
    assert r.delta == pytest.approx(8 / 42) and r.ci95 is None
    # 30 vs 10 discordant: chi2 = (|30 - 10| - 1)^2 / 40 (McNemar 1947, with Edwards' continuity correction).
    a = np.r_[np.ones(30), np.zeros(10)].astype(bool)
    r = paired.mcnemar(a, ~a)
    assert "χ² = 9.03" in r.test and r.p_value == pytest.approx(stats.chi2.sf(361 / 40, 1))


def test_delong_on_a_hand_worked_example():
    """DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837-845, worked by hand from the paper's
    definitions. Positives X, negatives Y (3 each); placements V10(x) = share of Y below x,
    V01(y) = share of X above y. Model A: X = .9 .6 .35, Y = .7 .3 .1 -> V10 = 1, 2/3, 2/3,
    V01 = 1/3, 1, 1, AUC 7/9. Model B: X = .8 .2 .7, Y = .5 .4 .6 -> V10 = 1, 0, 1, V01 = 2/3 x3,
    AUC 2/3. With divisor m - 1: S10 = [[1/27, 1/18], [1/18, 1/3]], S01 = [[4/27, 0], [0, 0]].
    Var(A - B) = (1/27 + 1/3 - 1/9)/3 + (4/27)/3 = 11/81, so z = (1/9) / sqrt(11/81) = 1/sqrt(11)."""
    labels = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([0.9, 0.6, 0.35, 0.7, 0.3, 0.1])
    b = np.array([0.8, 0.2, 0.7, 0.5, 0.4, 0.6])
    r = paired.delong(a, b, labels)
    assert (r.a, r.b, r.delta) == (pytest.approx(7 / 9), pytest.approx(2 / 3), pytest.approx(1 / 9))
    assert r.p_value == pytest.approx(2 * stats.norm.sf(1 / np.sqrt(11)))
    half = stats.norm.ppf(0.975) * np.sqrt(11 / 81)
    assert r.ci95 == (pytest.approx(1 / 9 - half), pytest.approx(1 / 9 + half))


def test_delong_with_ties_matches_sklearn_aucs_and_is_calibrated_under_the_null():
    scores, labels = noisy_scores(400, 4)
    other, _ = noisy_scores(400, 5)
    r = paired.delong(scores, scores + 0.3 * other, labels)
    assert r.a == pytest.approx(skm.roc_auc_score(labels, scores))
    assert r.b == pytest.approx(skm.roc_auc_score(labels, scores + 0.3 * other))
    rng = np.random.default_rng(6)
    rejections = 0
    for _ in range(300):
        y = rng.random(150) < 0.5
        s1, s2 = y + rng.normal(0, 1.2, 150), y + rng.normal(0, 1.2, 150)
        rejections += paired.delong(s1, s2, y).p_value < 0.05
    assert 0.02 <= rejections / 300 <= 0.09


def test_bootstrap_is_reproducible_and_weighted_auc_equals_sklearn_with_weights():
    scores, labels = noisy_scores(500, 7)
    counts = np.random.default_rng(8).integers(0, 4, 500)
    auc = paired.weighted_auc(scores, labels)
    assert auc(counts) == pytest.approx(skm.roc_auc_score(labels, scores, sample_weight=counts))
    correct_a = np.random.default_rng(9).random(500) < 0.8
    correct_b = np.random.default_rng(10).random(500) < 0.7
    one = paired.paired_bootstrap(paired.weighted_mean(correct_a), paired.weighted_mean(correct_b), 500, "accuracy",
                                  n_boot=400, seed=1)
    two = paired.paired_bootstrap(paired.weighted_mean(correct_a), paired.weighted_mean(correct_b), 500, "accuracy",
                                  n_boot=400, seed=1)
    assert one == two and one.ci95[0] < one.delta < one.ci95[1]
    same = paired.paired_bootstrap(auc, auc, 500, "AUC", n_boot=100)
    assert same.delta == 0 and same.ci95 == (0.0, 0.0)


def test_mean_class_accuracy_of_counts_equals_sklearn_balanced_accuracy_with_weights():
    rng = np.random.default_rng(11)
    y_true, y_pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    counts = rng.integers(0, 3, 200)
    mca = classification.mca_of_counts(y_true, y_pred, 3)
    assert mca(counts) == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred, sample_weight=counts))


def test_a_csv_cell_that_is_not_a_number_is_named_by_line_and_column():
    import io

    import pandas as pd

    from core.metrics import reports

    frame = pd.read_csv(io.StringIO("true,pred,pred_b\n1,2,1\n2,x,2\n3,3,3\n"))
    with pytest.raises(ValueError, match=r"the CSV, line 3 \(data row 2\), column pred: 'x' is not a number"):
        reports.regression_report(frame)
    pairs = pd.read_csv(io.StringIO("label,distance\n1,0.2\nyes,0.4\n"))
    with pytest.raises(ValueError, match=r"line 3 \(data row 2\), column label: 'yes' is not a number"):
        reports.verification_report(pairs)


def test_a_bootstrap_p_value_is_never_zero_only_below_its_resolution():
    a = np.linspace(0.5, 1.0, 50)
    r = paired.paired_bootstrap(lambda c: float(np.average(a + 1, weights=c)), lambda c: float(np.average(a, weights=c)),
                                50, "mean", n_boot=199)
    assert r.delta == pytest.approx(1.0) and r.p_value == pytest.approx(2 / 200)  # every resample favours a


def test_a_threshold_per_variant_holds_each_to_the_same_false_accept_rate():
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(50, bool), np.zeros(200, bool)]
    for scale in (1.0, 0.01):  # one embedding's distances a hundred times smaller than another's
        d = np.r_[rng.uniform(0, 0.5, 50), rng.uniform(0.3, 1.0, 200)] * scale
        for far in (0.0, 0.05, 0.1, 0.5, 1.0):
            c = verification.confusion(d, same, verification.threshold_at_far(d, same, far))
            assert c.far <= far + 1e-12 and c.far > far - 1 / 200 - 1e-12
    ties, different = np.array([0.2, 0.5, 0.5, 0.5, 0.9]), np.zeros(5, bool)
    assert verification.confusion(ties, different, verification.threshold_at_far(ties, different, 0.5)).far == 0.2
