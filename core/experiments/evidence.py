"""What one study's slides say, gathered from the runs on disk: nothing is trained here.

Every study is read the same way (core.engine.study.Study): the settings it compares (`--seeds N` repeats them,
`prepare` trains them with seed 0), their finished runs grouped as replicates, scored on the test split and compared
by the across-seed Comparison (core.experiments.seeds: one seed is the image bootstrap, several count training
randomness too). The slides then need only the study's question, its key figure and the original study's numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import torch

from core import plots, tasks
from core.data import catalogue
from core.data.types import DataError
from core.engine import replicates
from core.engine.store import LIVE, RunStore
from core.engine.study import Published, Study
from core.experiments import seeds as across
from core.experiments.verdicts import strength
from core.metrics.paired import N_BOOT_LIVE
from core.weights import WeightsUnavailable

OTHER_SETTINGS = 4  # settings shown, the newest, when none of the study's compared settings has a finished run
PREPARE_HINT = "`python -m core.runs prepare` (`make prepare`) trains its compared settings"


@dataclass(frozen=True)
class Evidence:
    """One study's slides, in words, tables and one figure; `missing` says why there is nothing to show."""

    study: str  # its name: "face_detection"
    title: str
    question: str
    setup: list[tuple[str, str]] = field(default_factory=list)  # (label, text): data, variants, training, device, seeds
    figure: go.Figure | None = None
    figure_title: str = ""
    variants: pd.DataFrame | None = None  # variant, the headline metric with its 95% CI, seeds
    deltas: pd.DataFrame | None = None  # one row per comparison on the headline metric
    verdicts: list[str] = field(default_factory=list)
    headline: dict | None = None  # the summary slide's row: comparison, metric, delta, ci95, verdict
    published: tuple[Published, ...] = ()
    problems: list[str] = field(default_factory=list)  # runs that could not be scored, and why
    missing: str = ""

    @property
    def ready(self) -> bool:
        return not self.missing

    def notes(self) -> str:
        """Speaker notes: the verdicts in full and what was left out."""
        lines = [self.question, *self.verdicts, *self.problems]
        return "\n".join(x for x in lines if x)


def _data_line(dataset: str) -> str:
    entry = catalogue.entries().get(dataset)
    return f"{dataset}: {entry.content} ({entry.source})" if entry else dataset


def _setup(study: Study, result: across.SeedComparison, reps: dict, device: torch.device) -> list[tuple[str, str]]:
    trained = {n: v for n, v in result.variants.items() if v["runs"]}
    epochs = sorted({str(r.config.get("epochs")) for r in reps.values() if r.config.get("epochs") is not None})
    lines = [("Data", _data_line(result.dataset)),
             ("Variants", "; ".join(f"{n} ({v['count']})" for n, v in result.variants.items())),
             ("Training", (f"{' / '.join(epochs)} epochs; " if epochs else "") + "every variant on the same split, "
              "scored on the same test items")]
    backbones = sorted({str(r.config.get("backbone")) for r in reps.values() if r.config.get("backbone")})
    if backbones:
        lines.append(("Backbone", ", ".join(backbones)))
    seconds = [float(r.seconds or r.metrics.get("seconds") or 0) for r in reps.values()]
    took = f"{min(seconds):,.0f} to {max(seconds):,.0f} s" if len(seconds) > 1 else f"{seconds[0]:,.0f} s"
    lines.append(("Cost", f"training took {took} per run on this machine; scored on {device.type}"
                  if any(seconds) else f"scored on {device.type}"))
    seeds = sorted({s for v in trained.values() for s in v["seeds"]})
    lines.append(("Seeds", f"{', '.join(map(str, seeds))}" + (" (one training run per variant: its CI counts the "
                                                             "test items only)" if result.single_seed else
                                                             " (CIs over seeds and test items)")))
    return lines


