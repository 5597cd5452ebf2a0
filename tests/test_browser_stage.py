"""On stage, in a real browser (Debian Chromium through Playwright): each study page in presentation mode at
1280 × 720 opens on its evidence, figure and Δ with its CI inside the viewport and no table cell clipped; a training
job survives a reload, shows in a second tab as started elsewhere, and its stopped state stays after the rerun.

The runs are tiny real ones (seconds each), so the pages show the newest settings that have run here."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest
import torch

from core.engine.store import RunStore
from core.studies import index
from core.studies.face_detection import train as mtcnn
from core.studies.face_verification import train as fv_train
from core.studies.feature_extraction import train as fe_train
from core.studies.transfer import train as transfer
from tests.browser import ARTIFACTS, NO_CHROMIUM, ROOT, _new_page

pytestmark = NO_CHROMIUM
CPU = torch.device("cpu")
PAGES = [s.name for s in index.STUDIES if s.scores is not None]  # every study page


@pytest.fixture(scope="module")
def trained(runs_dir):
    """Two tiny runs of each transfer task and of YOLO (its two starts, in their process as a page starts them), one of
    face detection, verification and the autoencoder."""
    store = RunStore(runs_dir)
    env = {**os.environ, "TLDASH_RUNS_DIR": str(runs_dir), "TLDASH_OFFLINE": "1"}
    yolo = subprocess.run([sys.executable, "-m", "core.studies.object_detection", "--epochs", "1", "--every", "1",
                           "--image-size", "64", "--fraction", "0.1", "--cpu"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert yolo.returncode == 0, yolo.stderr[-2000:]
    for dataset, strategies in (("fashion_mnist_imbalanced3", ("scratch", "finetune")),
                                ("cartoon_faces/fatness", ("frozen", "finetune"))):  # scratch: constant, r undefined
        tiny = transfer.TransferConfig(dataset=dataset, image_size=32, epochs=2, limit_batches=2, batch_size=16,
                                       workers=0)
        for strategy in strategies:
            list(transfer.train(dataset, tiny.with_strategy(strategy), store, CPU))
    list(mtcnn.finetune(mtcnn.MTCNNConfig(stages=("pnet",), epochs=1, max_train_images=20, max_val_images=10,
                                          hard_negatives=False), store, CPU))
    cfg = fv_train.quick_config("efficientnet_lite0")
    cfg = dataclasses.replace(cfg, image_size=32, epochs=2, limit_batches=2,
                              strategy=dataclasses.replace(cfg.strategy, name="two_phase", head_epochs=1))
    list(fv_train.train("cartoon_faces/verification", cfg, fv_train.EmbedConfig(), store))
    list(fe_train.train(fe_train.AutoencoderConfig(dataset="fashion_mnist_sample", image_size=16, epochs=1), store,
                        CPU))
    assert all(r.status == "done" for r in store.list())
    return store


SELECTOR = ("table.hero td, table.hero th, [data-testid=stTable] td, [data-testid=stTable] th, "
            "[class*=st-key-hero]")
CLIPPED = ("s => [...document.querySelectorAll(s)].filter(e => e.scrollWidth > e.clientWidth + 1)"
           ".map(e => e.innerText.slice(0, 40))")


def test_every_study_page_opens_on_its_evidence_at_1280_by_720(server, browser, trained):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.set_default_timeout(120_000)
    for name in PAGES:
        page.goto(f"{server}/{name}?app.presentation=true")
        hero = page.locator(f".st-key-hero-{name}")
        figure = hero.locator(".js-plotly-plot, img.hero-figure").first
        expect(figure).to_be_visible()
        delta = hero.locator("table.hero td").filter(has_text=re.compile(r"^[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]$"))
        expect(delta.first).to_be_visible()
        page.wait_for_timeout(1500)  # the figure settles at its final size
        for what, box in (("figure", figure.bounding_box()), ("Δ", delta.first.bounding_box())):
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720 and box["x"] + box["width"] <= 1280, (name, what)
        assert page.evaluate(CLIPPED, SELECTOR) == [], name
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / f"stage-{name}.png")


def test_a_job_survives_a_reload_shows_in_a_second_tab_and_stays_stopped(server, browser, trained):
    from playwright.sync_api import expect

    page = _new_page(browser)
    page.goto(f"{server}/classification")
    page.get_by_role("button", name=re.compile(r"^Train finetune")).click()
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_visible()
    assert "tab=" in page.url  # this tab's name, kept in the URL
    page.reload()
    expect(page.get_by_text(re.compile(r"Training finetune|Starting the training process|Waiting in the queue"))
           ).to_be_visible()
    expect(stop).to_be_visible()
    expect(page.get_by_text("Started elsewhere")).to_have_count(0)  # a reload is the same tab
    expect(page.get_by_role("button", name=re.compile(r"^Train finetune"))).to_be_disabled()
    other = _new_page(browser)  # another browser: it sees the job, says whose it is, and may still train its own
    other.goto(f"{server}/classification")
    expect(other.get_by_text("Started elsewhere", exact=False)).to_be_visible()
    expect(other.get_by_role("button", name="Stop that job")).to_be_visible()
    expect(other.get_by_role("button", name=re.compile(r"^Train finetune"))).to_be_enabled()
    stop.click()
    stopped = page.get_by_text(re.compile(r"^(Stopped: 1 run|Removed 1 queued run)"))
    expect(stopped).to_be_visible()
    page.wait_for_timeout(4000)  # the page has rerun since; the outcome stays until the next job
    expect(stopped).to_be_visible()
    expect(other.get_by_text("Started elsewhere", exact=False)).to_have_count(0)  # it has ended there too
    page.screenshot(path=ARTIFACTS / "stage-stopped.png", full_page=True)
    assert not [r for r in trained.list() if r.status in ("queued", "running")]
