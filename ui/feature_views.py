"""The feature-extraction page's views, one function each: the page draws its sidebar, then the chosen view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import plots
from core.data.types import LabelledImages
from core.engine.store import RunStore
from core.engine.strategies import STRATEGIES
from core.experiments import tables
from core.features import probe
from core.studies import index
from core.studies.feature_extraction import experiment as fe
from core.studies.feature_extraction import extract
from core.studies.feature_extraction import train as autoencoder
from core.studies.feature_extraction.extract import FeatureSource
from ui import feature_extraction as ui_fx
from ui import figures, jobs, seeds_view
from ui.settings import KEEP


@dataclass(frozen=True)
class Context:
    """What the sidebar chose, for every view."""

    dataset: str
    source_name: str  # the dataset's source, part of the caches' keys
    backbone: str
    size: int
    pool: str
    max_images: int
    runs_dir: str
    available: dict[str, FeatureSource]  # feature sources by label
    names: list[str]  # the labelled sets
    data: LabelledImages  # the set as probed (sampled down to max_images)


def probe_settings(key: str) -> probe.ProbeConfig:
    """Reduction and classifier widgets in one row: a ProbeConfig."""
    cols = st.columns(4)
    pca_mode = cols[0].radio("PCA", ["none", "components", "explained variance"], key=f"{key}.pca_mode", **KEEP)
    pca = 0.0
    if pca_mode == "components":
        pca = float(cols[0].number_input("Components", 1, 2048, 64, key=f"{key}.pca_n", **KEEP))
    elif pca_mode == "explained variance":
        pca = cols[0].slider("Variance kept", 0.50, 0.99, 0.90, 0.01, key=f"{key}.pca_var", **KEEP)
    classifier = cols[1].selectbox("Classifier", list(probe.CLASSIFIERS), key=f"{key}.clf", **KEEP,
                                   format_func=probe.CLASSIFIERS.get)
    c = cols[2].select_slider("C (inverse regularisation)", [0.001, 0.01, 0.1, 1.0, 10.0], value=1.0, key=f"{key}.C", **KEEP,
                              disabled=classifier == "knn")
    folds = cols[3].slider("Folds (k)", 2, 10, 5, key=f"{key}.folds", **KEEP)
    standardise = cols[3].toggle("Standardise", value=True, key=f"{key}.std", **KEEP)
    return probe.ProbeConfig(classifier, c, standardise, pca, folds)


def pipeline(c: Context) -> None:
    """Probe pipeline."""
    dataset, source_name, size, pool = c.dataset, c.source_name, c.size, c.pool
    max_images, runs_dir, available = c.max_images, c.runs_dir, c.available
    label = st.selectbox("Feature source", list(available), key="fx.source", **KEEP)
    source = available[label]
    layers = ui_fx.layer_picker(source, f"fx.layers.{source.backbone}")
    cfg = probe_settings("fx.probe")
    if st.button("Probe and add to the table", type="primary", key="fx.add", disabled=not layers):
        try:
            spec = fe.FeatureSpec(source, tuple(layers), pool, size)
            ui_fx.add_row(ui_fx.probed(dataset, source_name, spec, cfg, max_images, str(ui_fx.device()), runs_dir))
        except ui_fx.PROBLEMS as exc:
            st.error(str(exc))
    rows = st.session_state.get(ui_fx.ROWS, [])
    if not rows:
        st.info("Each probe adds a row: balanced accuracy, mean ± std over the folds, and each fold's score. "
                "Try the last block, then an inner one, then random init.")
        st.stop()
    table = ui_fx.rows_table(rows)
    picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                          key="fx.table")
    st.download_button("Table as CSV", table.to_csv(index=False).encode(), "feature_probes.csv", "text/csv",
                       key="fx.csv", icon=":material/download:")
    chosen = picked.selection.rows if picked else []
    if len(chosen) == 2:
        a, b = rows[chosen[0]], rows[chosen[1]]
        try:
            c = fe.compare(a, b)
            p = tables.p_value(c.p_value)
            st.markdown(f"**Row {chosen[0] + 1} − row {chosen[1] + 1}**: balanced accuracy {c.delta:+.3f} "
                        f"(95% CI {c.ci95[0]:+.3f} to {c.ci95[1]:+.3f}, p {p if p.startswith('<') else '= ' + p}), "
                        f"corrected resampled t-test over the same {a.cfg.folds} folds")
        except ValueError as exc:
            st.warning(str(exc))
    else:
        st.caption("Select two rows (tick their boxes) to compare them with the corrected resampled t-test, which "
                   "widens the naive paired t-test for the overlap of the folds' training sets.")
    if st.button("Clear the table", key="fx.clear"):
        st.session_state.pop(ui_fx.ROWS, None)
        st.rerun()


def layer_curve(c: Context) -> None:
    """Layer by layer."""
    dataset, source_name, backbone, size = c.dataset, c.source_name, c.backbone, c.size
    pool, max_images, runs_dir, available = c.pool, c.max_images, c.runs_dir, c.available
    picked = st.multiselect("Sources", [k for k, s in available.items() if s.backbone == backbone],
                            default=list(available)[:2] + [k for k in available if k.startswith("fine-tuned")][:1],
                            key="fx.curve.sources", **KEEP)
    cfg = probe.ProbeConfig(folds=st.slider("Folds (k)", 2, 10, 5, key="fx.curve.folds", **KEEP))
    if not picked:
        st.stop()
    try:
        frame = ui_fx.curve(dataset, source_name, tuple(available[k] for k in picked), cfg, size, pool, max_images,
                            runs_dir)
    except ui_fx.PROBLEMS as exc:
        st.error(str(exc))
        st.stop()
    fig = go.Figure()
    for name, part in frame.groupby("source", sort=False):
        fig.add_trace(go.Scatter(x=part.depth, y=part.balanced_accuracy, name=name, mode="lines+markers",
                                 line=dict(color=plots.colour_of(name)), customdata=part.layer,
                                 error_y=dict(type="data", array=part["std"], thickness=1),
                                 hovertemplate="%{customdata}: %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(xaxis_title="block (depth)", yaxis_title="balanced accuracy (k-fold mean ± std)", height=460)
    plots.finish(fig)
    figures.show(fig, "fx.curve", "layer_curve")
    best = frame.loc[frame.groupby("source", sort=False).balanced_accuracy.idxmax()]
    st.dataframe(best[["source", "layer", "depth", "balanced_accuracy", "std", "n_features"]].round(3),
                 hide_index=True)
    figures.explain("Each point: the block's output, pooled, under the default probe (standardise, linear SVM). The best "
               "block of each source is listed; it was picked on these folds, so its score is optimistic.")


def finetuning_changes(c: Context) -> None:
    """What fine-tuning changed."""
    dataset, source_name, backbone, size = c.dataset, c.source_name, c.backbone, c.size
    pool, max_images, runs_dir, data = c.pool, c.max_images, c.runs_dir, c.data
    runs = fe.finetuned_runs(backbone, RunStore())
    if not runs:
        st.info(f"No fine-tuned run of {backbone} yet. Start one below, or on a transfer page.")
    else:
        by_id = {r.id: r for r in runs}
        run = by_id[st.selectbox("Fine-tuned run", list(by_id), key="fx.cka.run", **KEEP, format_func=lambda i: (
            f"{i} · {by_id[i].config.get('strategy')} on {by_id[i].config.get('dataset')} · {by_id[i].status} after "
            f"{by_id[i].checkpoint_label}"))]
        try:
            table = ui_fx.cka_table(dataset, source_name, backbone, run.id, size, pool, max_images, runs_dir)
        except ui_fx.PROBLEMS as exc:
            st.error(str(exc))
            st.stop()
        left, right = st.columns(2)
        cka_fig = px.bar(table, x="layer", y="cka", range_y=[0, 1.02], height=420,
                         labels={"cka": "linear CKA: ImageNet vs fine-tuned", "layer": "block output"})
        cka_fig.update_traces(marker_color=plots.colour_of(run.id))
        cka_fig.update_layout(margin=dict(t=30))
        figures.show(cka_fig, "fx.cka", "cka_by_layer", where=left)
        trainable = fe.trainable_map(run)
        grid = trainable.pivot(index="block", columns="epoch", values="trainable").reindex(
            list(dict.fromkeys(trainable.block)))
        heat = px.imshow(np.log10(grid.to_numpy() + 1), x=[f"epoch {e}" for e in grid.columns], y=list(grid.index),
                         color_continuous_scale="Blues", aspect="auto", height=420,
                         labels={"color": "log10 trainable params"})
        heat.update_layout(margin=dict(t=30))
        figures.show(heat, "fx.trainable", "trainable_blocks", where=right)
        figures.explain(f"Left: CKA of each block's pooled features on the same {len(data.images):,} images of {dataset}, "
                   "1 = unchanged (up to rotation and scale). Right: which blocks the strategy "
                   f"**{run.config.get('strategy')}** let train in each epoch. Blocks that trained but keep CKA near 1 "
                   "moved little: a freeze there would have cost little.")
    with st.expander("Fine-tune this backbone on this dataset"):
        cols = st.columns(3)
        offered = [s for s in STRATEGIES if s != "scratch"]
        strategy = cols[0].selectbox("Strategy", offered, index=offered.index("finetune"), key="fx.tune.strategy", **KEEP)
        epochs = cols[1].slider("Epochs", 1, 10, 3, key="fx.tune.epochs", **KEEP)
        busy = jobs.current(ui_fx.TUNE_PREFIX) is not None
        if cols[2].button("Start", type="primary", disabled=busy, key="fx.tune.start"):
            ui_fx.start_finetune(dataset, backbone, strategy, epochs, size)
            st.rerun()
    ui_fx.job_status(ui_fx.TUNE_PREFIX, "fine-tuned backbone")  # outside the fold: a rerun does not hide it


def feature_space(c: Context) -> None:
    """Feature space."""
    dataset, source_name, size, pool = c.dataset, c.source_name, c.size, c.pool
    max_images, runs_dir, available = c.max_images, c.runs_dir, c.available
    cols = st.columns([2, 2, 1])
    with cols[0]:
        label = st.selectbox("Feature source", list(available), key="fx.map.source", **KEEP)
    source = available[label]
    with cols[1]:
        layer = ui_fx.layer_picker(source, f"fx.map.layer.{source.backbone}", multi=False)
    method = cols[2].radio("Map", list(fe.MAPS), key="fx.map.method", **KEEP, help="\n\n".join(
        f"{k}: {v}" for k, v in fe.MAPS.items()))
    try:
        frame, full = ui_fx.projected(dataset, source_name, fe.FeatureSpec(source, tuple(layer), pool, size), method,
                                      max_images, runs_dir)
    except ui_fx.PROBLEMS as exc:
        st.error(str(exc))
        st.stop()
    event = st.altair_chart(ui_fx.map_chart(frame), on_select="rerun", key="fx.map", width="content")
    points = event.selection.get("picked", []) if event else []
    st.caption(f"{len(frame)} images ({method} of the standardised features). Hover for the image, click a point "
               f"for its {ui_fx.NEIGHBOURS} nearest neighbours in the full feature space.")
    if points:
        position = int(points[0]["position"])
        picks = ui_fx.neighbours(frame, full, position)
        cols = st.columns(ui_fx.NEIGHBOURS + 1)
        cols[0].image(ui_fx.image_of(dataset, source_name, max_images, position), width="stretch",
                      caption=f"picked: {frame.loc[frame.position == position, 'class'].iloc[0]}")
        for col, (pos, cls, dist) in zip(cols[1:], picks, strict=False):
            col.image(ui_fx.image_of(dataset, source_name, max_images, pos), width="stretch",
                      caption=f"{cls} · {dist:.1f}")


def autoencoder_view(c: Context) -> None:
    """Autoencoder."""
    dataset = c.dataset
    st.markdown("A small convolutional autoencoder (three stride-2 stages, 16-32-64 channels) learns to rebuild "
                "this set's images, without labels. Its encoder's stages are then feature sources like a "
                "backbone's layers, in every view of this page and in the same results table.")
    cols = st.columns(3)
    epochs = cols[0].slider("Epochs", 1, 30, 8, key="fx.ae.epochs", **KEEP)
    ae_size = cols[1].select_slider("Image size", [16, 32, 48, 64], value=32, key="fx.ae.size", **KEEP)
    busy = jobs.current(ui_fx.AE_PREFIX) is not None
    if cols[2].button("Train", type="primary", disabled=busy, key="fx.ae.start"):
        ui_fx.start_autoencoder(autoencoder.AutoencoderConfig(dataset, ae_size, epochs))
        st.rerun()
    ui_fx.job_status(ui_fx.AE_PREFIX, "autoencoder")
    runs = fe.autoencoder_runs(RunStore())
    if runs:
        st.dataframe([{"run": r.id, "dataset": r.config.get("dataset"), "image size": r.config.get("image_size"),
                       "epochs": len(r.history), "status": r.status,
                       "val MSE": round(r.history[-1]["val_loss"], 4) if r.history else None} for r in runs],
                     hide_index=True)
        st.caption("Pick an autoencoder run as the feature source in Probe pipeline or Feature space.")
    seeds_view.section(index.get("feature_extraction"), dataset, "fx.ae")


def across_domains(c: Context) -> None:
    """Across domains."""
    size, pool, runs_dir, available = c.size, c.pool, c.runs_dir, c.available
    names = c.names
    pair_name = st.selectbox("Domains (same class names)", [*fe.DOMAIN_PAIRS, "two sets of your choice"],
                             key="fx.cdfg.pair", **KEEP)
    if pair_name == "two sets of your choice":
        cols = st.columns(2)
        pair = (cols[0].selectbox("Domain A", names, key="fx.cdfg.a", **KEEP), cols[1].selectbox("Domain B", names, index=1,
                                                                                       key="fx.cdfg.b", **KEEP))
    else:
        pair = fe.DOMAIN_PAIRS[pair_name]
    picked = st.multiselect("Feature extractors (at the last block)", list(available), default=list(available)[:2],
                            key="fx.cdfg.sources", **KEEP)
    cfg = probe.ProbeConfig(folds=st.slider("Folds (k) for the in-domain risk", 2, 10, 5, key="fx.cdfg.folds", **KEEP))
    specs = tuple(fe.FeatureSpec(available[k], (extract.default_layer(available[k].backbone),), pool, size)
                  for k in picked)
    if not specs:
        st.stop()
    try:
        table = ui_fx.cdfg_table(pair, specs, cfg, runs_dir)
    except ui_fx.PROBLEMS as exc:
        st.error(str(exc))
        st.stop()
    shown = table.drop(columns=["A", "B"]).round(3)
    st.dataframe(shown, hide_index=True, width="stretch")
    heat = px.imshow(shown.set_index("features")[["partial A→B", "partial B→A", "complete"]], text_auto=".3f",
                     color_continuous_scale="Reds", zmin=0, zmax=1, aspect="auto",
                     height=140 + 60 * len(shown), labels={"color": "CDFG"})
    heat.update_layout(margin=dict(t=30))
    figures.show(heat, "fx.cdfg.heat", "cdfg")
    figures.explain(f"A = {pair[0]}, B = {pair[1]}. Risk = 1 − balanced accuracy; R_A(f_A) by k-fold CV on A, R_B(f_A) by "
               "the probe fitted on all of A. Partial: |R_A(f_A) − R_B(f_A)|; complete: the mean of both directions. "
               "Lower generalises better.")


VIEWS = {"Probe pipeline": pipeline,
         "Layer by layer": layer_curve, "What fine-tuning changed": finetuning_changes,
         "Feature space": feature_space, "Autoencoder": autoencoder_view, "Across domains": across_domains}