def _tables(study: Study, result: dict, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    name = tasks.label(metric)
    variants = pd.DataFrame([{"variant": n, f"{name} [95% CI]": across.cell(v["mean"].get(metric),
                                                                              *v["ci95"].get(metric, (None, None)),
                                                                              metric),
                              "seeds": v["count"]} for n, v in result["variants"].items() if metric in v["mean"]])
    compared = [c for c in result["comparisons"] if c["metric"] == metric]
    several = any(min(c["n_seeds"]) > 1 for c in compared)  # P(A better) over seeds means nothing with one seed
    deltas = pd.DataFrame([{"comparison": f"{c['a']} − {c['b']}",
                            f"Δ {name} [95% CI]": across.cell(c["delta"], *c["ci95"], metric, sign="+"),
                            "verdict": strength(c["delta"], tuple(c["ci95"]), metric in study.lower_is_better),
                            **({"P(better) over seeds [95% CI]": across.share(c["p_better"], c["p_better_ci95"])}
                               if several else {})} for c in compared])
    return variants, deltas


def _headline(study: Study, result: dict, verdicts: list[str], metric: str) -> dict | None:
    """The summary slide's row: the study's default variant against the first listed (the untrained or scratch
    baseline), else the first comparison."""
    ranked = list(zip([c for c in result["comparisons"] if c["metric"] == metric], verdicts, strict=False))
    if not ranked:
        return None
    first = next(iter(result["variants"]))
    default = across.label_of(study.defaults()[0]) if study.defaults() else ""
    c, verdict = next(((c, v) for c, v in ranked if c["b"] == first and c["a"].startswith(default or "\0")),
                      ranked[0])
    return {"comparison": f"{c['a']} − {c['b']}", "metric": metric, "delta": c["delta"], "ci95": c["ci95"],
            "verdict": verdict, "in_words": strength(c["delta"], tuple(c["ci95"]), metric in study.lower_is_better),
            "seeds": c["n_seeds"]}


def _figure(study: Study, reps: dict, groups: list, result: across.SeedComparison, metric: str,
            device: torch.device) -> tuple[go.Figure | None, str, list[str]]:
    """The study's key figure, else the validation curves of its replicates, else each seed's value."""
    problems: list[str] = []
    if study.figure is not None and reps:
        try:
            return study.figure(reps, result.dataset, device), study.figure_title, problems
        except (ValueError, OSError, KeyError, DataError, WeightsUnavailable) as exc:
            problems.append(f"The key figure could not be drawn: {exc}")
    curve_metric, curves = across.curves(study, groups)
    if curve_metric in study.metrics and curves and any(len(x[0]) > 1 for by_seed in curves.values() for x in by_seed.values()):
        several = any(len(by_seed) > 1 for by_seed in curves.values())
        return plots.replicate_curves_figure(curves, curve_metric), f"Validation {tasks.label(curve_metric)} per epoch" + (
            " (line: median over seeds; band: their range)" if several else ""), problems
    js = result.as_json()
    if js["variants"]:
        return plots.seeds_figure(js["variants"], metric), f"{tasks.label(metric)} on the test split: each seed " \
            "(dot), the mean (◆) and its 95% CI", problems
    return None, "", problems


def gather(study: Study, store: RunStore, device: torch.device, n_boot: int = N_BOOT_LIVE,
           only: frozenset[str] = frozenset()) -> Evidence:
    """One study's evidence from its finished runs: the runs of its compared settings, or, when `only` names some of
    its runs, those alone, grouped by their settings (ValueError never escapes: a study that cannot be shown gets
    `missing`, with the reason)."""
    base = Evidence(study.name, study.title, study.question, published=study.published)
    if study.scores is None:
        return _missing(base, f"{study.title} has no comparison across runs yet.")
    runs = [r for r in store.list() if r.experiment == study.name]
    cfgs = across.settings_for(study)
    picked = [r for r in runs if r.id in only]
    groups = replicates.groups(study, picked) if picked else across.groups_for(study, cfgs, runs)
    done = [g for g in groups if g.done]
    dataset = getattr(cfgs[0], "dataset", None) or study.default_dataset
    if not done and not picked:  # none of its compared settings has run here: the newest settings that have
        on_set = [r for r in runs if r.status == "done" and r.config.get("dataset", dataset) == dataset]
        done = [g for g in replicates.groups(study, on_set) if g.done][-OTHER_SETTINGS:]
    if not done:  # before the untrained reference is scored: nothing to set it against
        live = [r for g in groups for r in g.live] + [r for r in runs if r.status in LIVE]
        why = (f"No finished run of {study.title} yet: {len({r.id for r in live})} queued or running, for this "
               "comparison or another; this page fills when they finish." if live else
               f"No finished run of {study.title} yet: {PREPARE_HINT}.")
        return _missing(base, why)
    try:
        untrained = study.untrained(dataset, device)
    except (ValueError, OSError, DataError, WeightsUnavailable) as exc:
        untrained, note = {}, f"The untrained reference could not be scored: {exc}"
    else:
        note = ""
    try:
        result = across.compare(study, done, dataset, device, untrained, n_boot)
    except (ValueError, OSError, DataError, WeightsUnavailable) as exc:
        return _missing(base, f"{study.title} could not be scored: {exc}")
    problems = [f"{name}: not counted: {'; '.join(why)}" for name, why in result.failed.items()] + \
        ([note] if note else [])
    js = result.as_json()
    if not js["variants"]:
        return _missing(base, f"No run of {study.title} could be scored.", problems)
    metric = next((m for m in study.metrics if all(m in v["mean"] for v in js["variants"].values())),
                  next(iter(next(iter(js["variants"].values()))["mean"])))
    names = across.names(done)
    reps = {n: g.done[0] for n, g in zip(names, done, strict=True) if n in result.variants}
    figure, figure_title, more = _figure(study, reps, done, result, metric, device)
    variants, deltas = _tables(study, js, metric)
    verdicts = across.verdicts(js, study)
    return Evidence(study.name, study.title, study.question, _setup(study, result, reps, device), figure,
                    figure_title, variants, deltas, verdicts, _headline(study, js, verdicts, metric),
                    study.published, problems + more)


def _missing(base: Evidence, why: str, problems: list[str] | None = None) -> Evidence:
    return Evidence(base.study, base.title, base.question, published=base.published, problems=problems or [],
                    missing=why)


def summary_rows(evidence: list[Evidence]) -> pd.DataFrame:
    """The closing slide: one row per study, its headline Δ with the CI, or why there is none."""
    rows = []
    for e in evidence:
        h = e.headline
        if h is None:
            rows.append({"study": e.title, "comparison": "–", "Δ [95% CI]": "–",
                         "verdict": "no finished run" if e.missing else "nothing to compare"})
            continue
        cell = across.cell(h["delta"], *h["ci95"], h["metric"], sign="+")
        trained = [n for n in h["seeds"] if n] or [1]
        rows.append({"study": e.title, "comparison": f"{h['comparison']} ({tasks.label(h['metric'])})", "Δ [95% CI]": cell,
                     "verdict": h["in_words"] + (f", over {min(trained)} seeds" if min(trained) > 1 else "")})
    return pd.DataFrame(rows, columns=["study", "comparison", "Δ [95% CI]", "verdict"])


VERSION = 4  # of the cached form below: a change to what gather() returns raises it, and old files are recomputed


def runs_key(study: Study, store: RunStore, device: torch.device, n_boot: int = N_BOOT_LIVE) -> str:
    """What a study's evidence depends on: its runs (each id and status), the device it is scored on, the
    resamples and this module's VERSION. A run that finishes, fails or is deleted changes it."""
    runs = sorted((r.id, r.status) for r in store.list() if r.experiment == study.name)
    text = json.dumps([VERSION, study.name, device.type, n_boot, runs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_folder(store: RunStore) -> Path:
    return store.folder / "cache" / "evidence"


def _frame(text: str | None) -> pd.DataFrame | None:
    return None if text is None else pd.read_json(io.StringIO(text), orient="split", dtype=False)


def to_json(e: Evidence) -> str:
    """The evidence as JSON (the figure as plotly JSON, the tables in pandas' split form); `published` comes from
    the study when read back."""
    return json.dumps({"study": e.study, "title": e.title, "question": e.question, "setup": e.setup,
                       "figure": e.figure.to_json() if e.figure is not None else None,
                       "figure_title": e.figure_title,
                       "variants": e.variants.to_json(orient="split", index=False) if e.variants is not None else None,
                       "deltas": e.deltas.to_json(orient="split", index=False) if e.deltas is not None else None,
                       "verdicts": e.verdicts, "headline": e.headline, "problems": e.problems, "missing": e.missing})


def from_json(text: str, study: Study) -> Evidence:
    d = json.loads(text)
    return Evidence(d["study"], d["title"], d["question"], [tuple(x) for x in d["setup"]],
                    pio.from_json(d["figure"]) if d["figure"] else None, d["figure_title"], _frame(d["variants"]),
                    _frame(d["deltas"]), d["verdicts"], d["headline"], study.published, d["problems"], d["missing"])


PNG_SIZE = (640, 330)  # the presentation hero's figure, drawn at twice this for a sharp projector image


def presented(fig: go.Figure) -> go.Figure:
    """The key figure as the hero shows it: a copy whose legend names the variants alone (their numbers are in the
    table beside it) and without a title (the caption under it says what it shows)."""
    fig = go.Figure(fig)
    for trace in fig.data:
        if trace.name:
            trace.name = trace.name.split(" (")[0]
    return fig.update_layout(title=None, margin=dict(t=30, b=10, l=10, r=10))


def figure_png(study: Study, store: RunStore, device: torch.device, e: Evidence,
               n_boot: int = N_BOOT_LIVE) -> bytes | None:
    """The evidence's figure as a PNG (presented, PNG_SIZE at 2×), kept beside the cached evidence while the study's
    runs stay as they are: a projector's page shows it without loading plotly.js first. None without a figure or
    without a Chrome to draw it (core.plots.export)."""
    path = cache_folder(store) / f"{study.name}-{runs_key(study, store, device, n_boot)}.png"
    with contextlib.suppress(OSError):
        return path.read_bytes()
    if e.figure is None or not plots.export_available():
        return None
    try:
        data = plots.export(plots.presenting(presented(e.figure)), "png", width=PNG_SIZE[0], height=PNG_SIZE[1],
                            scale=2)  # the projector's larger fonts
    except plots.FigureExportError:
        return None
    if path.with_suffix(".json").is_file():  # kept only beside evidence that is kept
        with contextlib.suppress(OSError):
            tmp = path.with_suffix(".png.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
    return data


def cached(study: Study, store: RunStore, device: torch.device, n_boot: int = N_BOOT_LIVE,
           compute: bool = True) -> Evidence | None:
    """gather(), kept on disk under the runs folder (cache/evidence) for as long as the study's runs stay as they
    are: a page opened after `prepare`, or in a fresh server, reads it in well under a second. compute=False: None
    when it is not on disk. A study with runs still queued or running is not kept (it changes soon)."""
    key = runs_key(study, store, device, n_boot)
    path = cache_folder(store) / f"{study.name}-{key}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return from_json(path.read_text(), study)
    if not compute:
        return None
    evidence = gather(study, store, device, n_boot)
    if not any(r.status in LIVE for r in store.list() if r.experiment == study.name):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in [*path.parent.glob(f"{study.name}-*.json"), *path.parent.glob(f"{study.name}-*.png")]:
                old.unlink(missing_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(to_json(evidence))
            tmp.replace(path)
    return evidence


__all__ = ["Evidence", "cached", "gather", "summary_rows"]
