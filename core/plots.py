"""Results in, plotly figures out: one theme, one colour per variant; PNG and SVG export for slides."""

from __future__ import annotations

import os
import re
import shutil
import threading
import warnings
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from core import numbers, tasks
from core.metrics.classification import ClassificationResult
from core.metrics.detection import PRCurve, ap_coco101, best_f1, match_image
from core.metrics.regression import RegressionResult
from core.metrics.verification import VerificationResult
from core.models.outputs import Detections, TopK

TEMPLATE = "plotly_white"
VARIANT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#e377c2", "#17becf", "#bcbd22",
                   "#393b79", "#637939")  # no grey (reference lines), no brown (read as the red beside it)
MATCH_COLOURS = {"TP": "#2ca02c", "FP": "#d62728", "FN": "#ff7f0e"}
EXPORT_FORMATS = ("png", "svg")
EXPORT_TIMEOUT_S = 60


_RUN_TAIL = re.compile(r"[-…(][0-9a-f]*([0-9a-f]{4})\)?\s*(@.*)?$")
_colours: dict[str, str] = {}
_colours_lock = threading.Lock()


def colour(i: int) -> str:
    return VARIANT_COLOURS[i % len(VARIANT_COLOURS)]


def colour_key(name: str) -> str:
    """What a variant's colour hangs on: its run (the id's last four hex digits, and the checkpoint after "@") when
    the name carries one, so that "resnet18/finetune-…-ab12cd" and its short name "finetune (12cd)" agree; else
    the whole name."""
    m = _RUN_TAIL.search(name)
    return f"run {m[1]}{(m[2] or '').replace(' ', '')}" if m else name


def colour_of(name: str) -> str:
    """One colour per variant for the life of the app, on every page and figure: the colour its name hashes to,
    or, when another variant already has that one, the least used."""
    key = colour_key(name)
    with _colours_lock:
        if key not in _colours:
            used = list(_colours.values())
            preferred = VARIANT_COLOURS[zlib.crc32(key.encode()) % len(VARIANT_COLOURS)]
            _colours[key] = preferred if preferred not in used else min(VARIANT_COLOURS, key=used.count)
        return _colours[key]


def _diamond(name: str) -> dict:
    """The marker of a variant's chosen point (operating point, best F1, kept checkpoint)."""
    return dict(color=colour_of(name), size=12, symbol="diamond", line=dict(color="black", width=1))


def _trace_colour(trace: object) -> str | None:
    for part in ("line", "marker"):
        colour = getattr(getattr(trace, part, None), "color", None)
        if isinstance(colour, str):
            return colour
    return None


def distinct(fig: go.Figure) -> go.Figure:
    """No two variants of one figure in one colour: a variant (a legend group, else a named trace) whose colour an
    earlier one already has takes the first palette colour the figure does not use yet. colour_of is app-wide, so
    with more variants than colours two can share one; never on the same figure."""
    taken: dict[str, str] = {}  # colour -> the group that has it
    for trace in fig.data:
        group, colour = trace.legendgroup or trace.name, _trace_colour(trace)
        if not group or colour not in VARIANT_COLOURS:
            continue
        if taken.setdefault(colour, group) == group:
            continue
        free = next((c for c in VARIANT_COLOURS if c not in taken), None)
        if free is None:
            continue
        for t in fig.data:
            if (t.legendgroup or t.name) == group:
                for part in ("line", "marker"):
                    if getattr(getattr(t, part, None), "color", None) == colour:
                        getattr(t, part).color = free
        taken[free] = group
    return fig


def finish(fig: go.Figure, title: str = "", legend: bool = True) -> go.Figure:
    """The house layout: no empty band on top (a small top margin, more only for a title), the legend in a
    row above the plot, where it never covers an axis or a curve, and each variant in a colour of its own."""
    distinct(fig)
    fig.update_layout(template=TEMPLATE, title=title or None, margin=dict(t=50 if title else 10, r=20))
    if legend:
        fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"))
    return fig


