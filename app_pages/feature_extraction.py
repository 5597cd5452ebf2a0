"""Feature extraction: which layer of a CNN transfers, probed by a classifier under k-fold CV."""

import streamlit as st

from core.data import catalogue
from core.engine.store import RunStore
from core.features import taps
from core.models import backbones
from core.studies.feature_extraction import experiment as fe
from ui import feature_extraction as ui_fx
from ui import feature_views, figures, hero
from ui.settings import KEEP

st.title("Feature extraction: which layer transfers?")
figures.intro("Take a pretrained CNN, read its activations at a layer (or several, fused), pool them to one vector "
            "per image and fit a **linear SVM** on top under stratified k-fold cross-validation. Inner layers can "
            "beat the last one; random weights and an autoencoder trained on the images themselves are the "
            "baselines. Features are cached on disk, so a second probe of the same layer is quick.")

with st.sidebar:
    st.subheader("Features")
    names = catalogue.labelled_names("classification")
    dataset = st.selectbox("Dataset", names, index=names.index(fe.DEFAULT_DATASET), key="fx.dataset", **KEEP)
    offered = [b for b in sorted(backbones.BACKBONES) if backbones.available(b)]
    backbone = st.selectbox("Backbone", offered, index=offered.index(fe.DEFAULT_BACKBONE), key="fx.backbone", **KEEP,
                            help="Backbones whose ImageNet weights are on this machine (or downloadable)")
    size = st.select_slider("Image size (px)", [32, 48, 64, 96, 128, 160, 224], value=64, key="fx.size", **KEEP)
    pool = st.radio("Pooling", list(taps.POOLING), key="fx.pool", **KEEP, format_func=taps.POOLING.get)
    max_images = st.select_slider("Images (a stratified sample when the set is larger)", [200, 500, 1000, 2000],
                                  value=1000, key="fx.max_images", **KEEP)

hero.hero("feature_extraction")
source_name = catalogue.entries()[dataset].source
try:
    data = ui_fx.capped(dataset, source_name, max_images)
except ui_fx.PROBLEMS as exc:
    st.error(f"{dataset} cannot be read: {exc}")
    st.stop()
st.caption(f"**{dataset}** · {len(data.images):,} images used · classes "
           + ", ".join(f"{k} {v:,}" for k, v in data.class_counts().items()))
runs_dir = str(RunStore().folder)
available = ui_fx.sources(backbone)

views = list(feature_views.VIEWS)
view = st.segmented_control("View", views, default=views[0], key="fx.view", **KEEP, label_visibility="collapsed")
feature_views.VIEWS[view or views[0]](feature_views.Context(dataset, source_name, backbone, size, pool, max_images,
                                                            runs_dir, available, names, data))

