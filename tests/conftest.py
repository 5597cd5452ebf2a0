"""Every test runs offline, with empty weight caches and its own run store."""

from __future__ import annotations

import os

# One compute thread per worker process (and per app and trainer it starts): the suite runs one worker per core,
# and torch's default of a thread per core in every worker made them spin against each other (measured: 360 s
# with default threads against 212 s with one, on 2 cores). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TLDASH_OFFLINE", "1")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TLDASH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLDASH_FORCE_CPU", raising=False)
    return tmp_path


# the real-browser fixtures (a served app and Chromium, one of each per test module that uses them)
from tests.browser import browser, page, runs_dir, server  # noqa: E402, F401
