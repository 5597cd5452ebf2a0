"""YOLO from scratch vs from pretrained weights: the layout ultralytics trains on, the refusals before training,
one real (tiny) training of both starts in its own process, and what the experiment and page make of it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import catalogue, formats, yolo_layout
from core.data.types import DataError
from core.metrics import synthetic
from core.models import yolo
from core.runs import finals
from tests import data_fixtures as fx

CARTOON = Path("assets/cartoon_faces/detection")
ROOT = Path(__file__).resolve().parents[1]


def cartoon_copy(root: Path, per_split: dict[str, int]) -> Path:
    """A small YOLO folder of real cartoon images and labels, with a data.yaml naming its splits."""
    for split, n in per_split.items():
        for image in sorted((CARTOON / "images" / split).iterdir())[:n]:
            for kind, src in (("images", image), ("labels", CARTOON / "labels" / split / f"{image.stem}.txt")):
                (root / kind / split).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, root / kind / split / src.name)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n  0: face\n")
    return root


def test_the_cartoon_set_is_linked_once_per_image_with_its_boxes(tmp_path):
    data = catalogue.load("cartoon_faces/detection")
    data_yaml = yolo_layout.write(data, tmp_path)
    root = data_yaml.parent
    linked = [p for p in (root / "images").rglob("*") if p.is_symlink()]
    targets = [p.resolve() for p in linked]
    assert len(linked) == len(data.samples) == len(set(targets))  # every image once, none copied
    again = formats.yolo_yaml(data_yaml)
    assert again.counts() == data.counts() and again.classes == ["face"]
    by_target = {s.image.resolve(): s for s in again.samples}
    for s in data.samples[:40]:
        np.testing.assert_allclose(by_target[s.image.resolve()].boxes, s.boxes, atol=0.01)
    assert yolo_layout.write(data, tmp_path) == data_yaml  # written once, then reused


def test_a_set_without_splits_is_split_by_image_and_coco_trains_the_same_way(tmp_path):
    root = cartoon_copy(tmp_path / "c", {"train": 10})
    flat = formats.DetectionSet("flat", [formats.DetectionSample(s.image, s.boxes, s.labels) for s in
                                         formats.yolo(root).samples], ["face"])
    splits = yolo_layout.assign_splits(flat)
    assert [len(splits[s]) for s in yolo_layout.SPLITS] == [7, 2, 1]
    assert len({s.image for part in splits.values() for s in part}) == 10
    coco = fx.coco(tmp_path / "coco")
    with pytest.raises(DataError, match=r"problem\(s\); fix them before training: .*instances.json"):
        yolo_layout.check(formats.coco(coco / "instances.json", coco))


def test_bad_sets_are_refused_before_training_naming_the_file_and_line(tmp_path):
    root = cartoon_copy(tmp_path / "s", {"train": 3, "val": 1})
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/valid\nnames: [face]\n")
    with pytest.raises(DataError, match=r"data.yaml:3: val: images/valid points to .*valid, which is not a folder"):
        formats.yolo_yaml(root / "data.yaml")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [face]\n")
    label = sorted((root / "labels" / "train").iterdir())[1]
    label.write_text("0 0.5 0.5 0.2\n0 0.5 0.5 1.2 0.1\n1 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DataError) as refused:
        yolo_layout.check(catalogue.detect_format(root)[1]())
    message = str(refused.value)
    assert f"{label.name}:1: expected 5 fields" in message
    assert f"{label.name}:2: coordinates outside [0, 1]" in message
    assert f"{label.name}:3: unknown class id 1 (classes 0..0)" in message
    empty = cartoon_copy(tmp_path / "e", {"val": 2})
    (empty / "images" / "train").mkdir()
    (empty / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [face]\n")
    with pytest.raises(DataError, match="the training split is empty"):
        yolo_layout.check(formats.yolo_yaml(empty / "data.yaml"))


def test_ultralytics_metric_code_on_our_predictions_agrees_with_ours_up_to_interpolation():
    from core.studies.object_detection import experiment as od

    gt, results = synthetic.make_coco_set(3, 60, max_gt=5, background_rate=0.2, informative_scores=True)
    by_image = {im["id"]: ([], []) for im in gt["images"]}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        by_image[a["image_id"]][0].append([x, y, x + w, y + h])
        by_image[a["image_id"]][1].append(a["category_id"])
    samples = [formats.DetectionSample(Path(f"{i}.jpg"), np.array(b, float).reshape(-1, 4), np.array(c, int))
               for i, (b, c) in by_image.items()]
    found = []
    for i in by_image:
        rs = [r for r in results if r["image_id"] == i]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in rs)], float).reshape(-1, 4)
        found.append(yolo.Found(boxes, np.array([r["score"] for r in rs], float),
                                np.array([r["category_id"] for r in rs], int)))
    classes = sorted({c["id"] for c in gt["categories"]})
    s = od.score("synthetic", found, samples, [str(c) for c in range(max(classes) + 1)])
    assert 0.2 < s.metrics["AP50"] < 0.95
    assert abs(s.metrics["AP50"] - s.metrics["ultralytics_AP50"]) < 0.02
    assert abs(s.metrics["AP50-95"] - s.metrics["ultralytics_AP50-95"]) < 0.02
    assert s.ap_of_counts(np.ones(len(samples))) == pytest.approx(s.metrics["AP50"], abs=1e-9)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Both starts trained for real in their own process, as a page starts them: one epoch at 64 px on a tiny
    cartoon set, with HOME pointed at an empty folder to see that nothing lands there."""
    tmp = tmp_path_factory.mktemp("yolo")
    cartoon_copy(tmp / "user_data" / "tiny", {"train": 8, "val": 2, "test": 3})
    env = {**os.environ, "HOME": str(tmp / "home"), "TLDASH_OFFLINE": "1", "TLDASH_RUNS_DIR": str(tmp / "runs"),
           "TLDASH_DATA_DIR": str(tmp / "user_data"), "TORCH_HOME": str(tmp / "torch"),
           "TLDASH_WEIGHTS_DIR": str(tmp / "weights")}
    env.pop("YOLO_CONFIG_DIR", None)
    done = subprocess.run([sys.executable, "-m", "core.studies.object_detection", "--dataset", "user/tiny", "--epochs", "2",
                           "--every", "1", "--image-size", "64", "--cpu"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    return tmp, env, done


def test_both_starts_train_in_a_process_and_keep_a_checkpoint_every_k_epochs(trained, monkeypatch):
    from core.engine.store import RunStore

    tmp, env, done = trained
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]  # stdout holds only JSON: ultralytics is quiet
    finished = [e for e in events if e["event"] == "Finished"]
    assert [e["variant"].split("/")[1].split("-")[0] for e in finished] == ["scratch", "pretrained"]
    assert sum(e["event"] == "EpochEnd" for e in events) == 4
    assert not [p for p in (tmp / "home").rglob("*") if "ultralytics" in p.name.lower()]
    assert (tmp / "runs" / "ultralytics" / "config" / "Ultralytics" / "settings.json").is_file()
    settings = json.loads((tmp / "runs" / "ultralytics" / "config" / "Ultralytics" / "settings.json").read_text())
    assert settings["runs_dir"].startswith(str(tmp / "runs")) and settings["sync"] is False
    monkeypatch.setenv("TLDASH_RUNS_DIR", env["TLDASH_RUNS_DIR"])
    runs = RunStore().list()
    assert [r.config["start"] for r in runs] == ["scratch", "pretrained"]
    same = [{k: v for k, v in r.config.items() if k not in ("start", "strategy")} for r in runs]
    assert same[0] == same[1]  # the same settings, the same source
    assert runs[1].config["source"] == "yolov8s_people" and runs[1].base_variant == "yolov8s"
    for run in runs:
        kept = run.metrics["checkpoints"]
        assert [c["epoch"] for c in kept] == [1, 2] and run.status == "done"
        state = torch.load(kept[0]["path"], weights_only=True)  # no code inside: loads without unpickling any
        assert state["names"] == ["face"]
        assert len(list(Path(kept[0]["path"]).parent.glob("epoch1.*.test.64.npz"))) == 1


def test_the_experiment_scores_best_and_last_checkpoints_ours_beside_ultralytics(trained, monkeypatch):
    from core import registry
    from core.studies.object_detection import experiment as od

    tmp, env, _ = trained
    for key in ("TLDASH_RUNS_DIR", "TLDASH_DATA_DIR"):
        monkeypatch.setenv(key, env[key])
    runs = od.runs_on("user/tiny")
    pair = [runs["scratch"][0], runs["pretrained"][0]]
    result, scored = od.study(pair, "user/tiny", torch.device("cpu"), n_boot=50, timed=False)
    out = result.as_json()
    assert out["experiment"] == "object_detection" and out["dataset"] == "user/tiny/test"
    for pick in out["checkpoints"]:
        for which in ("best", "last"):
            assert set(out["variants"][pick[which]]) == set(registry.tasks.get("object_detection").metrics)
    assert len(out["per_checkpoint"]) == 4 and out["comparisons"][0]["test"] == "paired bootstrap"
    assert out["comparisons"][0]["a"].startswith("yolov8s/pretrained-")
    for run in pair:  # each run noted its last checkpoint's test AP50, the experiment's number, with a CI
        (final,) = finals.of(run)
        last = out["variants"][f"{registry.yolo_variant(run).name}@epoch2"]
        assert final.name == "test AP50 (epoch 2)" and final.value == pytest.approx(last["AP50"])
        assert final.low <= final.value <= final.high and final.over == "3 test images"
    variant = registry.variant(registry.yolo_variant(pair[1]).name)
    assert variant.weights == ("yolov8s_people",) and registry.variant(registry.yolo_variant(pair[0]).name).weights == ()


def test_the_page_shows_the_study_table_curves_and_both_detections(trained, monkeypatch):
    from streamlit.testing.v1 import AppTest

    _, env, _ = trained
    for key in ("TLDASH_RUNS_DIR", "TLDASH_DATA_DIR"):
        monkeypatch.setenv(key, env[key])
    at = AppTest.from_file(str(ROOT / "app_pages/object_detection.py"), default_timeout=120).run()
    assert not at.exception and any("needs a finished run of each start" in i.value for i in at.info)
    at.selectbox(key="yolo.dataset").set_value("user/tiny").run()
    assert not at.exception, [e.value for e in at.exception]
    study = at.dataframe[0].value
    assert list(study["start"]) == ["scratch", "scratch", "pretrained", "pretrained"]
    assert {"AP50", "ultralytics AP50", "val AP50 (ultralytics)"} <= set(study.columns)
    assert all(re.fullmatch(r"[\d,]+\.\d", v) for v in study["ms/image"])  # timed, formatted: "64.6", not 64.6437
    assert all(re.fullmatch(r"\d\.\d{3}|–", v) for v in study["AP50"])
    assert [m.value.split(" · ")[0] for m in at.markdown if " box(es) at score" in m.value] == \
        ["**pretrained**", "**scratch**"]
    at.select_slider(key="yolo.epoch").set_value(1).run()
    assert not at.exception and any("epoch 1 ·" in m.value for m in at.markdown)
    at.session_state["app.presentation"] = True  # the setup folds into one expander; the study table stays
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Detection set, training and the runs compared" in [e.label for e in at.expander]
    assert list(at.table[0].value.columns[:2]) == ["start", "checkpoint"]


def test_checkpoints_are_kept_every_k_epochs_and_at_the_last_and_configs_check_themselves():
    from core.studies.object_detection.train import YoloConfig

    assert [e for e in range(1, 6) if YoloConfig(epochs=5, every=2).kept(e)] == [2, 4, 5]
    with pytest.raises(ValueError, match="multiple of 32"):
        YoloConfig(image_size=100)
    with pytest.raises(ValueError, match="unknown start"):
        YoloConfig(start="imagenet")
    with pytest.raises(KeyError, match="choose from"):
        YoloConfig(source="yolov99")


def test_the_page_refuses_to_train_on_a_set_with_bad_labels_naming_file_and_line(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.engine.store import RunStore

    root = cartoon_copy(tmp_path / "data" / "broken", {"train": 3, "val": 1})
    label = sorted((root / "labels" / "train").iterdir())[0]
    label.write_text("0 0.5 0.5 0.2 0.3 0.9\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [face]\n")
    monkeypatch.setenv("TLDASH_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(ROOT / "app_pages/object_detection.py"), default_timeout=60).run()
    at.selectbox(key="yolo.dataset").set_value("user/broken").run()
    at.button(key="yolo.train.quick").click().run()
    assert not at.exception
    assert any(f"labels/train/{label.name}:1: expected 5 fields (class cx cy w h), got 6" in e.value for e in at.error)
    assert RunStore().list() == []  # refused before any run was queued


def test_try_your_image_runs_both_yolo_starts_on_a_sample_photo(trained, monkeypatch):
    from streamlit.testing.v1 import AppTest

    _, env, _ = trained
    monkeypatch.setenv("TLDASH_RUNS_DIR", env["TLDASH_RUNS_DIR"])
    at = AppTest.from_file(str(ROOT / "app_pages/try_image.py"), default_timeout=60).run()
    at.selectbox(key="try.task").set_value("object_detection").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {s.value.split("-")[0] for s in at.subheader} == {"yolov8s/scratch", "yolov8s/pretrained"}
    assert len([m for m in at.markdown if m.value.endswith("box(es) found")]) == 2


def test_a_run_exported_to_onnx_by_ultralytics_and_imported_detects_what_the_run_did(trained, tmp_path, monkeypatch):
    from core import predictors, registry
    from core.data.types import open_image
    from core.engine.store import RunStore
    from core.models import imported, yolo

    cpu = torch.device("cpu")
    tmp, env, done = trained
    assert done.returncode == 0, done.stderr[-2000:]
    run = next(r for r in RunStore(tmp / "runs").list("done") if r.config["start"] == "pretrained")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "runs"))
    onnx_file = yolo.export_onnx(run.checkpoint, tmp_path / "exported.onnx", 64)
    meta = imported.import_file(onnx_file, "yolo-onnx")
    assert (meta.task, meta.format, meta.size) == ("object_detection", "onnx", (64, 64))
    assert meta.classes == list(yolo.load_snapshot(run.checkpoint)[1])  # ultralytics wrote the names into the graph
    images = [open_image(p) for p in sorted((ROOT / "assets/cartoon_faces/detection/images/test").iterdir())[:4]]
    ours = yolo.Detector.from_checkpoint(run.checkpoint, 64, cpu).find(images, conf=0.01)
    theirs = yolo.Detector.from_import(meta, cpu).find(images, conf=0.01)
    assert sum(len(f.scores) for f in ours) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert len(a.scores) == len(b.scores)
        assert np.abs(a.scores - b.scores).max(initial=0) < 1e-4
        assert np.abs(a.boxes - b.boxes).max(initial=0) < 1e-2  # pixels
    (found,) = predictors.build(registry.imported_variant(meta), cpu).predict(images[:1])
    assert found.boxes.shape[1:] == (4,)
    with pytest.raises(imported.ImportRefused, match="only if you trust where it came from"):
        imported.import_file(run.checkpoint, "yolo-pt", yolo=True)
    # on the page: beside the runs, scored on the same test images, against the first run's best checkpoint
    from core.studies.object_detection import experiment as od

    runs = [r for r in RunStore(tmp / "runs").list("done")]
    monkeypatch.setenv("TLDASH_DATA_DIR", env["TLDASH_DATA_DIR"])
    result, scored = od.study(runs, "user/tiny", cpu, n_boot=200, timed=False, yours=("yolo-onnx",))
    last = next(p["last"] for p in result.extra["checkpoints"] if p["start"] == "pretrained")
    assert result.variants["yours/yolo-onnx"]["AP50"] == pytest.approx(result.variants[last]["AP50"], abs=1e-3)
    first_best = result.extra["checkpoints"][0]["best"]
    assert ("yours/yolo-onnx", first_best) in {(a, b) for a, b, c in result.comparisons if c.metric == "AP50"}
