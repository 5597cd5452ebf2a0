"""The backbone-transfer experiments: runs recorded, compared with CIs, and served as variants."""

import json
import re

import numpy as np
import pytest
import torch

from core import registry
from core.data import catalogue
from core.data.types import open_image
from core.engine.loop import TrainConfig
from core.engine.store import RunStore
from core.models.outputs import TopK
from core.predictors import Value, build
from core.studies.transfer import __main__ as transfer_cli
from core.studies.transfer import experiment as tx
from core.studies.transfer import train as trainer
from tests import data_fixtures

SMALL = TrainConfig(image_size=32, epochs=2, limit_batches=12)  # 768 training images an epoch: enough to rank them
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("transfer-runs")


@pytest.fixture(scope="module")
def classification(runs_dir):
    return tx.run("classification", store=RunStore(runs_dir), device=CPU, cfg=SMALL, n_boot=300)


@pytest.fixture(scope="module")
def regression(runs_dir):
    return tx.run("regression", store=RunStore(runs_dir), device=CPU, strategies=("frozen", "finetune"),
                  cfg=TrainConfig(head="mlp", image_size=32, epochs=2, limit_batches=8), n_boot=300)


def test_classification_compares_scratch_frozen_and_finetuned_with_cis(classification):
    out = json.loads(json.dumps(classification.as_json(), allow_nan=False))
    assert out["experiment"] == "classification" and out["dataset"] == "fashion_mnist_imbalanced3/test"
    by_strategy = {v["strategy"]: name for name, v in out["runs"].items()}
    assert set(by_strategy) == {"scratch", "frozen", "finetune"}
    scratch, frozen, finetune = (out["variants"][by_strategy[s]] for s in ("scratch", "frozen", "finetune"))
    assert finetune["mCA"] > scratch["mCA"]
    assert frozen["trainable_params"] == 1280 * 3 + 3 < scratch["trainable_params"] == finetune["trainable_params"]
    for name, metrics in out["variants"].items():
        for metric in ("mCA", "mF1", "mPrecision", "mRecall", "acc/Sneaker", "acc/Sandal", "acc/Ankle boot"):
            lo, hi = out["ci95"][name][metric]
            assert lo <= metrics[metric] <= hi
        assert np.sum(out["confusion"][name]) == out["test_samples"] == 500
        assert len(out["history"][name]) == 2
    tests = {(c["metric"], c["test"].split(" ")[0]) for c in out["comparisons"]}
    assert tests == {("mCA", "paired"), ("accuracy", "McNemar")}
    assert all(c["b"] == by_strategy["scratch"] for c in out["comparisons"])


