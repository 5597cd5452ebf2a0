"""Each page's time to its main result in Chromium, as a presenter opens it after `make prepare`: the app served on a
prepared runs folder, each study page opened in presentation mode at 1280 × 720 until its evidence (the key figure
and a Δ with its CI) is on screen, the Home page until every tile has its numbers. Cold: the first visit after the
server starts (nothing in its memory; the evidence the workers kept on disk); warm: a second visit in a new tab of the
same browser."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.studies import index

ROOT = Path(__file__).resolve().parents[1]
STUDY_PAGES = tuple(s.name for s in index.STUDIES if s.scores is not None)  # each opens on its evidence
DELTA = re.compile(r"^[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]$")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(folder: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "TLDASH_RUNS_DIR": folder, "TLDASH_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


def _open_and_wait(page, url: str, name: str, selector: str | None = None) -> None:
    """Open a page in presentation mode and wait for its main result: a study page's evidence (figure and a Δ with
    its CI), Home's tiles with their numbers, else the selector."""
    page.goto(f"{url}/{'' if name == 'home' else name}?app.presentation=true")
    if name == "home":
        page.locator("[class*=st-key-tile-]").first.wait_for()
        page.wait_for_function("() => [...document.querySelectorAll('[class*=st-key-tile-]')].every(t => "
                               "t.innerText.includes('Δ') || t.innerText.includes('No finished run'))")
    elif name in STUDY_PAGES:
        hero = page.locator(f".st-key-hero-{name}")
        hero.locator(".js-plotly-plot, img.hero-figure").first.wait_for()
        hero.locator("table.hero td").filter(has_text=DELTA).first.wait_for()
    elif selector:
        page.locator(selector).first.wait_for()


def _open(context, url: str, name: str) -> float:
    """Seconds from asking for the page to its main result on screen, in a new tab of the presenter's browser."""
    page = context.new_page()
    page.set_default_timeout(300_000)
    start = time.perf_counter()
    _open_and_wait(page, url, name)
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def run(folder: str) -> dict:
    """{"cold": {page: s}, "warm": {page: s}} on the prepared runs folder."""
    from playwright.sync_api import sync_playwright

    proc, url = _serve(folder)
    found: dict = {"cold": {}, "warm": {}}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1280, "height": 720})  # one browser, a tab per visit
            for name in ("home", *STUDY_PAGES):
                found["cold"][name] = _open(context, url, name)
            for name in ("home", *STUDY_PAGES):
                found["warm"][name] = _open(context, url, name)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
    return found


def markdown(found: dict | None) -> list[str]:
    if not found:
        return []
    lines = ["", "Each page's time to its main result after it, in Chromium at 1280 × 720 in presentation mode "
             "(cold: the first visit after the server started; warm: a second visit in a new tab; targets 10 s and "
             "3 s):", "", "| page | cold s | warm s |", "|---|---:|---:|"]
    lines += [f"| {name} | {found['cold'][name]:.1f} | {found['warm'][name]:.1f} |" for name in found["cold"]]
    return lines
