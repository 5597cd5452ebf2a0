"""Every page under Streamlit's AppTest: no exception, the key widgets there, bad uploads answered."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
    at = run_page("app_pages/home.py")
    pages, catalogue, datasets = (df.value for df in at.dataframe)
    assert "Face detection" in set(pages["page"])
    states = dict(zip(catalogue["name"], catalogue["state"], strict=True))
    assert states["efficientnet_lite0_imagenet"] == "packaged" and states["vgg16_imagenet"] == "missing"
    assert "lfw_subset" in set(datasets["name"])


def test_try_image_classifies_a_sample_with_two_variants():
    at = run_page("app_pages/try_image.py")
    assert [m.label for m in at.metric] == ["ms / image", "ms / image"]
    assert [s.value for s in at.selectbox][1:] == ["efficientnet_lite0/imagenet", "efficientnet_lite1/imagenet"]
    assert len(at.get("plotly_chart")) == 2
    at.pills(key="try.sample").set_value("coffee").run()
    assert not at.exception and len(at.metric) == 2


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
