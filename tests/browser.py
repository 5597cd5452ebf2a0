"""Shared by the real-browser tests: the app served by `streamlit run` on a free port, Debian Chromium driven
through Playwright. Each test module that imports these fixtures gets a server and a browser of its own."""

from __future__ import annotations

import os
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

NO_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make browser)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The served app's user dataset: a small two-class ImageFolder (`user/queue_b`), on which the sessions test
    trains in seconds, on a set of its own."""
    from tests import data_fixtures

    root = tmp_path_factory.mktemp("data")
    for name in ("queue_b",):
        for i in range(24):
            data_fixtures.image(root / name / "light" / f"{i}.png", (40, 40), f"#{200 + 2 * i:02x}c8c8")
            data_fixtures.image(root / name / "dark" / f"{i}.png", (40, 40), f"#{20 + 2 * i:02x}2020")
    return root


@pytest.fixture(scope="module")
def server(runs_dir, data_dir, shared_cache):
    port = _free_port()
    env = {**os.environ, "TLDASH_OFFLINE": "1", "TLDASH_RUNS_DIR": str(runs_dir), "TLDASH_DATA_DIR": str(data_dir),
           "TLDASH_CACHE_DIR": str(shared_cache)}
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
