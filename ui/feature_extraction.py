"""The feature-extraction page's Streamlit glue: feature sources, probes cached per setting, the results
table kept in the session, the 2-D map with thumbnails, and the autoencoder / fine-tuning jobs."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageOps

from core import numbers
from core.data import catalogue
from core.data.types import DataError, LabelledImages, open_image
from core.engine.loop import TrainConfig
from core.engine.store import RunStore
from core.engine.strategies import StrategyConfig
from core.features import probe, taps
from core.studies.feature_extraction import experiment as fe
from core.studies.feature_extraction import extract
from core.studies.feature_extraction import train as autoencoder
from core.studies.feature_extraction.extract import FeatureSource
from core.studies.transfer import train as transfer
from core.weights import WeightsUnavailable
from ui import jobs
from ui.settings import KEEP
from ui.sidebar import FORCE_CPU, device

PREFIX = "fx"
AE_PREFIX = "fx.ae"
TUNE_PREFIX = "fx.tune"
ROWS = "fx.rows"
MAP_POINTS = 600  # the 2-D map shows at most this many images (a stratified sample), each with a thumbnail
THUMB = 48
NEIGHBOURS = 8
PROBLEMS = (probe.ProbeError, taps.UnknownLayer, DataError, WeightsUnavailable, ValueError, KeyError)


@st.cache_resource(max_entries=8, show_spinner="Reading the dataset…")
def dataset(name: str, source: str) -> LabelledImages:
    return catalogue.labelled(name)


def sources(backbone: str) -> dict[str, FeatureSource]:
    """Every feature source for this backbone: ImageNet, random init, its fine-tuned runs, the autoencoder runs."""
    found = {"ImageNet weights": FeatureSource(backbone, "imagenet"), "random init": FeatureSource(backbone, "random")}
    store = RunStore()
    for run in fe.finetuned_runs(backbone, store):
        strategy = run.config.get("strategy", "?")
        found[f"fine-tuned run {run.id} ({strategy} on {run.config.get('dataset', '?')}, {run.status})"] = FeatureSource(
            backbone, run.id)
    for run in fe.autoencoder_runs(store):
        found[f"autoencoder run {run.id} ({run.config.get('dataset', '?')}, {run.status})"] = FeatureSource(
            extract.AUTOENCODER, run.id)
    return found


def layer_label(node: taps.Node) -> str:
    """"blocks.3 › blocks.3.add · 24 ch": the block first, so that the list reads grouped by block."""
    where = node.name if node.name == node.group or not node.group else f"{node.group} › {node.name}"
    return f"{where} · {node.channels} ch"


def layer_picker(source: FeatureSource, key: str, multi: bool = True) -> list[str]:
    """The source's layers in network order, labelled by block; the last block's output by default."""
    nodes = extract.layers_of(source.backbone)
    labels = {n.name: layer_label(n) for n in nodes}
    default = extract.default_layer(source.backbone)
    if st.session_state.get(key) and not set(np.atleast_1d(st.session_state[key])) <= set(labels):
        del st.session_state[key]  # the backbone changed: its layer names are not this one's
    if multi:
        return st.multiselect("Layers (fused by concatenation when several)", list(labels), default=[default],
                              key=key, **KEEP, format_func=labels.get,
                              help="Graph node names (torchvision feature_extraction), in network order; "
                                   "the number is the channels each gives before pooling")
    return [st.selectbox("Layer", list(labels), index=list(labels).index(default), key=key, **KEEP, format_func=labels.get)]


@st.cache_data(max_entries=64, show_spinner="Extracting features and fitting the probe on every fold…")
def probed(name: str, source: str, spec: fe.FeatureSpec, cfg: probe.ProbeConfig, max_images: int, device_name: str,
           runs_dir: str) -> fe.ProbeRow:
    return fe.probe_row(capped(name, source, max_images), spec, cfg, device(), RunStore(runs_dir))


def _capped(data: LabelledImages, max_images: int) -> LabelledImages:
    """The set reduced to a stratified sample of max_images (the probe's images; the rest are not read)."""
    keep = extract.sample(data, max_images)
    return replace(data, name=f"{data.name}[{max_images}]", images=[data.images[i] for i in keep],
                   targets=data.targets[keep], split=data.split[keep])


def capped(name: str, source: str, max_images: int) -> LabelledImages:
    data = dataset(name, source)
    return data if len(data.images) <= max_images else _capped(data, max_images)


def add_row(row: fe.ProbeRow) -> None:
    rows: list[fe.ProbeRow] = st.session_state.setdefault(ROWS, [])
    if all(r.as_dict() != row.as_dict() for r in rows):
        rows.append(row)


def rows_table(rows: list[fe.ProbeRow]) -> pd.DataFrame:
    frame = pd.DataFrame([r.as_dict() for r in rows])
    frame.insert(0, "#", range(1, len(rows) + 1))
    first = ["#", "features", "layers", "balanced_accuracy", "std", "folds", "n_features", "probe"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    frame["folds"] = frame["folds"].map(lambda f: " ".join(f"{v:.3f}" for v in f))
    for col in ("balanced_accuracy", "std"):
        frame[col] = frame[col].round(3)
    for col in ("extract_s", "fit_s"):
        frame[col] = frame[col].round(2)
    return frame


@st.cache_data(max_entries=16, show_spinner="Probing every block's output (features are cached on disk)…")
def curve(name: str, source: str, sources_: tuple[FeatureSource, ...], cfg: probe.ProbeConfig, size: int, pool: str,
          max_images: int, runs_dir: str) -> pd.DataFrame:
    return fe.layer_curve(capped(name, source, max_images), list(sources_), cfg, size, pool, device(),
                          RunStore(runs_dir))


@st.cache_data(max_entries=16, show_spinner="Comparing each block's features before and after fine-tuning…")
def cka_table(name: str, source: str, backbone: str, run_id: str, size: int, pool: str, max_images: int,
              runs_dir: str) -> pd.DataFrame:
    return fe.cka_by_layer(capped(name, source, max_images), backbone, run_id, size, pool, device(),
                           RunStore(runs_dir))


@st.cache_data(max_entries=16, show_spinner="Fitting on one domain, scoring on both…")
def cdfg_table(pair: tuple[str, str], specs: tuple[fe.FeatureSpec, ...], cfg: probe.ProbeConfig, runs_dir: str
               ) -> pd.DataFrame:
    return fe.cdfg_rows(pair, list(specs), cfg, device(), RunStore(runs_dir))


def _thumb_uri(ref: object) -> str:
    image = ImageOps.contain(open_image(ref), (THUMB, THUMB))
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@st.cache_data(max_entries=8, show_spinner="Projecting the features to 2-D…")
def projected(name: str, source: str, spec: fe.FeatureSpec, method: str, max_images: int, runs_dir: str
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """(one row per shown image: x, y, class, position, thumbnail; the standardised full features of those rows)."""
    data = capped(name, source, max_images)
    x, got = fe.features(spec, data, device(), RunStore(runs_dir))
    keep = extract.sample(replace(data, images=[data.images[i] for i in got.index], targets=got.targets),
                          MAP_POINTS)
    x = x[keep]
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    xy = fe.project(x, method)
    positions = got.index[keep]
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "class": [data.classes[t] for t in got.targets[keep]],
                          "image": [_thumb_uri(data.images[i]) for i in positions], "position": positions})
    return frame, x


def map_chart(frame: pd.DataFrame) -> alt.Chart:
    """A square scatter coloured by class; hovering shows the thumbnail (Vega's tooltip renders an "image" field),
    clicking selects the point."""
    pick = alt.selection_point(name="picked", fields=["position"], on="click")
    return alt.Chart(frame).mark_circle(size=60, opacity=0.8).encode(
        x=alt.X("x", axis=None), y=alt.Y("y", axis=None), color=alt.Color("class:N", legend=alt.Legend(orient="right")),
        tooltip=["image", "class", "position"],
    ).add_params(pick).properties(width=620, height=520)


def neighbours(frame: pd.DataFrame, x: np.ndarray, position: int) -> list[tuple[int, str, float]]:
    """(position, class, distance) of the NEIGHBOURS images nearest to one, in the full standardised space."""
    row = int(np.flatnonzero(frame.position.to_numpy() == position)[0])
    d = np.linalg.norm(x - x[row], axis=1)
    order = [i for i in np.argsort(d, kind="stable") if i != row][:NEIGHBOURS]
    return [(int(frame.position.iloc[i]), str(frame["class"].iloc[i]), float(d[i])) for i in order]


def image_of(name: str, source: str, max_images: int, position: int) -> Image.Image:
    return open_image(capped(name, source, max_images).images[position])


def start_autoencoder(cfg: autoencoder.AutoencoderConfig) -> None:
    jobs.queue_and_start(AE_PREFIX, lambda: [autoencoder.queue(cfg, RunStore())],
                         bool(st.session_state.get(FORCE_CPU)))


def start_finetune(dataset_name: str, backbone: str, strategy: str, epochs: int, size: int) -> None:
    cfg = TrainConfig(backbone=backbone, image_size=size, epochs=epochs, strategy=StrategyConfig(strategy))
    jobs.queue_and_start(TUNE_PREFIX, lambda: transfer.queue(dataset_name, [cfg], RunStore()),
                         bool(st.session_state.get(FORCE_CPU)))


def job_status(prefix: str, what: str) -> None:
    """A live line for this session's job under prefix: its phase, epoch and validation figure, and Stop."""
    def progress(job: jobs.Job) -> None:
        run, _ = jobs.running_run(job)
        epochs = int(run.config.get("epochs", 1))
        if run.history:
            last = run.history[-1]
            figure = ", ".join(f"{k} {numbers.text(v)}" for k, v in list(last["val"].items())[:2])
            st.progress(len(run.history) / epochs, text=f"Training the {what} (run {run.id}): epoch "
                                                        f"{len(run.history)} of {epochs} · validation {figure}")
        else:
            phase = run.metrics.get("phase", {}).get("name", "starting")
            st.info(f"Training the {what} (run {run.id}): {phase}…")
    jobs.panel(prefix, progress, stopped="Its last checkpoint is usable.")  # new runs are new sources: new cache keys
