"""Backbone transfer, classification: scratch vs frozen vs fine-tuned (and more strategies) on one set."""

import numpy as np
import streamlit as st

from core import plots
from core.metrics import classification
from ui import sidebar
from ui import transfer_lab as lab
from ui.export import export_buttons

PREFIX = "cls"
TASK = "classification"

st.title("Backbone transfer: classification")
st.markdown("What does a pretrained backbone buy on a small, imbalanced set? Train the same network **from "
            "scratch**, **frozen** (only a new head learns) and **fine-tuned**, or any other freeze strategy from "
            "the sidebar, and compare them on the same test images. The default set is the KITTI study's imbalance "
            "(2074 / 303 / 122) on three Fashion-MNIST classes.")

choice = lab.sidebar(TASK, PREFIX)
if choice.data is not None:
    counts = choice.data.class_counts()
    st.caption(f"**{choice.dataset}** · {len(choice.data.images):,} images · splits {choice.data.counts()} · "
               "classes " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
lab.training_controls(PREFIX, choice, force_cpu=bool(st.session_state.get(sidebar.FORCE_CPU)))
lab.live(PREFIX, TASK)

runs = lab.pick_runs(PREFIX, TASK, choice.dataset)
if not runs:
    st.info("No finished runs on this dataset yet: train one with the buttons above (the default three take about "
            "a minute on 2 CPU cores), or run `python -m core.experiments classification`.")
    st.stop()
try:
    result, names = lab.comparison(tuple(r.id for r in runs), TASK, choice.dataset, str(lab.RunStore().folder))
except ValueError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

classes = result.extra["classes"]
st.subheader(f"Test split · {result.extra['test_samples']:,} images")
table = lab.metric_table(result, names, ["mCA", "mF1", "mPrecision", "mRecall", *[f"acc/{c}" for c in classes]])
st.dataframe(table, hide_index=True)
st.caption("Mean class accuracy (mCA) averages each class's accuracy, so the rare classes count as much as the "
           "common one. Brackets: 95% bootstrap CI over test images.")
export_buttons(plots.table_figure(table), "classification-metrics", f"{PREFIX}.table.export")
with st.expander("Settings of these runs"):
    st.dataframe(lab.settings_table(runs, names, result), hide_index=True)
if result.comparisons:
    st.markdown("**Against scratch** (same test images; paired bootstrap of mCA, McNemar on accuracy)")
    st.dataframe(lab.comparisons_table(result, names), hide_index=True)

st.subheader("Confusion matrices")
normalised = st.toggle("Row shares", value=True, key=f"{PREFIX}.normalised",
                       help="Each true class sums to 100%; off: counts")
matrices = {names[v]: classification.from_confusion(np.array(cm), classes)
            for v, cm in result.extra["confusion"].items()}
fig = plots.confusion_figure(matrices, normalised)
fig.update_layout(height=380)
st.plotly_chart(fig, key=f"{PREFIX}.confusion")
export_buttons(fig, "confusion", f"{PREFIX}.confusion.export")

st.subheader("Learning curves")
metric = st.radio("Metric", ["accuracy", "mCA", "macro_f1"], horizontal=True, key=f"{PREFIX}.curve_metric")
lab.learning_curves(result, names, metric, PREFIX)
