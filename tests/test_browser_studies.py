"""The study pages in a real browser (Debian Chromium through Playwright): clicks on figures, dialogs,
training from a page."""

from __future__ import annotations

import re

from tests.browser import ARTIFACTS, NO_CHROMIUM, _choose, _smallest, _upload_text_then_photo

pytestmark = NO_CHROMIUM


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
    # Stopped before its first epoch ends: no checkpoint, no variant, and the page says it stopped. (A run stopped
    # after an epoch is a variant at that epoch, offered under Variants, not added: tests/test_runstore.py, and the
    # registry's names, cover that path without the 15 s of evaluating a new MTCNN here.)
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Stopped: 1 run\(s\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^mtcnn/finetuned-pnet"))).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "face_detection.png", full_page=True)


def test_face_verification_threshold_pairs_and_two_faces(server, page, tmp_path):
    """The pretrained embedding and dlib's reference on the cartoon test pairs: the operating point (one false accept
    rate, a threshold per variant) moves the counts, the hardest pairs are drawn, and "verify two faces" refuses a
    text file, then decides on a photo."""
    from playwright.sync_api import expect

    page.goto(f"{server}/face_verification")
    expect(page.get_by_text("276 test pairs (138 same person)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^dlib \(trained on faces\) \(AUC 0\.\d+")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"pair \d+ · distance")).first).to_be_visible()
    slider = page.locator("[data-testid=stSlider]").filter(has_text="Operating point")
    before = slider.locator("input[type=range]").get_attribute("aria-valuetext")
    slider.locator("input[type=range]").focus()
    page.keyboard.press("Home")
    expect(slider.locator("input[type=range]")).to_have_attribute("aria-valuetext", "0.00")
    assert before != "0.00"
    expect(page.get_by_text("None at this threshold.").first).to_be_visible()  # no false accept at a rate of 0
    page.get_by_text("upload", exact=True).nth(1).click()
    _upload_text_then_photo(page, tmp_path, "face.jpg")
    expect(page.get_by_text("1 of 2")).to_be_visible()  # dlib finds the astronaut's face, not the cartoon's
    expect(page.get_by_text(re.compile(r"^(same person|different people)$")).first).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "face_verification.png", full_page=True)


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
    chart = page.locator(".js-plotly-plot").nth(1)  # the first is the evidence's figure, at the top of the page
    point = chart.locator(".scatterlayer .trace.scatter .points path").nth(5)
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


def _classification_runs(runs_dir) -> dict[tuple[str, str], int]:
    """Two finished classification runs on the default set, written straight into the store (untrained weights,
    chosen outputs): scratch wrong on every fifth test image, finetune on every seventh. Returns finetune's error
    count per (true, predicted) cell."""
    from collections import Counter

    import numpy as np

    from core import tasks
    from core.data import catalogue
    from core.engine.store import RunStore
    from core.models import backbones

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
    chart = page.locator(".js-plotly-plot").nth(1)  # the first is the evidence's figure, at the top of the page
    cell = chart.locator(".scatterlayer .trace").nth(1).locator("path.point").nth(
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


def test_an_imported_model_joins_the_classification_comparison_with_paired_cis(server, page, runs_dir, monkeypatch):
    from playwright.sync_api import expect

    from core import tasks
    from core.data import catalogue
    from core.engine.store import RunStore
    from core.models import imported

    _classification_runs(runs_dir)
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))  # the served app's runs folder: imports live beside them
    finetune = next(r for r in RunStore(runs_dir).list("done") if r.config["strategy"] == "finetune")
    classes = catalogue.labelled(tasks.get("classification").default_dataset).classes
    imported.import_file(finetune.checkpoint, "mine", classes=classes, size=32)
    page.goto(f"{server}/classification")
    yours = page.locator("[data-testid=stMultiSelect]").filter(has_text="Your models")
    yours.locator("input").click()
    page.get_by_role("option", name="yours: mine (state_dict)").click()
    page.keyboard.press("Escape")
    # its verdict against the baseline, from the paired bootstrap on the same test images
    expect(page.get_by_text(re.compile(r"(yours: mine is clearly (better|worse) than|No clear difference between "
                                       r"yours: mine and) scratch.* on mCA \(Δ [+-]\d\.\d{3}, 95% CI"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"(finetune is clearly (better|worse) than|No clear difference between "
                                       r"finetune and) scratch on mCA")).first).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "classification-yours.png", full_page=True)
