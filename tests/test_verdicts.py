"""Verdicts from constructed comparisons: each sentence says only what its interval supports."""

from core.experiments.verdicts import sentence


def test_a_ci_above_0_is_a_clear_gain_and_says_its_seeds():
    said = sentence("mCA", "finetune", "scratch", 0.129, (0.093, 0.170), seeds=(3, 3), pairing="by seed",
                    p_better=1.0)
    assert said == ("finetune is clearly better than scratch on mCA (Δ +0.129, 95% CI +0.093 to +0.170); holds over "
                    "3 seeds each and the test images, P(finetune better) 1.00.")


def test_a_ci_crossing_0_is_no_clear_difference():
    said = sentence("mCA", "finetune", "frozen", 0.044, (-0.012, 0.093), seeds=(3, 3), pairing="by seed",
                    p_better=0.67)
    assert said.startswith("No clear difference between finetune and frozen on mCA: the interval crosses 0 (")
    assert said.endswith("; over 3 seeds each and the test images, P(finetune better) 0.67.")


def test_a_ci_below_0_is_a_clear_loss_and_lower_is_better_turns_it_round():
    assert sentence("AP", "finetuned-all", "pretrained", -0.05, (-0.09, -0.01)).startswith(
        "finetuned-all is clearly worse than pretrained on AP")
    assert sentence("MAE", "finetune", "scratch", -0.05, (-0.09, -0.01), lower_is_better=True).startswith(
        "finetune is clearly better than scratch on MAE")


def test_one_run_or_one_seed_says_that_training_variance_is_unknown():
    one_run = sentence("AP", "finetuned-pnet", "pretrained", 0.031, (0.005, 0.059))
    assert one_run.endswith("; one training run each, so another seed could move it.")
    one_seed = sentence("AUC", "phase 2", "phase 1", 0.1, (0.05, 0.15), seeds=(1, 1), pairing="by seed")
    assert one_seed.endswith("; one training run each, so another seed could move it.")  # the pages' words too
    untrained = sentence("AP", "finetuned-pnet", "pretrained", 0.02, (-0.0005, 0.037), seeds=(3, 1),
                         pairing="B untrained", p_better=1.0)
    assert untrained.startswith("No clear difference") and "over 3 seeds and the test images" in untrained


def test_an_undefined_comparison_has_no_verdict():
    assert sentence("pearson", "finetune", "scratch", None, (None, None), seeds=(2, 2)) == (
        "finetune against scratch on pearson: undefined (a compared value is), so no verdict.")
