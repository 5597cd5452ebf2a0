"""Every test runs offline, with empty weight caches and its own run store."""

from __future__ import annotations

import os

# One compute thread per worker process (and per app and trainer it starts): the suite runs one worker per core,
# and torch's default of a thread per core in every worker made them spin against each other (measured: 360 s
# with default threads against 212 s with one, on 2 cores). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """Results kept on disk (a detector's cascades over the test split) that are the same for every test: one
    folder for all of this session's workers. Its files are named by a hash of their inputs and written whole, so
    a test reads a result only when its inputs are identical (tests/test_face_detection.py checks that)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch, shared_cache):
    monkeypatch.setenv("TLDASH_CACHE_DIR", str(shared_cache))
    monkeypatch.setenv("TLDASH_OFFLINE", "1")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TLDASH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLDASH_FORCE_CPU", raising=False)
    return tmp_path


# the real-browser fixtures (a served app and Chromium, one of each per test module that uses them)
from tests.browser import browser, data_dir, page, runs_dir, server  # noqa: E402, F401


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed real-browser test leaves a screenshot and the text of every page it had open in tests/artifacts, to see what
    the user would have seen."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "browser" not in item.funcargs:
        return
    from tests.browser import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for n, context in enumerate(item.funcargs["browser"].contexts):
        for m, pg in enumerate(context.pages):
            try:
                pg.screenshot(path=ARTIFACTS / f"failed-{item.name}-{n}-{m}.png", full_page=True, timeout=20_000)
                # the page scrolls inside its main pane, which a screenshot cuts: its whole text as well
                text = pg.locator("body").inner_text(timeout=20_000)
                (ARTIFACTS / f"failed-{item.name}-{n}-{m}.txt").write_text(text, encoding="utf-8")
                report.sections.append((f"page {n}-{m} text, its end ({pg.url})", text[-3000:]))  # shown by CI
            except Exception:  # noqa: BLE001 - a page that cannot be drawn any more: nothing to keep
                continue
