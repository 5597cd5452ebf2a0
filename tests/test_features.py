"""Feature extraction: layer taps, the disk cache, probes under k-fold CV, CKA, CDFG, the autoencoder, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.stats import ortho_group

from core import worker
from core.data import catalogue
from core.data.types import DataError
from core.engine.store import RunStore
from core.experiments import __main__ as experiments_cli
from core.features import cdfg, probe, taps
from core.metrics import cka, paired
from core.models import backbones
from core.studies.feature_extraction import __main__ as study_cli
from core.studies.feature_extraction import experiment as fe
from core.studies.feature_extraction import extract
from core.studies.feature_extraction import train as autoencoder
from core.studies.feature_extraction.extract import FeatureSource

SIZE = 32


def _kernel_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Reference: CKA as normalised HSIC of the linear Gram matrices, with the centring matrix H."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def test_linear_cka_matches_the_kernel_form_and_its_invariances():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 12)), rng.normal(size=(60, 7))
    y[:, 0] += 3 * x[:, 0]
    assert cka.linear_cka(x, y) == pytest.approx(_kernel_cka(x, y), rel=1e-10)
    assert cka.linear_cka(x, x) == pytest.approx(1.0)
    q = ortho_group.rvs(12, random_state=1)
    assert cka.linear_cka(x @ q * 5.0 + 2.0, y) == pytest.approx(cka.linear_cka(x, y), rel=1e-10)
    assert 0 < cka.linear_cka(x, y) < 1
    scaled_one_column = x.copy()
    scaled_one_column[:, 0] *= 10  # not isotropic: CKA moves
    assert cka.linear_cka(scaled_one_column, y) != pytest.approx(cka.linear_cka(x, y), rel=1e-3)
    with pytest.raises(ValueError, match="constant"):
        cka.linear_cka(np.ones((5, 3)), y[:5])


def test_corrected_resampled_ttest_follows_nadeau_and_bengio():
    a, b = np.array([0.80, 0.78, 0.83, 0.79, 0.81]), np.array([0.70, 0.74, 0.72, 0.69, 0.75])
    r = paired.corrected_resampled_ttest(a, b, 1 / 4, "balanced_accuracy")
    d = a - b
    se = np.sqrt((1 / 5 + 1 / 4) * d.var(ddof=1))
    assert r.delta == pytest.approx(d.mean())
    assert r.p_value == pytest.approx(2 * stats.t.sf(d.mean() / se, 4))
    assert r.ci95[1] - r.delta == pytest.approx(stats.t.ppf(0.975, 4) * se)
    naive = stats.ttest_rel(a, b).pvalue
    assert r.p_value > naive  # the correction widens what overlapping training sets narrow
    assert paired.corrected_resampled_ttest(a, a, 0.25, "x").p_value == 1.0


def test_layers_are_listed_in_network_order_and_a_wrong_name_lists_the_valid_ones():
    arch = extract.architecture("mobilenet_v2")
    names = [n.name for n in taps.nodes(arch)]
    assert names.index("blocks.3.add") < names.index("blocks.10.add") < names.index("blocks.18")
    blocks = taps.block_outputs(arch)
    assert len(blocks) == 19 and blocks[-1].name == "blocks.18" and blocks[-1].channels == 1280
    assert all(n.group == f"blocks.{i}" for i, n in enumerate(blocks))
    with pytest.raises(taps.UnknownLayer, match="valid layers: .*blocks.3.add"):
        taps.check_layers(arch, ["layer9"])


@pytest.fixture(scope="module")
def faces() -> object:
    return catalogue.labelled("lfw_subset")


def _transfer_run(store: RunStore, seed: int) -> str:
    run_id = store.create("classification", "mobilenet_v2", "classification",
                          {"labels": ["non-face", "face"], "head": "linear", "strategy": "finetune",
                           "strategy_config": {"name": "finetune"}, "epochs": 2})
    torch.manual_seed(seed)
    model, _ = backbones.build("mobilenet_v2", 2, pretrained=False)
    with store.recording(run_id) as rec:
        rec.checkpoint(model.state_dict(), "epoch 2")
    return run_id


def test_features_are_cached_per_weights_and_a_retrained_run_is_not_served_stale(faces):
    store = RunStore()
    layers = ["blocks.6.add", "blocks.18"]
    first = extract.extract(FeatureSource("mobilenet_v2", "imagenet"), faces, layers, SIZE, store=store)
    assert first.computed == 200 and first.features["blocks.18"].shape == (200, 1280)
    again = extract.extract(FeatureSource("mobilenet_v2", "imagenet"), faces, layers, SIZE, store=store)
    assert again.computed == 0 and np.array_equal(again.features["blocks.6.add"], first.features["blocks.6.add"])
    random = extract.extract(FeatureSource("mobilenet_v2", "random"), faces, layers, SIZE, store=store)
    assert random.computed == 200 and not np.allclose(random.features["blocks.18"], first.features["blocks.18"])

    run_id = _transfer_run(store, seed=1)
    tuned = extract.extract(FeatureSource("mobilenet_v2", run_id), faces, ["blocks.18"], SIZE, store=store)
    assert tuned.computed == 200
    run = store.get(run_id)
    torch.manual_seed(2)
    model, _ = backbones.build("mobilenet_v2", 2, pretrained=False)
    torch.save(model.state_dict(), run.checkpoint)  # the run's weights change (trained again)
    retrained = extract.extract(FeatureSource("mobilenet_v2", run_id), faces, ["blocks.18"], SIZE, store=store)
    assert retrained.computed == 200
    assert not np.allclose(retrained.features["blocks.18"], tuned.features["blocks.18"], rtol=1e-3, atol=0)


def test_pretrained_layers_probe_better_than_random_ones_and_rows_compare_on_the_same_folds(faces):
    cfg = probe.ProbeConfig(folds=5)
    rows = {w: fe.probe_row(faces, fe.FeatureSpec(FeatureSource("mobilenet_v2", w), ("blocks.12.add",), size=SIZE), cfg)
            for w in ("imagenet", "random")}
    assert rows["imagenet"].result.mean > 0.95 and len(rows["imagenet"].result.folds) == 5
    fused = fe.probe_row(faces, fe.FeatureSpec(FeatureSource("mobilenet_v2", "imagenet"), ("blocks.6.add", "blocks.12.add"),
                                               size=SIZE), probe.ProbeConfig(pca=0.9))
    assert fused.result.n_features < 32 + 96 and fused.as_dict()["layers"] == "blocks.6.add + blocks.12.add"
    c = fe.compare(rows["imagenet"], rows["random"])
    assert c.test == "corrected resampled t-test" and c.delta == pytest.approx(
        rows["imagenet"].result.mean - rows["random"].result.mean)
    other = fe.probe_row(faces, fe.FeatureSpec(FeatureSource("mobilenet_v2", "imagenet"), ("blocks.12.add",), size=SIZE),
                         probe.ProbeConfig(folds=4))
    with pytest.raises(ValueError, match="same images and folds"):
        fe.compare(rows["imagenet"], other)


def test_probe_inputs_it_cannot_use_get_a_clear_message():
    y = np.array([0] * 10 + [1] * 3)
    x = np.random.default_rng(0).normal(size=(13, 4))
    with pytest.raises(probe.ProbeError, match="class b has 3; the largest k that works is 3"):
        probe.cross_validated(x, y, probe.ProbeConfig(folds=5), ["a", "b"])
    with pytest.raises(probe.ProbeError, match="zero variance"):
        probe.cross_validated(np.ones((13, 4)), y, probe.ProbeConfig(folds=3), ["a", "b"])
    with pytest.raises(probe.ProbeError, match="only one class"):
        probe.cross_validated(x, np.zeros(13, int), probe.ProbeConfig(folds=3), ["a", "b"])
    with pytest.raises(probe.ProbeError, match="choose at most"):
        probe.cross_validated(x, y, probe.ProbeConfig(folds=3, pca=50), ["a", "b"])
    half_constant = np.c_[x, np.ones(13)]
    assert probe.cross_validated(half_constant, y, probe.ProbeConfig(folds=3)).n_features == 5


def test_cdfg_is_the_study_measure_and_needs_shared_class_names(faces):
    rng = np.random.default_rng(0)
    ya, yb = np.repeat([0, 1], 40), np.repeat([0, 1], 40)
    xa = rng.normal(size=(80, 5)) + (2 * ya[:, None] - 1) * 2
    xb = rng.normal(size=(80, 5)) - (2 * yb[:, None] - 1) * 2  # the shift swaps where the classes lie
    m = cdfg.measure(xa, ya, xb, yb, probe.ProbeConfig(folds=4), ("A", "B"), ["x", "y"])
    assert m.forward.risk_source < 0.1 and m.forward.risk_target > 0.9
    assert m.forward.partial == pytest.approx(abs(m.forward.risk_source - m.forward.risk_target))
    assert m.complete == pytest.approx((m.forward.partial + m.backward.partial) / 2)
    with pytest.raises(DataError, match="only in lfw_subset: face, non-face; only in digits: 0"):
        cdfg.label_map(faces, catalogue.labelled("digits"))
    patches = catalogue.labelled("cartoon_faces/patches")
    mapping = cdfg.label_map(faces, patches)
    assert [faces.classes[i] for i in mapping] == patches.classes


def test_autoencoder_trains_as_a_run_and_its_features_join_the_same_table(faces):
    store = RunStore()
    cfg = autoencoder.AutoencoderConfig(dataset="lfw_subset", image_size=16, epochs=2)
    events = list(autoencoder.train(cfg, store, torch.device("cpu")))
    run = store.get(events[-1].run_id)
    assert run.status == "done" and run.checkpoint_label == "epoch 2" and len(run.metrics["history"]) == 2
    assert [r.id for r in fe.autoencoder_runs(store)] == [run.id]
    row = fe.probe_row(faces, fe.FeatureSpec(FeatureSource(extract.AUTOENCODER, run.id), ("enc.2.2",), size=16),
                       probe.ProbeConfig(folds=3), store=store)
    assert row.as_dict()["features"] == f"conv_autoencoder · run {run.id}" and row.result.mean > 0.6
    with pytest.raises(ValueError, match="multiple of 8"):
        autoencoder.AutoencoderConfig(image_size=30)


def test_the_autoencoder_cli_carries_out_a_queued_run_as_a_page_starts_it(capsys):
    store = RunStore()
    run_id = autoencoder.queue(autoencoder.AutoencoderConfig("lfw_subset", image_size=16, epochs=1), store)
    assert worker.main(["--runs", run_id, "--cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in lines] == ["Phase", "EpochEnd", "Finished"] and {e["run_id"] for e in lines} == {run_id}
    assert store.get(run_id).status == "done"
    assert study_cli.main(["--dataset", "cartoon_faces/nothing", "--cpu"]) == 2


def test_cka_per_layer_and_the_trainable_map_of_a_run(faces):
    store = RunStore()
    run_id = _transfer_run(store, seed=3)
    table = fe.cka_by_layer(faces, "mobilenet_v2", run_id, SIZE, store=store)
    assert list(table.layer)[-1] == "blocks.18" and len(table) == 19 and table.cka.between(0, 1).all()
    same = extract.extract(FeatureSource("mobilenet_v2", "imagenet"), faces, ["blocks.18"], SIZE, store=store)
    assert cka.linear_cka(same.features["blocks.18"], same.features["blocks.18"]) == pytest.approx(1.0)
    frozen = store.get(store.create("classification", "mobilenet_v2", "classification",
                                    {"labels": ["a", "b"], "head": "linear", "epochs": 3,
                                     "strategy_config": {"name": "two_phase", "head_epochs": 1}}))
    m = fe.trainable_map(frozen)
    first, later = m[m.epoch == 1], m[m.epoch == 3]
    assert first[first.block != "head"].trainable.sum() == 0 and (later.trainable == later.params).all()


def test_the_cli_prints_the_comparison_json(capsys, monkeypatch):
    monkeypatch.setattr(fe, "DEFAULT_PAIR", "real vs cartoon faces")  # the small pair keeps the test quick
    code = experiments_cli.main(["feature_extraction", "--json", "--dataset", "lfw_subset", "--cpu"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["experiment"] == "feature_extraction" and out["dataset"] == "lfw_subset"
    assert {"mobilenet_v2/imagenet@blocks.18", "mobilenet_v2/random@blocks.18"} <= set(out["variants"])
    first = out["comparisons"][0]
    assert first["test"] == "corrected resampled t-test" and first["a"] == "mobilenet_v2/imagenet@blocks.18"
    assert len(out["layer_curve"]) == 38 and {r["B"] for r in out["cdfg"]} == {"cartoon_faces/patches"}
    assert experiments_cli.main(["feature_extraction", "--dataset", "cartoon_faces/fatness"]) == 2
    assert "no classes" in capsys.readouterr().err
