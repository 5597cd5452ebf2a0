"""The app served by `streamlit run`, driven in headless Debian Chromium through Playwright."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.bad_files import jpeg_bytes, text_as_jpg

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make browser)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def server(runs_dir):
    port = _free_port()
    env = {**os.environ, "TLDASH_OFFLINE": "1", "TLDASH_RUNS_DIR": str(runs_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # a server thread stuck in a C call: the tests are over, end it
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=150_000)  # first model loads on a busy 2-core machine take seconds, not 5

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_page(browser):
    """A page in a browser context of its own: to the app, another user with another session."""
    pg = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
    pg.set_default_timeout(90_000)
    return pg


@pytest.fixture(scope="module")
def page(browser):
    return _new_page(browser)


def test_home_page_in_a_real_browser(server, page):
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.get_by_role("heading", name="Transfer learning, side by side")).to_be_visible()
    expect(page.get_by_text("Pretrained weights")).to_be_visible()
    expect(page.get_by_text("Force CPU")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "home.png")


def _upload_text_then_photo(page, tmp_path, name: str) -> None:
    """A text file named like a photo is refused with one message; then a real photo goes through."""
    from playwright.sync_api import expect

    bad = tmp_path / name
    bad.write_bytes(text_as_jpg())
    page.locator("input[type=file]").set_input_files(bad)
    expect(page.get_by_text(f"{name} is a text file, not an image")).to_be_visible()
    good = tmp_path / "astronaut.jpg"
    good.write_bytes(jpeg_bytes())
    page.locator("input[type=file]").set_input_files(good)


def test_try_image_survives_a_bad_upload_then_runs(server, page, tmp_path):
    """Face detection chosen, then an upload (refused, then a photo), then back to the samples: the task box shows
    face detection throughout and the page runs it (the box used to fall back to its first task)."""
    from playwright.sync_api import expect

    page.goto(f"{server}/try_image")
    expect(page.get_by_text("ms / image").first).to_be_visible()
    expect(page.get_by_text("Force CPU")).to_be_visible()  # served inside the app's navigation
    task = page.locator("[data-testid=stSelectbox]").filter(has_text="Task").locator("input")
    task.click()
    page.get_by_role("option", name="Face detection", exact=True).click()
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    page.get_by_text("Upload", exact=True).click()
    _upload_text_then_photo(page, tmp_path, "holiday.jpg")
    speeds = page.locator("[data-testid=stMetric]").filter(has_text="ms / image")
    expect(speeds).to_have_count(1)  # one face detector here: MTCNN pretrained
    expect(page.get_by_text("not an image")).to_have_count(0)
    expect(task).to_have_value("Face detection")
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "try_image.png", full_page=True)
    page.get_by_text("Sample photo", exact=True).click()
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    expect(task).to_have_value("Face detection")


def test_score_page_downloads_a_png_for_slides(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/score")
    page.get_by_text("Face detection (COCO json)").click()
    expect(page.get_by_text("AP (COCO)")).to_be_visible()
    with page.expect_download() as info:
        page.locator("[data-testid=stDownloadButton]").filter(has_text="PNG").first.click()
    path = info.value.path()
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert info.value.suggested_filename == "precision_recall.png"
    page.screenshot(path=ARTIFACTS / "score.png", full_page=True)


def test_face_detection_gallery_dialog_and_finetuning_from_the_page(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/face_detection")
    expect(page.get_by_text("What fine-tuning forgets")).to_be_visible()
    page.get_by_role("button", name="image", exact=False).first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("dialog").get_by_text("green TP, red FP, orange dashed FN")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_text("Fine-tune a new variant on the cartoon training split").click()
    page.get_by_text("PNet only, as in the study", exact=False).click()
    expect(page.get_by_text("Fine-tuning pnet", exact=False)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Fine-tuning pnet: (?!starting)\w[^…]*…"))).to_be_visible()  # mining
    # Stopped before its first epoch ends: no checkpoint, no variant, and the page says so. (A run stopped after an
    # epoch is a variant at that epoch: tests/test_runstore.py, and the registry's names, cover that path without
    # the 15 s of evaluating a new MTCNN here.)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stopped before its first epoch ended")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^mtcnn/finetuned-pnet"))).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "face_detection.png", full_page=True)


def test_face_verification_threshold_pairs_and_two_faces(server, page, tmp_path):
    """The pretrained embedding and dlib's reference on the cartoon test pairs: the threshold moves the counts,
    the hardest pairs are drawn, and "verify two faces" refuses a text file, then decides on a photo."""
    from playwright.sync_api import expect

    page.goto(f"{server}/face_verification")
    expect(page.get_by_text("276 test pairs (138 same person)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^dlib \(trained on faces\) \(AUC 0\.\d+")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"pair \d+ · distance")).first).to_be_visible()
    slider = page.locator("[data-testid=stSlider]").filter(has_text="Threshold")
    before = slider.locator("input[type=range]").get_attribute("aria-valuetext")
    slider.locator("input[type=range]").focus()
    page.keyboard.press("End")
    expect(slider.locator("input[type=range]")).to_have_attribute("aria-valuetext", "1.000")
    assert before != "1.000"
    expect(page.get_by_text("None at this threshold.").first).to_be_visible()  # nothing is rejected at 1
    page.get_by_text("upload", exact=True).nth(1).click()
    _upload_text_then_photo(page, tmp_path, "face.jpg")
    expect(page.get_by_text("1 of 2")).to_be_visible()  # dlib finds the astronaut's face, not the cartoon's
    expect(page.get_by_text("same person").first).to_be_visible()  # at threshold 1 every pair is accepted
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "face_verification.png", full_page=True)


def _choose(page, label: str, option: str) -> None:
    """Pick an option of a sidebar selectbox by its label."""
    page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").filter(has_text=label).locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _smallest(page, label: str, first: str) -> None:
    """Move a sidebar slider to its first value (the keyboard's Home on its thumb), which reads `first`."""
    from playwright.sync_api import expect

    slider = page.locator("[data-testid=stSidebar] [data-testid=stSlider]").filter(has_text=label)
    slider.locator("input[type=range]").focus()
    page.keyboard.press("Home")
    expect(slider.locator("input[type=range]")).to_have_attribute("aria-valuetext", first)


def test_regression_point_click_shows_its_image(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/regression")
    expect(page.get_by_text("stand-in for age")).to_be_visible()
    _choose(page, "Freeze strategy", "frozen")
    _smallest(page, "Image size (px)", "32")
    page.get_by_role("button", name="Train frozen").click()
    expect(page.get_by_text("Test split · 229 images")).to_be_visible()
    expect(page.get_by_text("Learning curves")).to_be_visible()  # the whole script has drawn
    page.wait_for_timeout(2000)  # and the charts have settled in their final width
    point = page.locator(".js-plotly-plot .scatterlayer .trace.scatter .points path").nth(5)
    point.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # let the scroll settle before reading the point's position
    box = point.bounding_box()  # plotly takes clicks on its drag layer, by position: hover there, then click
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    expect(page.locator(".hoverlayer .hovertext").first).to_be_visible()
    page.mouse.click(x, y)
    page.screenshot(path=ARTIFACTS / "regression-click.png", full_page=True)
    expect(page.get_by_text(re.compile(r"Image \d+ · actual fatness"))).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "regression.png", full_page=True)


def test_feature_space_shows_a_thumbnail_on_hover_and_neighbours_on_click(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/feature_extraction")
    expect(page.get_by_text("Probe and add to the table")).to_be_visible()
    _choose(page, "Dataset", "lfw_subset")
    expect(page.get_by_text("200 images used")).to_be_visible()
    page.locator("[data-testid=stButtonGroup]").get_by_text("Feature space", exact=True).click()
    points = page.locator("[data-testid=stVegaLiteChart] path[role=graphics-symbol]")
    expect(points).to_have_count(200)
    points.nth(7).hover(force=True)
    expect(page.locator("#vg-tooltip-element img")).to_be_visible()  # Vega's tooltip draws the image field
    points.nth(7).click(force=True)
    expect(page.get_by_text("picked:")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^(face|non-face) · \d+\.\d$"))).to_have_count(8)
    page.screenshot(path=ARTIFACTS / "feature-space.png", full_page=True)


def test_two_sessions_follow_and_stop_only_their_own_runs(server, browser):
    """A trains a frozen run; B, at the same time, queues scratch · frozen · finetune and stops them. Neither
    sees the other's progress, B's Stop leaves A's run alone, and A's finished run does not join B's comparison
    unless B picks it."""
    from playwright.sync_api import expect

    a, b = _new_page(browser), _new_page(browser)
    for pg in (a, b):
        pg.goto(f"{server}/classification")
        expect(pg.get_by_text("Transfer: classification", exact=False).first).to_be_visible()
        _choose(pg, "Dataset", "cartoon_faces/glasses")  # a set no other test trains on
        expect(pg.get_by_text("No finished runs on this dataset yet")).to_be_visible()
    _choose(a, "Freeze strategy", "frozen")
    expect(a.get_by_text(re.compile(r"Trainable parameters · 2,562 of 2,22\d,\d{3} \(0\.1%\)"))).to_be_visible()
    _smallest(a, "Image size (px)", "32")
    a.get_by_role("button", name="Train frozen").click()
    b.get_by_role("button", name="Train scratch · frozen · finetune with these settings").click()
    expect(b.get_by_text(re.compile(r"Training scratch \(1 of 3\)"))).to_be_visible()
    expect(a.get_by_text(re.compile(r"Training frozen \(1 of 1\)|Test split"))).to_be_visible()
    expect(a.get_by_text(re.compile(r"of 3\)"))).to_have_count(0)  # B's job is not A's
    b.get_by_role("button", name="Stop").click()
    expect(b.get_by_text(re.compile(r"Stopped: 3 run\(s\)"))).to_be_visible()
    expect(a.get_by_text(re.compile(r"Test split · \d+ images"))).to_be_visible()  # A's run finished
    expect(a.locator("[data-testid=stDataFrame]").first).to_be_visible()
    expect(a.get_by_text("Confusion matrices")).to_be_visible()
    expect(a.get_by_text("Learning curves")).to_be_visible()
    expect(a.get_by_role("button", name="Stop")).to_have_count(0)  # the live view ends with the run
    _choose(b, "Dataset", "cartoon_faces/gender")  # B reruns now that A's run has finished
    _choose(b, "Dataset", "cartoon_faces/glasses")
    expect(b.get_by_text("Pick the runs to compare", exact=False)).to_be_visible()  # offered, not added
    expect(b.get_by_text("Test split", exact=False)).to_have_count(0)
    a.wait_for_timeout(2000)  # the charts draw after their headings
    a.screenshot(path=ARTIFACTS / "classification.png", full_page=True)
    b.screenshot(path=ARTIFACTS / "two-sessions-b.png", full_page=True)


def _classification_runs(runs_dir) -> dict[tuple[str, str], int]:
    """Two finished classification runs on the default set, written straight into the store (untrained weights,
    chosen outputs): scratch wrong on every fifth test image, finetune on every seventh. Returns finetune's error
    count per (true, predicted) cell."""
    from collections import Counter

    import numpy as np

    from core import tasks
    from core.data import catalogue
    from core.models import backbones
    from core.train.runstore import RunStore

    dataset = tasks.get("classification").default_dataset
    data = catalogue.labelled(dataset)
    index = np.arange(60)
    targets = np.asarray(data.targets)[index].astype(int)
    store, cells = RunStore(runs_dir), {}
    for strategy, every in (("scratch", 5), ("finetune", 7)):
        predicted = np.where(index % every == 0, (targets + 1) % 3, targets)
        outputs = np.full((len(index), 3), 0.05)
        outputs[index, predicted] = 0.9
        config = {"dataset": dataset, "backbone": "mobilenet_v2", "head": "linear", "strategy": strategy,
                  "image_size": 32, "epochs": 1, "labels": data.classes}
        run_id = store.create("classification", "mobilenet_v2", "classification", config)
        with store.recording(run_id) as rec:
            model, _ = backbones.build("mobilenet_v2", 3, "linear", pretrained=False)
            rec.checkpoint(model.state_dict(), "epoch 1")
            rec.arrays(".npz", index=index, targets=targets, outputs=outputs)
        cells = Counter((data.classes[t], data.classes[p]) for t, p in zip(targets, predicted, strict=True) if t != p)
    return dict(cells)


def test_a_confusion_cell_click_filters_the_error_gallery(server, page, runs_dir):
    from playwright.sync_api import expect

    cells = _classification_runs(runs_dir)
    (true, predicted), count = max(cells.items(), key=lambda kv: kv[1])
    page.goto(f"{server}/classification")
    total = sum(cells.values())
    expect(page.get_by_text(f"{total} test errors of finetune")).to_be_visible()
    expect(page.get_by_text("Beside")).to_be_visible()  # Grad-CAM of the first error has been drawn
    page.wait_for_timeout(2000)  # the charts settle in their final width
    from core import tasks
    from core.data import catalogue

    classes = catalogue.labelled(tasks.get("classification").default_dataset).classes
    cell = page.locator(".js-plotly-plot .scatterlayer .trace").nth(1).locator("path.point").nth(
        classes.index(true) * len(classes) + classes.index(predicted))  # finetune's matrix, the second
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    box = cell.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(".hoverlayer .hovertext").first).to_contain_text("click: these errors")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_text(f"{count} test errors of finetune")).to_be_visible()
    expect(page.get_by_text(f"(true {true} · predicted {predicted})")).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "classification-errors.png", full_page=True)
