"""Dataset loading: the cartoon detection set, read cold (fresh cache) and warm (cached)."""

from __future__ import annotations

import statistics
import time

from core.data import catalogue

REPEATS = 5


def cartoon_load() -> dict:
    cold, warm = [], []
    for _ in range(REPEATS):
        catalogue._load_cached.cache_clear()
        start = time.perf_counter()
        ds = catalogue.load("cartoon_faces/detection")
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        catalogue.load("cartoon_faces/detection")
        warm.append(time.perf_counter() - start)
    return {"dataset": "cartoon_faces/detection", "images": len(ds.samples), "repeats": REPEATS,
            "cold_s": statistics.median(cold), "warm_s": statistics.median(warm)}
