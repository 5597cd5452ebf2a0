"""Repeat ×N: a config with N consecutive seeds, and the range N may take."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.metrics.hierarchical import MAX_SEEDS


def check_count(n: int) -> int:
    """N seeds for "Repeat ×N": 1 to MAX_SEEDS, else ValueError with the range."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SEEDS:
        raise ValueError(f"the number of seeds must be 1 to {MAX_SEEDS}, got {n}")
    return n


def seeded(cfg: Any, n: int) -> list[Any]:
    """The config with N consecutive seeds, its own first."""
    return [replace(cfg, seed=cfg.seed + k) for k in range(check_count(n))]
