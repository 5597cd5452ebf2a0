"""Every test runs offline, with empty weight caches and its own run store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TLDASH_OFFLINE", "1")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TLDASH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TLDASH_FORCE_CPU", raising=False)
    return tmp_path
