"""The results that exist, one tile per study for the home page: each study's newest finished run of every
strategy, its headline number, and a small figure of it. Cheap: numbers the runs recorded, or the test outputs
they saved; no model runs and no bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from core import plots, registry
from core.engine.store import Run, RunStore
from core.engine.study import Study
from core.studies import index


@dataclass(frozen=True)
class Tile:
    study: str
    page: str  # the study's page, for a link
    metric: str  # what the numbers are, e.g. "test mCA"
    values: dict[str, float] = field(default_factory=dict)  # variant label -> headline number, best first
    figure: go.Figure | None = None

    @property
    def empty(self) -> bool:
        return not self.values

    def headline(self) -> str:
        """The best variant and its gain over the reference (pretrained or scratch, else the weakest):
        "**finetune 0.943**, +0.031 over scratch"."""
        (best, top), *rest = self.values.items()
        if not rest:
            return f"**{best} {top:.3f}**"
        ref = next((n for n in ("pretrained", "scratch") if n in self.values and n != best), rest[-1][0])
        return f"**{best} {top:.3f}**, {top - self.values[ref]:+.3f} over {ref}"


def _newest_by_strategy(runs: list[Run]) -> dict[str, Run]:
    newest: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: r.created):
        newest[str(run.config.get("strategy") or run.config.get("start") or "?")] = run
    return newest


def page(study: Study) -> str:
    """The study's page, for the tile's link (pages are named after the study)."""
    return f"app_pages/{study.name}.py"


def tile(study: Study, store: RunStore) -> Tile:
    headline = study.headline
    runs = [r for r in store.list("done") if r.experiment == study.name
            and r.config.get("dataset") in (None, study.default_dataset)]  # the tile speaks of the page's set
    values: dict[str, float] = {}
    colours: dict[str, str] = {}
    for strategy, run in _newest_by_strategy(runs).items():
        value = headline.value(run)
        if value is not None and np.isfinite(value):
            values[strategy] = float(value)
            colours[strategy] = plots.colour_of(registry.run_variant(run).name)
        label, key = headline.reference
        if label and label not in values and isinstance(run.metrics.get(key), float) \
                and np.isfinite(run.metrics[key]):
            values[label] = float(run.metrics[key])
            colours[label] = plots.colour_of(registry.BUILTIN[run.base_variant].name)
    ordered = dict(sorted(values.items(), key=lambda kv: kv[1], reverse=True))
    return Tile(study.title, page(study), headline.metric, ordered,
                _bars(ordered, colours, headline.metric) if ordered else None)


def _bars(values: dict[str, float], colours: dict[str, str], metric: str) -> go.Figure:
    """The headline numbers as a thumbnail: one bar per variant in its colour, the value on the bar."""
    names = list(values)[::-1]  # best on top
    fig = go.Figure(go.Bar(x=[values[n] for n in names], y=names, orientation="h",
                           marker_color=[colours[n] for n in names], text=[f"{values[n]:.3f}" for n in names],
                           textposition="inside", insidetextanchor="end", textfont=dict(color="white")))
    fig.update_layout(height=40 + 34 * len(names), xaxis=dict(rangemode="tozero", nticks=4),
                      margin=dict(l=10, r=10, t=10, b=10))
    return plots.finish(fig, legend=False).update_layout(margin=dict(t=5))


STUDIES = tuple(s for s in index.STUDIES if s.headline is not None)  # the studies with a tile


def tiles(store: RunStore | None = None) -> list[Tile]:
    store = store or RunStore()
    return [tile(s, store) for s in STUDIES]
