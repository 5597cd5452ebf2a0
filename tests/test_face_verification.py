"""Face verification: blocked all-pairs ROC, pairs and people, embedding networks, the trainer and the Comparison."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from core import registry, tasks, weights
from core.data import catalogue, identities
from core.engine import objectives
from core.engine.store import RunStore
from core.metrics import verification
from core.models import embeddings
from core.predictors import build
from core.runs import finals
from core.studies.face_verification import experiment as fv
from core.studies.face_verification import train as trainer


def _clusters(n: int, people: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, people, n)
    centres = rng.normal(size=(people, dim))
    return (centres[ids] + 1.5 * rng.normal(size=(n, dim))).astype(np.float32), ids


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_all_pairs_roc_equals_sklearn_on_every_pair(distance):
    emb, ids = _clusters(300, 25, 16)
    i, j = np.triu_indices(len(emb), 1)
    raw = verification.pair_distances(emb[i], emb[j], distance)
    same = ids[i] == ids[j]
    found = verification.all_pairs_roc(emb, ids, distance, block=37)
    assert found.n_pairs == len(i) == 44_850 and found.n_same == same.sum()
    assert found.largest == pytest.approx(raw.max(), rel=1e-5)
    score = 1 - verification.normalise(raw, distance)
    assert verification.auc(found.roc) == pytest.approx(roc_auc_score(same, score), abs=2e-4)
    # the ROC's points are exact counts: each equals sklearn's at the same threshold (away from bin edges)
    fpr, tpr, thresholds = roc_curve(same, score)
    for k in (len(thresholds) // 5, len(thresholds) // 2, 4 * len(thresholds) // 5):
        at = int(np.searchsorted(-found.roc.thresholds, -thresholds[k], side="right")) - 1
        assert abs(found.roc.fpr[at] - fpr[k]) < 2e-3 and abs(found.roc.tpr[at] - tpr[k]) < 2e-3
    same_blocks = verification.all_pairs_roc(emb, ids, distance, block=300)
    assert np.array_equal(same_blocks.roc.tpr, found.roc.tpr) and np.array_equal(same_blocks.roc.fpr, found.roc.fpr)


def test_people_bootstrap_auc_is_sklearns_auc_and_its_ci_resamples_people():
    rng = np.random.default_rng(3)
    ids = np.repeat(np.arange(12), 3)
    x = rng.normal(size=(36, 8)) + 0.8 * rng.normal(size=(12, 8))[ids]  # each person's images near their centre
    value, (low, high), people = verification.people_bootstrap_auc(x, ids, "euclidean", n_boot=200, seed=5)
    i, j = np.triu_indices(36, 1)
    d = np.linalg.norm(x[i] - x[j], axis=1)
    same = ids[i] == ids[j]
    assert people == 12 and value == pytest.approx(roc_auc_score(same, -d))
    draws, draw = [], np.random.default_rng(5)  # the same people drawn, each pair weighted by its people's counts
    for _ in range(200):
        w = np.bincount(draw.integers(0, 12, 12), minlength=12)[ids]
        weight = w[i] * w[j]
        if weight[same].sum() and weight[~same].sum():
            draws.append(roc_auc_score(same, -d, sample_weight=weight))
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert low < value < high
    assert np.isnan(verification.people_bootstrap_auc(x[:6], ids[:6])[1][0])  # two people: no CI


def test_confusion_counts_and_bad_input():
    c = verification.confusion(np.array([0.1, 0.4, 0.2, 0.9]), np.array([True, True, False, False]), 0.3)
    assert (c.true_accepts, c.false_rejects, c.false_accepts, c.true_rejects) == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        verification.pair_distances(np.zeros((1, 2)), np.zeros((1, 2)), "manhattan")
    with pytest.raises(ValueError, match="same-person and different-person pairs"):
        verification.all_pairs_roc(np.eye(3), np.zeros(3, int))


def test_people_of_the_cartoon_set_are_disjoint_and_pairs_are_balanced_and_seeded():
    people = catalogue.people("cartoon_faces/verification")
    split_people = {s: set(people.targets[people.split == s]) for s in ("train", "val", "test")}
    assert not split_people["train"] & split_people["test"] and not split_people["val"] & split_people["test"]
    assert len(people.images) == 600 and people.target_name == "identity"
    made = identities.make_pairs(people, "test", seed=3)
    same = sum(p.same for p in made.pairs)
    assert same == len(made.pairs) - same > 0
    assert made.pairs == identities.make_pairs(people, "test", seed=3).pairs
    assert made.pairs != identities.make_pairs(people, "test", seed=4).pairs


def test_folders_of_people_get_disjoint_splits_and_one_image_people_are_reported(tmp_path):
    from tests.data_fixtures import image

    for k in range(12):
        for i in range(1 if k == 0 else 3):
            image(tmp_path / "people" / f"person{k:02d}" / f"{i}.jpg", (40, 40), ("red", "blue", "green")[i])
    from core.data import formats

    people = identities.disjoint_splits(formats.image_folder(tmp_path / "people"), seed=0)
    assert {str(s) for s in people.split} == {"train", "val", "test"}
    by_split = [set(people.targets[people.split == s]) for s in ("train", "val", "test")]
    assert not (by_split[0] & by_split[1]) and not (by_split[0] & by_split[2])
    split = str(people.split[people.targets == 0][0])
    pairs = identities.make_pairs(people, split, seed=0)
    assert any("person00" in str(p) and "has one image" in str(p) for p in pairs.problems)


def test_embedding_taps_are_the_imagenet_output_and_the_features_before_it():
    net, _ = embeddings.build("efficientnet_lite0", "output")
    from core.models import classifiers

    whole, _ = classifiers.pretrained("efficientnet_lite0_imagenet")
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(net(x), whole(x), atol=1e-4)  # the study's embedding is the 1000-class output
    pen, _ = embeddings.build("mobilenet_v2", "penultimate")
    assert pen.width == 1280 and embeddings.embed(pen, x).shape == (2, 1280)
    alex, _ = embeddings.build("alexnet", "penultimate", pretrained=False)
    assert alex.width == 4096 and [type(m).__name__ for m in alex.head][-1] == "ReLU"
    with pytest.raises(weights.WeightsUnavailable, match="alexnet-owt-7be5be79.pth"):
        embeddings.build("alexnet", "output")
    with pytest.raises(weights.WeightsUnavailable, match="mobilenet_v2-7ebf99e0.pth"):
        embeddings.build("mobilenet_v2", "output")  # the 1000-d output needs the file with the ImageNet head


def test_bce_objective_reads_normalised_distance_as_the_probability_of_different_people():
    obj = objectives.Verification(2, "bce", "euclidean")
    target = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    bad = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.1, 0.0], [5.1, 5.0]])
    assert obj.loss(good, target) < 0.2 < 2.0 < obj.loss(bad, target)
    loss, scores = obj.evaluate(good, target)
    assert scores["AUC"] == 1.0 and loss < 0.2
    contrastive = objectives.Verification(2, "contrastive")
    assert contrastive.loss(good, target) < contrastive.loss(bad, target)
    sampler = obj.sampler(np.repeat(np.arange(10), 4), 8, seed=0)
    batch = list(sampler)[:8]
    assert len(set(np.repeat(np.arange(10), 4)[batch])) == 4  # two images of each of four people


def test_dlib_reference_embeds_real_and_cartoon_faces_and_counts_the_faceless():
    from PIL import Image
    from skimage import data

    people = catalogue.people("cartoon_faces/verification")
    out = build(registry.DLIB_REFERENCE, torch.device("cpu")).embed(
        [Image.fromarray(data.astronaut()), Image.new("RGB", (112, 112), "grey"), Image.open(people.images[0])])
    assert out.vectors.shape == (3, 128) and out.found[:2].tolist() == [True, False]
    assert np.isfinite(out.vectors).all()
    row = next(r for r in weights.catalogue(probe_network=False) if r["name"] == "dlib_face_resnet")
    assert row["licence"] == "CC0-1.0" and row["state"] == "packaged" and weights.verify("dlib_face_resnet")


def test_a_fine_tuned_run_becomes_a_variant_and_is_compared_by_delong(tmp_path):
    store = RunStore()
    cfg = trainer.quick_config("efficientnet_lite0")
    cfg = dataclasses.replace(cfg, image_size=32, epochs=2, limit_batches=2,
                              strategy=dataclasses.replace(cfg.strategy, name="two_phase", head_epochs=1))
    events = list(trainer.train("cartoon_faces/verification", cfg, trainer.EmbedConfig(), store))
    run = store.get(events[-1].run_id)
    assert run.status == "done" and len(run.history) == 2 and "AUC" in run.history[-1]["val"]
    assert run.history[1]["trainable"] > run.history[0]["trainable"]  # phase 2 opens the backbone
    (final,) = finals.of(run)  # test AUC over every pair of the test images, a CI from resampling people
    assert final.name == "test AUC" and 0 <= final.low <= final.value <= final.high <= 1
    assert final.over == f"{run.metrics['test_samples']} test images of {final.over.split()[-2]} people"
    (tuned,) = [v for v in registry.for_task("face_verification", store) if v.run_id == run.id]
    assert tuned.name == f"efficientnet_lite0/two_phase-bce-{run.id}"
    pretrained = registry.BUILTIN["efficientnet_lite0/imagenet-output"]
    ps = fv.pair_set(catalogue.pairs("cartoon_faces/verification", "test"))
    ps = fv.PairSet(ps.name, ps.images, ps.a[::6], ps.b[::6], ps.same[::6])  # 46 pairs: a quick look
    embedded = {v.name: fv.embed(v, ps.images, torch.device("cpu")) for v in (pretrained, tuned)}
    result = fv.compare([pretrained, tuned], embedded, ps, "euclidean")
    out = json.loads(json.dumps(result.as_json()))
    assert list(out["variants"][tuned.name]) == list(tasks.get("face_verification").metrics)
    (c,) = out["comparisons"]
    assert c["a"] == tuned.name and c["b"] == pretrained.name and c["test"] == "DeLong" and len(c["ci95"]) == 2
    same = ps.same
    d = np.array(out["distances"][pretrained.name])
    assert out["variants"][pretrained.name]["AUC"] == pytest.approx(roc_auc_score(same, -d))
    speed = fv.time_variants([pretrained, tuned], ps.images, torch.device("cpu"), rounds=2)
    from core import timing

    timing.into(result.variants, result.extra, speed)
    for name, t in speed.items():  # the same images, interleaved: the table shows the median within its range
        assert t.rounds == 2 and result.extra["ms_range"][name][0] <= result.variants[name]["ms_per_image"] <= t.high_ms


def test_penultimate_phase_one_without_classifier_layers_is_refused_with_the_reason():
    cfg = trainer.quick_config("efficientnet_lite0").with_strategy("frozen")
    with pytest.raises(ValueError, match="no classifier layers for phase 1"):
        trainer.queue("cartoon_faces/verification", [(cfg, trainer.EmbedConfig(tap="penultimate"))], RunStore())


def test_a_users_lfw_folder_is_scored_on_all_its_pairs_and_reports_bad_lines(tmp_path, monkeypatch):
    from tests import data_fixtures as fx

    fx.lfw(tmp_path / "data" / "mini")
    monkeypatch.setenv(catalogue.USER_DIR_ENV, str(tmp_path / "data"))
    assert "user/mini" in catalogue.verification_names()
    pairs = catalogue.pairs("user/mini", "test")
    assert pairs.name == "user/mini/all" and len(pairs.pairs) == 2  # no splits: every valid pair, flagged "all"
    assert any(q.line == 6 and "duplicate of line 2" in q.message for q in pairs.problems)
    people = catalogue.people("user/mini")
    assert people.classes == ["Ada_Lovelace", "Alan_Turing"] and len(people.images) == 3
