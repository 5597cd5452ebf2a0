"""The results that exist, one tile per study for the home page: each study's newest finished run of every
strategy, its headline number, and a small figure of it. Cheap: numbers the runs recorded, or the test outputs
they saved; no model runs and no bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from core import plots, registry, tasks
from core.experiments import transfer as tx
from core.metrics import classification, regression
from core.train.runstore import Run, RunStore


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


def _last_val(metric: str) -> Callable[[Run], float | None]:
    def value(run: Run) -> float | None:
        history = run.metrics.get("history") or []
        return history[-1].get("val", {}).get(metric) if history else None
    return value


def _test(task: str, metric: str) -> Callable[[Run], float | None]:
    def value(run: Run) -> float | None:
        try:
            o = tx.outcome(run)
        except ValueError:
            return None
        if task == "classification":
            labels = [str(c) for c in run.config.get("labels") or []]
            summary = classification.summary_of_counts(o.targets, o.predicted, labels)
            return float(summary(np.ones(len(o.targets), np.int64))[metric])
        return float(getattr(regression.evaluate(o.targets, o.predicted), metric))
    return value


@dataclass(frozen=True)
class Study:
    title: str
    page: str
    experiment: str
    metric: str
    value: Callable[[Run], float | None]
    lower_is_better: bool = False
    reference: tuple[str, str] = ("", "")  # (label, metrics key): a number the runs record for the pretrained model


STUDIES = (
    Study("Face detection", "app_pages/face_detection.py", "face_detection", "validation AP at IoU 0.3",
          lambda r: r.metrics.get("val_AP30"), reference=("pretrained", "val_AP30_pretrained")),
    Study("Face verification", "app_pages/face_verification.py", "face_verification", "validation AUC",
          _last_val("AUC")),
    Study("Object detection (YOLO)", "app_pages/object_detection.py", "object_detection", "validation AP50",
          _last_val("AP50")),
    Study("Transfer: classification", "app_pages/classification.py", "classification", "test mCA",
          _test("classification", "mCA")),
    Study("Transfer: regression", "app_pages/regression.py", "regression", "test Pearson r",
          _test("regression", "pearson")),
)


def _dataset(study: Study) -> str | None:
    """The study's default set: the tile speaks of it, as its page does on opening."""
    task = tasks.TASKS.get(study.experiment)
    return getattr(task, "default_dataset", None) or None


def tile(study: Study, store: RunStore) -> Tile:
    dataset = _dataset(study)
    runs = [r for r in store.list("done") if r.experiment == study.experiment
            and (dataset is None or r.config.get("dataset") in (None, dataset))]
    values: dict[str, float] = {}
    colours: dict[str, str] = {}
    for strategy, run in _newest_by_strategy(runs).items():
        value = study.value(run)
        if value is not None and np.isfinite(value):
            values[strategy] = float(value)
            colours[strategy] = plots.colour_of(registry.run_variant(run).name)
        label, key = study.reference
        if label and label not in values and isinstance(run.metrics.get(key), float) \
                and np.isfinite(run.metrics[key]):
            values[label] = float(run.metrics[key])
            colours[label] = plots.colour_of(registry.BUILTIN["mtcnn/pretrained"].name)
    ordered = dict(sorted(values.items(), key=lambda kv: kv[1], reverse=not study.lower_is_better))
    return Tile(study.title, study.page, study.metric, ordered, _bars(ordered, colours, study.metric) if ordered else None)


def _bars(values: dict[str, float], colours: dict[str, str], metric: str) -> go.Figure:
    """The headline numbers as a thumbnail: one bar per variant in its colour, the value on the bar."""
    names = list(values)[::-1]  # best on top
    fig = go.Figure(go.Bar(x=[values[n] for n in names], y=names, orientation="h",
                           marker_color=[colours[n] for n in names], text=[f"{values[n]:.3f}" for n in names],
                           textposition="inside", insidetextanchor="end", textfont=dict(color="white")))
    fig.update_layout(height=40 + 34 * len(names), xaxis=dict(rangemode="tozero", nticks=4),
                      margin=dict(l=10, r=10, t=10, b=10))
    return plots.finish(fig, legend=False).update_layout(margin=dict(t=5))


def tiles(store: RunStore | None = None) -> list[Tile]:
    store = store or RunStore()
    return [tile(s, store) for s in STUDIES]