def presenting(fig: go.Figure, scale: float = 1.6) -> go.Figure:
    """A copy of the figure for a projector: every font (ticks, axis titles, legend, annotations, cell text)
    scaled up, and table rows taller to hold it."""
    big = go.Figure(fig)
    size = lambda base: round(base * scale)  # noqa: E731
    big.update_layout(font=dict(size=size(12)), legend=dict(font=dict(size=size(12))))
    big.update_annotations(font_size=size(12))
    big.update_traces(textfont_size=size(12), selector=lambda t: t.type in ("heatmap", "bar", "scatter"))
    for t in big.data:
        if t.type == "table":
            t.header.font.size, t.cells.font.size = size(12), size(12)
            t.header.height, t.cells.height = size(28), size(28)
    if any(t.type == "table" for t in big.data) and big.layout.height:
        big.update_layout(height=round(big.layout.height * scale))
    return big


def topk_figure(result: TopK, title: str = "", name: str = "") -> go.Figure:
    """Horizontal bars of the top-k class probabilities, most probable on top, in the variant's colour."""
    fig = go.Figure(go.Bar(
        x=result.probs[::-1], y=result.labels[::-1], orientation="h", marker_color=colour_of(name or title),
        text=[f"{p:.1%}" for p in result.probs[::-1]], textposition="outside", textangle=0, cliponaxis=False,
    ))
    fig.update_layout(xaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability"), height=300)
    return finish(fig, title, legend=False)


def detections_figure(image: Image.Image, dets: Detections, title: str = "", name: str = "",
                      truth: np.ndarray | None = None, iou_threshold: float = 0.5) -> go.Figure:
    """The image with its boxes. Without truth, boxes take the variant's colour and show their score;
    with truth (M, 4), true positives, false positives and missed truths (FN, dashed) get their own colours."""
    fig = go.Figure(go.Image(z=np.asarray(image.convert("RGB"))))
    size = image.size
    placed: list[tuple[float, float, float, float]] = []  # label rectangles drawn so far: no label over another
    if truth is None:
        kinds = [None] * len(dets.boxes)
    else:
        match = match_image(dets.boxes, dets.scores, truth, iou_threshold)
        kinds = ["TP" if t else "FP" for t in match.is_tp]
        for box in np.asarray(truth).reshape(-1, 4)[~match.gt_matched]:
            _box(fig, box, size, MATCH_COLOURS["FN"], "FN", dash="dash", placed=placed)
    names = dets.classes or ("",) * len(dets.boxes)
    for i in np.argsort(-np.asarray(dets.scores, float), kind="stable"):  # the surest boxes get their labels first
        box, score, kind, name = dets.boxes[i], dets.scores[i], kinds[i], names[i]
        label = " ".join(x for x in (kind, name, f"{score:.2f}") if x)
        _box(fig, box, size, MATCH_COLOURS[kind] if kind else colour_of(name or title), label, placed=placed)
    fig.update_layout(template=TEMPLATE, title=title or None, margin=dict(l=0, r=0, t=40 if title else 0, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


LABEL_PX = 16  # a box label's height: a box nearer the top than this carries its label inside
LABEL_CHAR_PX = 7  # about one character's width at the labels' font, for keeping labels apart


def _box(fig: go.Figure, box: np.ndarray, size: tuple[int, int], line_colour: str, label: str,
         dash: str = "solid", placed: list | None = None) -> None:
    """A box drawn clipped to the image (a detector may return one that overhangs the border), so that the figure
    stays the image's size and side-by-side panels line up. Its label is left out where it would cover one already
    drawn (`placed`: their rectangles), so that labels never overprint; the box itself is always drawn."""
    w, h = size
    x1, x2 = (float(np.clip(v, 0, w)) for v in (box[0], box[2]))
    y1, y2 = (float(np.clip(v, 0, h)) for v in (box[1], box[3]))
    fig.add_shape(type="rect", x0=x1, y0=y1, x1=x2, y1=y2, line=dict(color=line_colour, width=3, dash=dash))
    inside = y1 < LABEL_PX
    rect = (x1, y1 if inside else y1 - LABEL_PX, x1 + LABEL_CHAR_PX * len(label), y1 + LABEL_PX if inside else y1)
    if placed is not None:
        if any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in placed):
            return
        placed.append(rect)
    fig.add_annotation(x=x1, y=y1, text=label, showarrow=False, yanchor="top" if inside else "bottom",
                       xanchor="left", font=dict(color="white", size=11), bgcolor=line_colour)


def pr_figure(curves: Mapping[str, PRCurve], ap: Mapping[str, float] | None = None,
              operating: Mapping[str, float] | None = None, ap_label: str = "AP") -> go.Figure:
    """PR overlay, one trace per variant, AP in the legend (COCO 101-point unless given), and each
    variant's operating point marked: at the given score threshold, or its best-F1 point."""
    fig = go.Figure()
    for name, curve in curves.items():
        value = ap[name] if ap is not None else ap_coco101(curve)
        envelope = np.maximum.accumulate(curve.precision[::-1])[::-1]
        fig.add_trace(go.Scatter(x=np.r_[0, curve.recall], y=np.r_[envelope[:1] if len(envelope) else [1], envelope],
                                 mode="lines", line=dict(color=colour_of(name), shape="hv", width=2.5),
                                 name=f"{name} ({ap_label} {value:.3f})", legendgroup=name))
        if operating is not None and name in operating and len(curve.scores):
            j = min(int(np.searchsorted(-curve.scores, -operating[name], side="right")) - 1, len(curve.scores) - 1)
            point = (curve.recall[max(j, 0)], curve.precision[max(j, 0)], operating[name])
        else:
            best = best_f1(curve)
            point = (best.recall, best.precision, best.threshold)
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", legendgroup=name, showlegend=False,
                                 marker=_diamond(name),
                                 hovertemplate=f"{name}<br>score ≥ {point[2]:.3f}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}"))
    fig.update_layout(xaxis=dict(title="recall", range=[0, 1.02]), yaxis=dict(title="precision", range=[0, 1.02]))
    return finish(fig)


