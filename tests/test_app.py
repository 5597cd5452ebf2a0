"""Every page under Streamlit's AppTest: no exception, the key widgets there, bad uploads answered."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.metrics import synthetic
from tests.bad_files import BAD_UPLOADS, jpeg_bytes

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]


def run_page(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_entry_point_shows_sidebar_controls_and_home():
    at = run_page("streamlit_app.py")
    assert at.title[0].value == "Transfer learning, side by side"
    assert {t.label for t in at.sidebar.toggle} == {"Force CPU", "Presentation mode"}
    assert any("Device" in m.value and "cpu" in m.value for m in at.sidebar.markdown)
    at.sidebar.toggle(key="app.presentation").set_value(True).run()
    assert not at.exception


def test_home_lists_pages_weights_and_datasets():
    at = run_page("streamlit_app.py")  # home is the default page; its tiles link to the others
    pages, catalogue, datasets = (df.value for df in at.dataframe)
    assert "Face detection" in set(pages["page"])
    states = dict(zip(catalogue["name"], catalogue["state"], strict=True))
    assert states["efficientnet_lite0_imagenet"] == "packaged" and states["vgg16_imagenet"] == "missing"
    assert "lfw_subset" in set(datasets["name"])
    assert [e.label for e in at.expander] == ["What each page compares, and why", "Pretrained weights",
                                               "Datasets present"]  # the tables are folded under the results
    assert at.subheader[0].value == "Results so far"
    device = next(m.value for m in at.markdown if m.value.startswith("Models run on"))
    assert "cpu" in device and "CPU in the sidebar" not in device  # no advice to switch to where it already is


def test_try_image_classifies_a_sample_with_two_variants():
    at = run_page("app_pages/try_image.py")
    assert [m.label for m in at.metric] == ["ms / image", "ms / image"]
    assert [s.value for s in at.selectbox][1:] == ["efficientnet_lite0/imagenet", "efficientnet_lite1/imagenet"]
    assert len(at.get("plotly_chart")) == 2
    at.pills(key="try.sample").set_value("coffee").run()
    assert not at.exception and len(at.metric) == 2
    assert at.subheader[-1].value == "Where does it look?"
    cams = [c for c in at.get("image") if c.proto.imgs and "predicted" in c.proto.imgs[0].caption]
    assert len(cams) == 2  # one Grad-CAM per variant, predicted class only: a sample photo has no true class


def test_try_image_detects_the_face_in_astronaut():
    at = run_page("app_pages/try_image.py")
    at.selectbox(key="try.task").set_value("face_detection").run()
    assert not at.exception
    assert any(m.value == "**1** face(s) found" for m in at.markdown)
    assert any("Only one variant" in i.value for i in at.info)


def test_try_image_lists_missing_weights_with_their_message():
    at = run_page("app_pages/try_image.py")
    missing = [m.value for m in at.markdown if "resnet18/imagenet" in m.value]
    assert missing and "resnet18-f37072fd.pth" in missing[0]
    at.session_state["app.presentation"] = True  # picker and choices fold into one expander, results come first
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.label for e in at.expander][:2] == ["What this page shows", "Image, task and variants"]
    assert [m.label for m in at.metric] == ["ms / image", "ms / image"]
    assert at.get("image")[0].proto.imgs[0].caption == "astronaut"  # the photo stays in view beside them
    assert any("resnet18-f37072fd.pth" in m.value for m in at.markdown)  # missing weights still said, unnested


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_bad_upload_gets_a_message_and_the_page_keeps_working(name):
    make, expected = BAD_UPLOADS[name]
    at = run_page("app_pages/try_image.py")
    at.radio(key="try.source").set_value("Upload").run()
    at.file_uploader(key="try.upload").upload(name, make()).run()
    assert not at.exception
    assert len(at.error) == 1 and expected in at.error[0].value and not at.metric
    at.file_uploader(key="try.upload").upload("good.jpg", jpeg_bytes(), "image/jpeg").run()
    assert not at.exception and not at.error and len(at.metric) == 2


@pytest.mark.parametrize("task, first_metric", [("face_detection", "AP (COCO)"), ("classification", "accuracy"),
                                                ("face_verification", "AUC"), ("regression", "MAE")])
def test_score_page_scores_each_generated_example(task, first_metric):
    at = run_page("app_pages/score.py")
    at.radio(key="score.task").set_value(task).run()
    assert not at.exception and not at.error
    assert at.metric[0].label == first_metric
    assert len(at.get("plotly_chart")) == (2 if task == "face_detection" else 1)


def test_score_page_uploaded_csv_with_two_variants_shows_the_comparison():
    at = run_page("app_pages/score.py")
    at.radio(key="score.task").set_value("classification").run()
    at.radio(key="score.source").set_value("Upload").run()
    frame = synthetic.classification_example(seed=3)
    at.file_uploader(key="score.classification.csv").upload("preds.csv", frame.to_csv(index=False).encode(),
                                                          "text/csv").run()
    assert not at.exception and not at.error
    compared = at.dataframe[-1].value.set_index("metric")
    accuracy = {c: (frame[c] == frame["true"]).mean() for c in ("pred", "pred_b")}
    assert compared.loc["accuracy", "Δ (a − b)"].tolist() == [f"{accuracy['pred'] - accuracy['pred_b']:+.3f}"] * 2
    assert compared.loc["accuracy", "test"].iloc[1].startswith("McNemar")
    # The majority-class fallback of pred_b wins on accuracy and loses on mean class accuracy.
    delta = compared["Δ (a − b)"].astype(float)
    assert delta.loc["mean class accuracy"] > 0 > delta.loc["accuracy"].iloc[0]


@pytest.mark.parametrize("content, message", [
    (b"true,pred\ncar,car\n", None),
    (b"truth,guess\ncar,car\n", "needs a column named true"),
    (b"\xff\xfe\x00bad", "not a readable CSV"),
])
def test_score_page_bad_csv_is_one_message(content, message):
    at = run_page("app_pages/score.py")
    at.radio(key="score.task").set_value("classification").run()
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.classification.csv").upload("x.csv", content, "text/csv").run()
    assert not at.exception
    if message is None:
        assert not at.error and at.metric[0].value == "1.000"
    else:
        assert len(at.error) == 1 and message in at.error[0].value


def test_score_page_detection_upload_with_a_broken_box():
    gt, results = synthetic.make_coco_set(1, 20)
    results[4]["bbox"][3] = -2.0
    at = run_page("app_pages/score.py")
    at.radio(key="score.task").set_value("face_detection").run()
    at.radio(key="score.source").set_value("Upload").run()
    at.file_uploader(key="score.gt").upload("gt.json", json.dumps(gt).encode(), "application/json")
    at.file_uploader(key="score.pred").upload("pred.json", json.dumps(results).encode(), "application/json").run()
    assert not at.exception and "negative width or height" in at.error[0].value


def test_datasets_page_lists_and_previews_the_builtin_sets():
    at = run_page("app_pages/datasets.py")
    names = set(at.dataframe[0].value["name"])
    assert {"cartoon_faces/detection", "cartoon_faces/verification", "fashion_mnist_imbalanced3"} <= names
    assert at.selectbox(key="data.preview").value == "cartoon_faces/detection"
    assert any("No problems found" in s.value for s in at.success)
    at.selectbox(key="data.preview").set_value("fashion_mnist_imbalanced3").run()
    assert not at.exception


def test_datasets_page_takes_a_zip_and_reports_its_problems(tmp_path, monkeypatch):
    from core.data import catalogue
    from tests import data_fixtures as fx

    monkeypatch.setenv(catalogue.USER_DIR_ENV, str(tmp_path / "user_data"))
    zipped = fx.zip_of(fx.yolo(tmp_path / "src"), extra={"../evil.txt": b"x"})
    at = run_page("app_pages/datasets.py")
    at.file_uploader(key="data.upload").upload("street.zip", zipped, "application/zip").run()
    assert not at.exception and not at.error
    assert any("user/street" in s.value and "yolo" in s.value for s in at.success)
    assert any("path leaves the archive" in w.value for w in at.warning)
    assert "user/street" in set(at.dataframe[0].value["name"])
    assert not (tmp_path / "evil.txt").exists()


def test_datasets_page_answers_a_reupload_a_foreign_zip_and_a_delete(tmp_path, monkeypatch):
    import io
    import zipfile

    from core.data import catalogue
    from tests import data_fixtures as fx

    user = tmp_path / "user_data"
    monkeypatch.setenv(catalogue.USER_DIR_ENV, str(user))
    zipped = fx.zip_of(fx.yolo(tmp_path / "src"))
    at = run_page("app_pages/datasets.py")
    at.file_uploader(key="data.upload").upload("street.zip", zipped, "application/zip").run()
    at.file_uploader(key="data.upload").upload("street.zip", zipped, "application/zip").run()
    assert any("added before, as **user/street**" in i.value for i in at.info)
    assert not any(s.value.startswith("Added") for s in at.success)
    assert sorted(p.name for p in user.iterdir()) == ["street"]  # no duplicate
    notes = io.BytesIO()
    with zipfile.ZipFile(notes, "w") as z:
        z.writestr("notes/readme.md", "# not a dataset")
    at.file_uploader(key="data.upload").upload("notes.zip", notes.getvalue(), "application/zip").run()
    assert "nothing was kept" in at.error[0].value  # one answer, the latest: no earlier success or notice under it
    assert not any(s.value.startswith("Added") for s in at.success) and not at.info
    assert sorted(p.name for p in user.iterdir()) == ["street"]  # the foreign zip left nothing behind
    at.selectbox(key="data.preview").set_value("user/street").run()
    at.button(key="data.delete").click().run()
    assert not at.exception and any("Deleted **user/street**" in s.value for s in at.success)
    assert not any(user.iterdir()) and "user/street" not in set(at.dataframe[0].value["name"])


def test_datasets_page_refuses_a_file_that_is_not_a_zip():
    at = run_page("app_pages/datasets.py")
    at.file_uploader(key="data.upload").upload("photo.zip", b"\xff\xd8\xff not a zip", "application/zip").run()
    assert not at.exception and "not a readable zip archive" in at.error[0].value


def test_try_image_on_a_cartoon_dataset_image_colours_hits_and_misses():
    at = run_page("app_pages/try_image.py")
    at.radio(key="try.source").set_value("From a dataset").run()
    at.selectbox(key="try.dataset").set_value("cartoon_faces/detection").run()
    at.number_input(key="try.index").set_value(3).run()
    at.selectbox(key="try.task").set_value("face_detection").run()
    assert not at.exception and not at.error
    assert any("ground-truth box" in c.value for c in at.caption)
    assert any("orange dashed FN" in c.value for c in at.caption)


def test_try_image_puts_a_finetuned_mtcnn_beside_the_pretrained_one():
    from facenet_pytorch import MTCNN

    from core.engine.store import RunStore

    store = RunStore()
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": "finetuned-pnet"})
    with store.recording(run_id) as rec:
        rec.checkpoint({"pnet": MTCNN().pnet.state_dict()}, "pnet epoch 1")
    at = run_page("app_pages/try_image.py")
    at.selectbox(key="try.task").set_value("face_detection").run()
    assert not at.exception
    assert at.selectbox(key="try.b").value == f"mtcnn/finetuned-pnet-{run_id}"
    assert [m.label for m in at.metric] == ["ms / image", "ms / image"]
    assert [m.value for m in at.markdown if m.value.endswith("face(s) found")] == ["**1** face(s) found"] * 2


def test_an_unwritable_runs_folder_is_one_message_at_start(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(blocker / "runs"))
    at = run_page("streamlit_app.py")
    assert [e.value.split(" (")[0] for e in at.error] == [f"The runs folder {blocker.resolve() / 'runs'} cannot be written"]
    assert at.title[0].value == "Transfer learning, side by side"


def test_feature_extraction_probes_rows_into_one_table_and_says_what_is_wrong():
    at = AppTest.from_file(str(ROOT / "app_pages/feature_extraction.py"), default_timeout=TIMEOUT)
    at.session_state["fx.dataset"] = "lfw_subset"
    at.session_state["fx.size"] = 32
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    layers = at.multiselect(key="fx.layers.mobilenet_v2")
    assert layers.value == ["blocks.18"] and layers.options[0].startswith("blocks.0 ")
    at.button(key="fx.add").click().run()
    at.multiselect(key="fx.layers.mobilenet_v2").set_value(["blocks.6.add", "blocks.12.add"]).run()
    at.button(key="fx.add").click().run()
    table = at.dataframe[0].value
    assert list(table["layers"]) == ["blocks.18", "blocks.6.add + blocks.12.add"]
    assert table["balanced_accuracy"].between(0.9, 1).all() and table["folds"].str.split().map(len).eq(5).all()
    at.slider(key="fx.probe.folds").set_value(10).run()
    at.radio(key="fx.probe.pca_mode").set_value("components").run()
    at.number_input(key="fx.probe.pca_n").set_value(500).run()
    at.button(key="fx.add").click().run()
    assert any("choose at most" in e.value for e in at.error), [e.value for e in at.error]
    assert len(at.dataframe[0].value) == 2


def test_page_settings_hold_when_the_presenter_switches_pages_and_comes_back():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/classification.py").run()
    at.sidebar.slider(key="cls.epochs").set_value(9).run()
    at.sidebar.select_slider(key="cls.size").set_value(32).run()
    at.switch_page("app_pages/feature_extraction.py").run()
    at.sidebar.selectbox(key="fx.dataset").set_value("digits").run()
    at.switch_page("app_pages/classification.py").run()
    assert not at.exception
    assert at.sidebar.slider(key="cls.epochs").value == 9 and at.sidebar.select_slider(key="cls.size").value == 32
    at.switch_page("app_pages/feature_extraction.py").run()
    assert at.sidebar.selectbox(key="fx.dataset").value == "digits"


def test_presentation_mode_folds_explanations_and_draws_result_tables_as_html():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/score.py").run()
    at.radio(key="score.task").set_value("face_detection").run()
    assert "What this page shows" not in [e.label for e in at.expander] and at.dataframe and not at.table
    at.sidebar.toggle(key="app.presentation").set_value(True).run()
    assert not at.exception
    assert at.expander[0].label == "What this page shows"  # the opening paragraph, folded
    assert at.table and not at.dataframe  # per-class results: HTML, which scales with the page
    assert at.sidebar.toggle(key="app.presentation").value
    at.switch_page("app_pages/classification.py").run()  # another page: still presenting
    assert at.sidebar.toggle(key="app.presentation").value and at.expander[0].label == "What this page shows"
    assert at.expander[1].label == "Training, the runs compared and the baseline"  # the setup folded too


def test_how_the_last_job_ended_stays_on_the_page_until_the_next_job_starts(monkeypatch):
    """A job's end is kept in the session and drawn on every run until the next job starts: drawn once and
    dropped, it was lost whenever a newer rerun interrupted the run that drew it (a busy page, a loaded machine)."""
    from ui import jobs

    at = AppTest.from_file(str(ROOT / "app_pages/classification.py"), default_timeout=TIMEOUT)
    at.session_state["cls.removed"] = ["r1", "r2", "r3"]
    at.session_state["cls.stopped"] = ["r0"]
    for _ in range(2):  # the run that drew them is not the last to show them
        at.run()
        assert not at.exception
        shown = [s.value for s in at.success]
        assert "Removed 3 queued run(s) that had not started." in shown and any(s.startswith("Stopped: 1 run(s) (r0)")
                                                                                for s in shown)
    monkeypatch.setattr(jobs, "launch", lambda run_ids, force_cpu=False: jobs.Job(0, tuple(run_ids), "", 0.0))
    with monkeypatch.context() as m:
        m.setattr(jobs.st, "session_state", {"cls.removed": ["r1"], "cls.stopped": ["r0"], "cls.failed": ["x"]})
        jobs.start("cls", ["r9"])
        assert set(jobs.st.session_state) == {"cls.job", jobs.TAB}  # a new job: the last one's end is no longer news
