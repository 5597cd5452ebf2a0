"""Home-page tiles on an empty runs folder: every study says what is missing and how to fill it, without scoring
anything (the tiles with numbers are checked against the pages' evidence in tests/test_talk.py)."""

import torch

from core.engine.store import RunStore
from core.experiments import headlines


def test_an_empty_store_gives_a_tile_per_study_that_says_how_to_fill_it(tmp_path):
    store = RunStore(tmp_path)
    queued = store.create("regression", "resnet18/frozen", "regression", {"strategy": "frozen"})
    tiles = headlines.tiles(store, torch.device("cpu"))
    assert [t.study for t in tiles] == [s.title for s in headlines.STUDIES] and all(t.empty for t in tiles)
    by_title = {t.study: t for t in tiles}
    assert "1 queued or running" in by_title["Transfer: regression"].missing  # the queued run meant for the page
    assert "python -m core.runs prepare" in by_title["Face detection"].missing
    assert queued
