import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import tasks
from core.engine.store import RunStore
from core.studies.face_detection import experiment as fd
from core.studies.face_detection import train as mtcnn
from tests.test_app import ROOT

CPU = torch.device("cpu")


def quick_run(store: RunStore) -> str:
    cfg = mtcnn.MTCNNConfig(stages=("pnet",), epochs=1, max_train_images=20, max_val_images=10, hard_negatives=False)
    finished = [e for e in mtcnn.finetune(cfg, store, CPU) if isinstance(e, mtcnn.Finished)]
    return finished[0].variant


def test_rescoring_from_the_cache_matches_a_fresh_run_at_those_thresholds():
    images, truth = fd.test_images()
    images, truth = images[:20], truth[:20]
    cached = fd.run_variant("mtcnn/pretrained", images, CPU)
    strict = (0.6, 0.7, 0.7)
    rescored = fd.score(cached, truth, strict, 0.5)
    model = fd.build(fd.registry.variant("mtcnn/pretrained"), CPU).mtcnn
    fresh = fd.mtcnn_batched.detect(images, model.pnet, model.rnet, model.onet, strict)
    assert [len(d.boxes) for d in rescored.detections] == [len(d.boxes) for d in fresh]
    assert 0 < rescored.ap <= 1 and rescored.curve.n_gt == sum(len(t) for t in truth)


def test_a_run_kept_on_disk_is_read_back_equal_and_a_changed_input_or_a_bad_file_runs_anew(tmp_path, monkeypatch):
    monkeypatch.setenv(fd.CACHE_ENV, str(tmp_path / "cache"))
    images, truth = fd.test_images()
    images, truth = images[:6], truth[:6]
    fresh = fd.run_variant("mtcnn/pretrained", images, CPU, cache=True)
    (kept,) = (tmp_path / "cache" / "face_detection").glob("*.npz")
    calls = []
    monkeypatch.setattr(fd, "build", lambda *a, **k: calls.append(a) or pytest.fail("ran the model again"))
    read = fd.run_variant("mtcnn/pretrained", images, CPU, cache=True)
    assert not calls and read.ms_per_image == fresh.ms_per_image
    for a, b in zip(fresh.cascades, read.cascades, strict=True):
        for f in fd.CASCADE_FIELDS:
            assert torch.equal(torch.nan_to_num(getattr(a, f), -1), torch.nan_to_num(getattr(b, f), -1))
    strict = (0.6, 0.7, 0.7)
    assert fd.score(read, truth, strict).ap == fd.score(fresh, truth, strict).ap
    assert fd.cascade_cache("mtcnn/pretrained", images[:5], CPU) != kept  # other images: another file
    assert fd.cascade_cache("mtcnn/pretrained", images, torch.device("meta")) != kept  # another device type
    monkeypatch.undo()
    monkeypatch.setenv(fd.CACHE_ENV, str(tmp_path / "cache"))
    kept.write_bytes(b"PK\x03\x04 not a zip")  # damaged, or planted: not trusted, run again and rewritten
    again = fd.run_variant("mtcnn/pretrained", images, CPU, cache=True)
    assert [len(c.proposals) for c in again.cascades] == [len(c.proposals) for c in fresh.cascades]
    assert np.load(kept, allow_pickle=False)["0.proposals"].shape == tuple(fresh.cascades[0].proposals.shape)


def test_comparison_json_has_the_design_shape_and_a_ci(tmp_path):
    store = RunStore()
    name = quick_run(store)
    result = fd.run(["mtcnn/pretrained", name], device=CPU, n_boot=200, max_images=12).as_json()
    assert result["experiment"] == "face_detection" and result["dataset"] == "cartoon_faces/detection/test"
    assert result["images"] == 12
    assert set(result["variants"]) == {"mtcnn/pretrained", name}
    for metrics in result["variants"].values():
        assert set(metrics) == set(tasks.get("face_detection").metrics)
    (cmp,) = result["comparisons"]
    assert cmp["a"] == name and cmp["test"] == "paired bootstrap" and cmp["ci95"][0] <= cmp["delta"] <= cmp["ci95"][1]
    assert result["variants"]["mtcnn/pretrained"]["real_photo_recall"] == 1.0
    for variant, (low, high) in result["ms_range"].items():  # speed: interleaved rounds, the median within its range
        assert 0 < low <= result["variants"][variant]["ms_per_image"] <= high
    json.dumps(result)


def test_page_rescores_without_running_a_model_again(monkeypatch):
    calls = []
    real = fd.run_variant
    monkeypatch.setattr(fd, "run_variant", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    at = AppTest.from_file(str(ROOT / "app_pages/face_detection.py"), default_timeout=240).run()
    assert not at.exception and calls == ["mtcnn/pretrained"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["variant", *tasks.get("face_detection").metrics]  # the CLI's JSON keys
    ap_before = float(table["AP"].iloc[0])
    at.sidebar.slider(key="detect.t.ONet").set_value(0.9).run()
    at.sidebar.slider(key="detect.iou").set_value(0.5).run()
    assert not at.exception and calls == ["mtcnn/pretrained"]
    assert float(at.dataframe[0].value["AP"].iloc[0]) < ap_before
    assert any("missed faces" in c.value for c in at.caption)


def test_experiment_cli_refuses_an_unknown_experiment(capsys):
    from core.experiments.__main__ import main

    with pytest.raises(SystemExit) as ended:
        main(["juggling"])
    assert ended.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_tiny_and_blank_images_give_no_faces_not_errors():
    from PIL import Image

    model = fd.build(fd.registry.variant("mtcnn/pretrained"), CPU)
    found = model.predict([Image.new("RGB", (8, 8)), Image.new("L", (64, 48)).convert("RGB"),
                           Image.new("RGBA", (64, 64)).convert("RGB")])
    assert [d.boxes.shape for d in found] == [(0, 4)] * 3 and all(np.isfinite(d.scores).all() for d in found)


def test_page_runs_the_variants_on_an_uploaded_photo_and_refuses_a_bomb():
    import io

    from PIL import Image as PILImage

    from tests.bad_files import huge_png

    at = AppTest.from_file(str(ROOT / "app_pages/face_detection.py"), default_timeout=240).run()
    at.radio(key="detect.on").set_value("a sample photo, an upload or another dataset").run()
    counts = [int(m.value.split("· ")[1].split()[0]) for m in at.markdown if m.value.endswith("face(s)")]
    assert not at.exception and counts and counts[0] >= 1  # the astronaut, at the study's permissive thresholds
    at.radio(key="detect.pick.source").set_value("Upload").run()
    buf = io.BytesIO()
    PILImage.new("RGB", (8000, 6000), (200, 180, 160)).save(buf, "JPEG", quality=40)
    at.file_uploader(key="detect.pick.upload").upload("big.jpg", buf.getvalue(), "image/jpeg").run()
    assert not at.exception and not at.error and any("downscaled" in c.value for c in at.caption)
    at.file_uploader(key="detect.pick.upload").upload("bomb.png", huge_png(), "image/png").run()
    assert not at.exception and "megapixels" in at.error[0].value
