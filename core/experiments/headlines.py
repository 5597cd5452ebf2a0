"""The results that exist, one tile per study for the home page: the study's evidence (core.experiments.evidence,
the numbers its page opens on and the talk shows) in a few words: each variant's headline on the test split with
its 95% CI, the headline Δ with its CI, and the verdict word. Read from the evidence cache when the runs have not
changed (prepare writes it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from core import tasks
from core.engine.store import RunStore
from core.engine.study import Study
from core.experiments import evidence
from core.experiments import seeds as across
from core.studies import index


@dataclass(frozen=True)
class Tile:
    study: str
    page: str  # the study's page, for a link
    metric: str = ""  # what the numbers are: "AP on the test split"
    variants: list[tuple[str, str]] = field(default_factory=list)  # (variant, "0.878 [0.831, 0.923]"), as listed
    delta: str = ""  # "finetuned-pnet − pretrained: Δ +0.031 [-0.001, +0.060]"
    verdict: str = ""  # "no clear difference"
    missing: str = ""  # why there is no number yet

    @property
    def empty(self) -> bool:
        return not self.variants


def page(study: Study) -> str:
    """The study's page, for the tile's link (pages are named after the study)."""
    return f"app_pages/{study.name}.py"


def tile(study: Study, e: evidence.Evidence) -> Tile:
    if e.missing or e.variants is None or e.variants.empty:
        return Tile(study.title, page(study), missing=e.missing or "Nothing to compare yet.")
    value = next(c for c in e.variants.columns if c.endswith("[95% CI]"))
    metric = e.headline["metric"] if e.headline else study.headline.metric
    variants = [(str(v), str(x)) for v, x in zip(e.variants["variant"], e.variants[value], strict=True)]
    if e.headline is None:
        return Tile(study.title, page(study), f"{tasks.label(metric)} on the test split", variants)
    h = e.headline
    cell = across.cell(h["delta"], *h["ci95"], h["metric"], sign="+")
    return Tile(study.title, page(study), f"{tasks.label(h['metric'])} on the test split", variants,
                f"{h['comparison']}: Δ {cell}", h["in_words"])


STUDIES = tuple(s for s in index.STUDIES if s.headline is not None)  # the studies with a tile


def tiles(store: RunStore | None = None, device: torch.device | None = None) -> list[Tile]:
    store = store or RunStore()
    device = device or torch.device("cpu")
    return [tile(s, evidence.cached(s, store, device)) for s in STUDIES]