def f1_figure(curves: Mapping[str, PRCurve]) -> go.Figure:
    """F1 against the score threshold, one trace per variant, the best-F1 point marked."""
    fig = go.Figure()
    for name, curve in curves.items():
        best = best_f1(curve)
        fig.add_trace(go.Scatter(x=curve.scores, y=curve.f1, mode="lines", line=dict(color=colour_of(name), width=2.5),
                                 name=f"{name} (best F1 {best.f1:.3f} at {best.threshold:.3f})", legendgroup=name))
        fig.add_trace(go.Scatter(x=[best.threshold], y=[best.f1], mode="markers", showlegend=False, legendgroup=name,
                                 marker=_diamond(name)))
    fig.update_layout(xaxis=dict(title="score threshold (keep detections scoring at least this)"),
                      yaxis=dict(title="F1", range=[0, 1.02]))
    return finish(fig)


def roc_figure(results: Mapping[str, VerificationResult]) -> go.Figure:
    """ROC overlay with AUC and EER in the legend, each EER point marked, chance diagonal dotted."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"), name="chance"))
    for name, r in results.items():
        fig.add_trace(go.Scatter(x=r.roc.fpr, y=r.roc.tpr, mode="lines", line=dict(color=colour_of(name), width=2.5),
                                 name=f"{name} (AUC {r.auc:.3f}, EER {r.eer:.3f})", legendgroup=name))
        fig.add_trace(go.Scatter(x=[r.eer], y=[1 - r.eer], mode="markers", showlegend=False, legendgroup=name,
                                 marker=dict(color=colour_of(name), size=11, symbol="x"), hovertemplate=f"{name} EER %{{x:.3f}}"))
    fig.update_layout(xaxis=dict(title="false accept rate", range=[0, 1]), yaxis=dict(title="true accept rate", range=[0, 1.02]))
    return finish(fig)


def scatter_figure(points: Mapping[str, tuple[np.ndarray, np.ndarray]], results: Mapping[str, RegressionResult],
                   unit: str = "", ids: Mapping[str, np.ndarray] | None = None) -> go.Figure:
    """Predicted against actual on equal axes (one unit is as long on both), one trace per variant with r and ρ
    in the legend, and the identity line. ids: each point's sample index, carried as customdata so a click can
    show its image."""
    fig = go.Figure()
    lo = min(float(np.min(np.r_[t, p])) for t, p in points.values())
    hi = max(float(np.max(np.r_[t, p])) for t, p in points.values())
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="grey", dash="dot"),
                             name="perfect"))
    for name, (y_true, y_pred) in points.items():
        r = results[name]
        custom = (ids or {}).get(name)
        fig.add_trace(go.Scatter(x=y_true, y=y_pred, mode="markers", marker=dict(color=colour_of(name), size=6, opacity=0.6),
                                 customdata=None if custom is None else np.asarray(custom).reshape(-1, 1),
                                 hovertemplate=None if custom is None else
                                 "image %{customdata[0]}<br>actual %{x:.3f}<br>predicted %{y:.3f}<extra></extra>",
                                 name=f"{name} (r {numbers.text(r.pearson)}, ρ {numbers.text(r.spearman)}, MAE {r.mae:.2f})"))
    suffix = f" ({unit})" if unit else ""
    pad = 0.03 * (hi - lo or 1.0)
    fig.update_layout(xaxis=dict(title=f"actual{suffix}", range=[lo - pad, hi + pad], constrain="domain"),
                      yaxis=dict(title=f"predicted{suffix}", range=[lo - pad, hi + pad], scaleanchor="x", scaleratio=1,
                                 constrain="domain"))
    return finish(fig)


def confusion_figure(results: Mapping[str, ClassificationResult], normalised: bool = True,
                     clickable: bool = False) -> go.Figure:
    """Confusion heatmaps side by side on one colour scale (row shares, or counts up to the largest cell).
    clickable: a transparent marker on every cell carries (variant, true, predicted) as customdata, so that a
    click on a cell can be read from the chart's selection."""
    names = list(results)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    top = 1.0 if normalised else float(max(r.confusion.max() for r in results.values()))
    for i, name in enumerate(names, start=1):
        r = results[name]
        z = r.confusion_normalised if normalised else r.confusion
        text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in z]
        fig.add_trace(go.Heatmap(z=z, x=r.class_names, y=r.class_names, zmin=0, zmax=top, colorscale="Blues",
                                 text=text, texttemplate="%{text}", showscale=i == len(names),
                                 hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"), row=1, col=i)
        if clickable:
            cells = [(t, p) for t in r.class_names for p in r.class_names]
            fig.add_trace(go.Scatter(x=[p for _, p in cells], y=[t for t, _ in cells], mode="markers", showlegend=False,
                                     marker=dict(size=40, opacity=0, symbol="square"),
                                     hovertemplate="true %{y}<br>predicted %{x}<br>click: these errors<extra></extra>",
                                     customdata=[[name, t, p] for t, p in cells]), row=1, col=i)
        fig.update_xaxes(title_text="predicted", row=1, col=i)
        fig.update_yaxes(title_text="true" if i == 1 else "", showticklabels=i == 1, autorange="reversed", row=1, col=i)
    return finish(fig, legend=False).update_layout(margin=dict(t=40))  # room for the subplot titles


def learning_curves_figure(history: pd.DataFrame, metric: str = "loss",
                           unfreeze: Mapping[str, Sequence[float]] | None = None) -> go.Figure:
    """Train (dashed) and validation (solid) curves per variant, a dotted vertical line where a variant
    unfroze layers. history: columns variant, epoch, split ("train"/"val"), and the metric."""
    for column in ("variant", "epoch", "split", metric):
        if column not in history:
            raise ValueError(f"history needs a column {column!r}; it has {list(history.columns)}")
    fig = go.Figure()
    for name, rows in history.groupby("variant", sort=False):
        for split, dash in (("train", "dash"), ("val", "solid")):
            part = rows[rows["split"] == split].sort_values("epoch")
            if len(part):
                fig.add_trace(go.Scatter(x=part["epoch"], y=part[metric], mode="lines+markers", legendgroup=name,
                                         line=dict(color=colour_of(name), dash=dash), name=f"{name} {split}"))
                mark_undefined(fig, part["epoch"], part.get(f"{metric}{numbers.WHY}"), colour_of(name),
                               f"{name} {split}")
        for epoch in (unfreeze or {}).get(name, []):  # named at the foot of the plot: the legend sits on top
            fig.add_vline(x=epoch, line=dict(color=colour_of(name), dash="dot"), annotation_text="unfreeze",
                          annotation_position="bottom right")
    fig.update_layout(xaxis=dict(title="epoch", dtick=1), yaxis=dict(title=metric))
    return finish(fig)


def mark_undefined(fig: go.Figure, x: Sequence, why: Sequence | None, colour: str, name: str) -> None:
    """Where a curve's value is undefined (NaN, e.g. Pearson's r of a constant prediction): no point, and no 0, but an
    × at the foot of the plot labelled "undefined", its reason on hover. why: the frame's column of reasons
    (numbers.why_columns), a string where the value was undefined; None when no value was."""
    if why is None:
        return
    gaps = [(xi, r) for xi, r in zip(x, why, strict=True) if isinstance(r, str) and r]
    if not gaps:
        return
    fig.add_trace(go.Scatter(
        x=[g[0] for g in gaps], y=[0.03] * len(gaps), yaxis="y2", mode="markers+text", text=["undefined"] * len(gaps),
        textposition="top center", textfont=dict(color=colour), legendgroup=name, showlegend=False,
        marker=dict(symbol="x-thin-open", size=12, color=colour, line=dict(width=2, color=colour)),
        hovertext=[f"{name}: undefined" + (f" ({r})" if r != numbers.UNDEFINED else "") for _, r in gaps],
        hoverinfo="text", name=f"{name} undefined"))
    fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True))