def test_finished_runs_are_variants_that_classify_an_image(classification, runs_dir, monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    name = next(n for n, r in classification.extra["runs"].items() if r["strategy"] == "finetune")
    variant = registry.variant(name)
    assert variant.task == "classification" and registry.availability(variant).ok
    data = catalogue.labelled("fashion_mnist_imbalanced3")
    (top,) = build(variant, CPU).predict([open_image(data.images[0])])
    assert isinstance(top, TopK) and set(top.labels) == set(data.classes)


def test_regression_reports_correlations_points_and_a_regressor_in_target_units(regression, runs_dir, monkeypatch):
    out = json.loads(json.dumps(regression.as_json(), allow_nan=False))
    assert out["dataset"] == "cartoon_faces/fatness/test" and len(out["variants"]) == 2
    for name, metrics in out["variants"].items():
        assert set(metrics) >= {"pearson", "spearman", "MAE"}
        points = out["points"][name]
        assert len(points["true"]) == len(points["pred"]) == len(points["index"]) == out["test_samples"] == 229
        assert metrics["MAE"] == pytest.approx(np.abs(np.subtract(points["pred"], points["true"])).mean())
        lo, hi = out["ci95"][name]["pearson"]
        assert lo <= metrics["pearson"] <= hi
    assert {c["metric"] for c in out["comparisons"]} == {"pearson", "MAE"}
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    name = next(iter(out["points"]))
    data = catalogue.labelled("cartoon_faces/fatness")
    i = out["points"][name]["index"][0]
    (value,) = build(registry.variant(name), CPU).predict([open_image(data.images[i])])
    assert isinstance(value, Value) and value.name == "fatness"
    assert value.value == pytest.approx(out["points"][name]["pred"][0], abs=0.02)


def test_runs_scored_on_other_images_or_with_lost_outputs_are_refused(classification, runs_dir):
    store = RunStore(runs_dir)
    runs = tx.runs_on("fashion_mnist_imbalanced3", "classification", store)
    outcomes = [tx.outcome(r) for r in runs[:2]]
    shifted = [outcomes[0], tx.Outcome(**{**outcomes[1].__dict__, "index": outcomes[1].index + 1})]
    with pytest.raises(ValueError, match="different test images"):
        tx.compare(shifted, "classification", "x", ["a", "b", "c"])
    trainer.predictions_path(runs[0].checkpoint).rename(runs_dir / "moved.npz")
    try:
        with pytest.raises(ValueError, match="test outputs cannot be read"):
            tx.outcome(store.get(runs[0].id))
    finally:
        (runs_dir / "moved.npz").rename(trainer.predictions_path(runs[0].checkpoint))


def test_learning_curve_rows_and_unfreeze_marks():
    history = {"v": [{"epoch": 0, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.1, "val": {"mCA": 0.4},
                      "trainable": 10},
                     {"epoch": 1, "train_loss": 0.8, "train_accuracy": 0.6, "val_loss": 0.9, "val": {"mCA": 0.5},
                      "trainable": 100}]}
    frame = tx.history_frame(history)
    assert list(frame["split"]) == ["train", "val", "train", "val"] and list(frame["epoch"]) == [1, 1, 2, 2]
    assert frame.loc[1, "mCA"] == 0.4 and frame.loc[2, "accuracy"] == 0.6
    assert tx.unfreeze_epochs(history) == {"v": [1.5]}


def _cli(args, capsys):
    code = transfer_cli.main(args)
    return code, capsys.readouterr()


def test_cli_refuses_bad_sets_with_one_message(tmp_path, monkeypatch, capsys):
    code, out = _cli(["--dataset", "nope"], capsys)
    assert code == 2 and out.err.startswith("error: unknown dataset 'nope'") and "Traceback" not in out.err
    data = tmp_path / "data"
    for i in range(6):
        data_fixtures.image(data / "one_class" / ("train" if i < 4 else "test") / "cat" / f"{i}.png")
        data_fixtures.image(data / "no_dogs" / ("train" if i < 4 else "test") / "cat" / f"{i}.png")
        data_fixtures.image(data / "no_dogs" / "test" / "dog" / f"{i}.png", colour="blue")
    monkeypatch.setenv("TLDASH_DATA_DIR", str(data))
    catalogue._load_cached.cache_clear()
    code, out = _cli(["--dataset", "user/one_class", "--cpu"], capsys)
    assert code == 2 and "has one class (cat)" in out.err
    code, out = _cli(["--dataset", "user/no_dogs", "--cpu"], capsys)
    assert code == 2 and "class 'dog' has no training samples" in out.err
    assert RunStore().list() == []  # nothing recorded for a set that cannot train


def test_mixed_sizes_and_modes_train_end_to_end_from_a_user_folder(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data" / "mixed"
    for i in range(8):
        data_fixtures.image(root / "red" / f"{i}.png", size=(30 + 7 * i, 40), colour="red")
        data_fixtures.image(root / "blue" / f"{i}.jpg", size=(50, 20 + 5 * i), colour="blue")
    from PIL import Image
    Image.open(root / "red" / "0.png").convert("L").save(root / "red" / "0.png")
    Image.open(root / "blue" / "0.jpg").convert("CMYK").save(root / "blue" / "0.jpg")
    Image.open(root / "red" / "1.png").convert("RGBA").save(root / "red" / "1.png")
    monkeypatch.setenv("TLDASH_DATA_DIR", str(tmp_path / "data"))
    catalogue._load_cached.cache_clear()
    code, out = _cli(["--dataset", "user/mixed", "--strategies", "frozen", "--epochs", "1", "--image-size", "32",
                      "--cpu"], capsys)
    assert code == 0, out.err
    events = [json.loads(line) for line in out.out.splitlines()]
    assert [e["event"] for e in events] == ["Phase", "Phase", "EpochEnd", "Finished"]
    (run,) = RunStore().list("done")
    assert run.config["labels"] == ["blue", "red"] and run.metrics["test_samples"] >= 2


def _page(name: str):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import ROOT, TIMEOUT
    at = AppTest.from_file(str(ROOT / "app_pages" / name), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_classification_page_compares_the_runs_and_counts_trainable_parameters(classification, runs_dir,
                                                                                 monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    at = _page("classification.py")
    note = next(c.value for c in at.caption if " images · " in c.value)
    assert re.search(r" images · train [\d,]+ · test [\d,]+ · classes ", note), note  # no raw dict
    table, versus = at.dataframe[0].value, at.dataframe[2].value
    assert len(table) == 3 and {"mCA", "mF1", "mPrecision", "acc/Ankle boot"} <= set(table.columns)
    assert "mRecall" not in table.columns  # the same number as mCA, shown once
    finetune = table[table["variant"].str.startswith("finetune")].iloc[0]
    assert finetune["mCA"].startswith(f"{classification.variants[_named(classification, 'finetune')]['mCA']:.3f} [")
    assert set(versus["metric"]) == {"mCA", "accuracy"} and all(versus["b"].str.startswith("scratch"))
    assert any(m.value.startswith("**Against the baseline, scratch") for m in at.markdown)
    assert len(at.get("plotly_chart")) == 4  # the evidence's figure, confusion matrices, loss curves, metric curves
    frozen = classification.extra["runs"][_named(classification, "frozen")]["run_id"]
    at.selectbox(key="cls.baseline").set_value(frozen).run()  # the baseline is chosen, not the first variant
    versus = at.dataframe[2].value
    assert all(versus["b"].str.startswith("frozen")) and any(versus["a"].str.startswith("scratch"))
    assert any(m.value.startswith("**Against the baseline, frozen") for m in at.markdown)
    counts = [m.value for m in at.sidebar.markdown if "Trainable parameters" in m.value]
    assert counts == ["**Trainable parameters** · 2,227,715 of 2,227,715 (100.0%)"]
    at.sidebar.selectbox(key="cls.strategy.True").set_value("freeze_first_k").run()
    at.sidebar.slider(key="cls.k").set_value(19).run()
    assert any(m.value.startswith("**Trainable parameters** · 3,843 of") for m in at.sidebar.markdown)
    at.sidebar.selectbox(key="cls.strategy.True").set_value("gradual").run()
    assert any("rising to" in m.value for m in at.sidebar.markdown)


def test_classification_page_shows_each_variants_errors_what_it_fixed_and_where_it_looks(classification, runs_dir,
                                                                                         monkeypatch):
    from core.experiments import errors

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    at = _page("classification.py")
    classes, preds = classification.extra["classes"], classification.extra["predictions"]
    finetune, scratch = _named(classification, "finetune"), _named(classification, "scratch")
    assert at.selectbox(key="cls.errors.variant").value == finetune
    wrong = errors.mistakes(preds[finetune], classes)
    assert any(m.value.startswith(f"**{len(wrong):,} test errors of finetune") for m in at.markdown)
    gallery = next(i for i in at.get("image") if i.proto.imgs and "→" in i.proto.imgs[0].caption)
    assert [g.caption for g in gallery.proto.imgs] == [f"{t} → {p} ({c:.0%})" for t, p, c in zip(
        wrong["true"][:12], wrong["predicted"][:12], wrong["confidence"][:12], strict=True)]
    cams = [i for i in at.get("image") if i.proto.imgs and i.proto.imgs[0].caption.startswith("predicted")]
    assert len(cams) == 2  # the baseline (scratch) and finetune on the first error, both predicted and true class
    assert {g.caption.split(":")[0] for c in cams for g in c.proto.imgs} <= {"predicted", "true", "predicted = true"}
    a_class = wrong["true"].iloc[0]
    at.selectbox(key="cls.errors.true").set_value(a_class).run()
    assert any(m.value.startswith(f"**{(wrong['true'] == a_class).sum():,} test errors") for m in at.markdown)
    at.radio(key="cls.errors.show").set_value("fixed vs the baseline").run()
    fixed, _ = errors.changed(preds[scratch], preds[finetune], classes)
    assert any(m.value.startswith(f"**{(fixed['true'] == a_class).sum():,} test images scratch") for m in at.markdown)
    assert not at.exception


def _named(result, strategy: str) -> str:
    return next(n for n, r in result.extra["runs"].items() if r["strategy"] == strategy)


def test_regression_page_draws_a_scatter_per_variant(regression, runs_dir, monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    at = _page("regression.py")
    table = at.dataframe[0].value
    assert len(table) == 2 and {"pearson", "spearman", "MAE"} <= set(table.columns)
    assert len(at.get("plotly_chart")) == 5  # the evidence's figure, two scatters, two learning-curve charts
    assert any("stand-in for age" in m.value for m in at.markdown)


def test_pages_explain_an_empty_store_and_a_set_that_cannot_train(tmp_path, monkeypatch):
    at = _page("classification.py")
    assert any("No finished runs" in i.value for i in at.info)
    for i in range(4):
        data_fixtures.image(tmp_path / "data" / "solo" / ("train" if i < 3 else "test") / "cat" / f"{i}.png")
    monkeypatch.setenv("TLDASH_DATA_DIR", str(tmp_path / "data"))
    at = _page("classification.py")
    at.sidebar.selectbox(key="cls.dataset").set_value("user/solo").run()
    assert not at.exception and any("has one class (cat)" in e.value for e in at.error)
    assert "cls.train" not in {b.key for b in at.button}  # no way to start a run that must fail


def test_a_users_yolo_set_trains_as_crops_and_utkface_as_age_regression(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    yolo = data / "street"
    (yolo / "classes.txt").parent.mkdir(parents=True)
    (yolo / "classes.txt").write_text("car\nperson\n")
    for i in range(12):
        split = "train" if i < 9 else "val"
        data_fixtures.image(yolo / "images" / split / f"{i}.jpg", (120, 80), colour="gray")
        (yolo / "labels" / split).mkdir(parents=True, exist_ok=True)
        (yolo / "labels" / split / f"{i}.txt").write_text("0 0.25 0.5 0.3 0.5\n1 0.75 0.5 0.2 0.8\n")
    utk = data / "utk"
    for i, age in enumerate(range(5, 85, 4)):
        data_fixtures.image(utk / f"{age}_{i % 2}_{i % 5}_2017010{i % 10}120000000.jpg", (48, 48),
                            colour=(3 * age, 2 * age, age))
    monkeypatch.setenv("TLDASH_DATA_DIR", str(data))
    catalogue._load_cached.cache_clear()
    assert "crops of user/street" in catalogue.labelled_names("classification")
    assert "user/utk" in catalogue.labelled_names("regression")
    crops = catalogue.labelled("crops of user/street")
    assert crops.classes == ["car", "person"] and crops.counts() == {"train": 18, "val": 6}
    for dataset, head in (("crops of user/street", "linear"), ("user/utk", "mlp")):
        code, out = _cli(["--dataset", dataset, "--strategies", "frozen", "--head", head, "--epochs", "1",
                          "--image-size", "32", "--cpu"], capsys)
        assert code == 0, out.err
    street, utk_run = RunStore().list("done")
    assert street.config["labels"] == ["car", "person"] and street.metrics["test_samples"] == 6
    assert utk_run.config["labels"] is None and utk_run.config["target_name"] == "age"
    assert utk_run.metrics["test_samples"] == 3  # no splits in the folder: 15% held out, seeded


def test_stop_signal_marks_the_run_stopped_and_ends_the_process(isolated_env):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.test_app import ROOT
    proc = subprocess.Popen([sys.executable, "-m", "core.studies.transfer", "--strategies", "finetune", "--epochs", "30",
                             "--image-size", "32", "--cpu"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    store = RunStore()
    deadline = time.time() + 120
    while time.time() < deadline and not store.list("running"):
        time.sleep(0.3)
    assert store.list("running"), "the trainer never started its run"
    proc.send_signal(signal.SIGTERM)  # what the pages' Stop button sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().endswith("stopped") and "Traceback" not in err
    (run,) = store.list()
    assert run.status == "stopped" and "signal" in run.message


def test_try_image_runs_a_trained_regressor_on_a_photo(regression, runs_dir, monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    from streamlit.testing.v1 import AppTest

    from tests.test_app import ROOT, TIMEOUT
    at = AppTest.from_file(str(ROOT / "app_pages" / "try_image.py"), default_timeout=TIMEOUT).run()
    at.selectbox(key="try.task").set_value("regression").run()
    assert not at.exception, [e.value for e in at.exception]
    predicted = [m for m in at.metric if m.label == "predicted fatness"]
    assert len(predicted) == 2 and all(0 <= float(m.value) <= 1.5 for m in predicted)