def table_figure(frame: pd.DataFrame, digits: int = 3) -> go.Figure:
    """A DataFrame as a plotly table, so that a metric table exports to PNG/SVG with the other figures."""
    cells = [[_cell(v, digits) for v in frame[c]] for c in frame.columns]
    fig = go.Figure(go.Table(header=dict(values=list(frame.columns), fill_color="#e8eef7", align="left"),
                             cells=dict(values=cells, align="left")))
    fig.update_layout(template=TEMPLATE, margin=dict(l=5, r=5, t=5, b=5), height=40 + 30 * (len(frame) + 1))
    return fig


def _cell(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def export_available() -> bool:
    """Whether a Chrome or Chromium for kaleido is installed (or named by BROWSER_PATH)."""
    if os.environ.get("BROWSER_PATH"):
        return os.path.exists(os.environ["BROWSER_PATH"])
    return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


class FigureExportError(RuntimeError):
    """A figure could not be turned into a file; the message says why."""


def export(fig: go.Figure, fmt: str, width: int = 1000, height: int = 600, scale: float = 2.0) -> bytes:
    """PNG or SVG bytes through kaleido, which drives an installed Chrome/Chromium (BROWSER_PATH to choose one).
    A figure that sets its own height (a table: its rows) keeps it, so the file has no empty space under it.

    Each export starts its own browser (about 2 s): kaleido's long-lived server waits forever for an answer when its
    browser failed to start, so it is not used. A browser that has not answered in EXPORT_TIMEOUT_S is given up on
    with FigureExportError."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {list(EXPORT_FORMATS)}")
    answer: dict[str, object] = {}

    def convert() -> None:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The kopts argument is ignored")  # plotly's, harmless
                answer["bytes"] = fig.to_image(format=fmt, width=width, height=fig.layout.height or height,
                                               scale=scale if fmt == "png" else 1)
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            answer["error"] = exc

    worker = threading.Thread(target=convert, daemon=True, name=f"export-{fmt}")
    worker.start()
    worker.join(EXPORT_TIMEOUT_S)
    if "bytes" in answer:
        return answer["bytes"]  # type: ignore[return-value]
    reason = answer.get("error") or f"the browser did not answer within {EXPORT_TIMEOUT_S} s"
    raise FigureExportError(f"Could not export the figure as {fmt.upper()}: {reason}")


def checkpoint_curves_figure(epochs: pd.DataFrame, kept: pd.DataFrame, metric: str = "AP50") -> go.Figure:
    """Per variant, ultralytics' validation metric after every epoch (line) and ours on the test split at each
    kept checkpoint (diamonds). epochs: columns variant, epoch, metric; kept: the same for the checkpoints."""
    fig = go.Figure()
    for name in dict.fromkeys([*epochs["variant"], *kept["variant"]]):
        e, k = epochs[epochs["variant"] == name], kept[kept["variant"] == name]
        fig.add_trace(go.Scatter(x=e["epoch"], y=e[metric], mode="lines", line=dict(color=colour_of(name), width=2.5),
                                 name=f"{name}: validation (ultralytics)", legendgroup=name))
        fig.add_trace(go.Scatter(x=k["epoch"], y=k[metric], mode="markers", legendgroup=name,
                                 marker=_diamond(name),
                                 name=f"{name}: test, kept checkpoints (ours)"))
    fig.update_layout(xaxis=dict(title="epoch", dtick=1), yaxis=dict(title=metric, rangemode="tozero"))
    return finish(fig)


def seeds_figure(variants: Mapping[str, Mapping], metric: str) -> go.Figure:
    """Each seed's value as a dot, per variant, with the mean (diamond) and its 95% CI over seeds and test items (bar):
    the across-seed table as a figure. variants: name -> the across-seed JSON's variant (per_seed, mean, ci95)."""
    fig = go.Figure()
    for name, v in variants.items():
        per_seed = v["per_seed"].get(metric, {})
        fig.add_trace(go.Scatter(x=[name] * len(per_seed), y=list(per_seed.values()), mode="markers",
                                 marker=dict(color=colour_of(name), size=10, opacity=0.55), name=f"{name}: seeds",
                                 text=[f"seed {s}" for s in per_seed], showlegend=False,
                                 hovertemplate="%{text}: %{y:.3f}<extra>" + name + "</extra>"))
        lo, hi = v["ci95"].get(metric, (None, None))
        mean = v["mean"].get(metric)
        if mean is not None and lo is not None and hi is not None:
            fig.add_trace(go.Scatter(x=[name], y=[mean], mode="markers", marker=_diamond(name), showlegend=False,
                                     error_y=dict(type="data", symmetric=False, array=[hi - mean],
                                                  arrayminus=[mean - lo], color=colour_of(name), width=8),
                                     hovertemplate=f"{name} mean %{{y:.3f}} [{lo:.3f}, {hi:.3f}]<extra></extra>"))
    fig.update_yaxes(title=tasks.label(metric))
    return finish(fig, f"{tasks.label(metric)}: each seed (dots), mean and 95% CI over seeds and test images",
                  legend=False)


def replicate_curves_figure(curves: Mapping[str, Mapping[str, tuple[list[int], list[float]]]], metric: str
                            ) -> go.Figure:
    """Each setting's replicates as a band: the median over seeds per epoch (line) and their range (shaded), each
    seed's own curve faint behind it, named on hover. curves: setting -> seed -> (epochs, values)."""
    fig = go.Figure()
    for name, by_seed in curves.items():
        colour = colour_of(name)
        for seed, (epochs, values) in by_seed.items():
            fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines", line=dict(color=colour, width=1),
                                     opacity=0.35, showlegend=False, legendgroup=name,
                                     hovertemplate=f"{name} · seed {seed}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"))
        frame = pd.DataFrame([(e, v) for epochs, values in by_seed.values() for e, v in zip(epochs, values, strict=True)],
                             columns=["epoch", "value"]).groupby("epoch")["value"]
        low, mid, high = frame.min(), frame.median(), frame.max()
        fig.add_trace(go.Scatter(x=[*high.index, *low.index[::-1]], y=[*high.values, *low.values[::-1]], fill="toself",
                                 fillcolor=colour, opacity=0.18, line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=list(mid.index), y=list(mid.values), mode="lines+markers", name=f"{name} (median)",
                                 line=dict(color=colour, width=2.5), legendgroup=name,
                                 hovertemplate=f"{name} median<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_xaxes(title="epoch", dtick=1)
    fig.update_yaxes(title=f"validation {metric}")
    return finish(fig)
