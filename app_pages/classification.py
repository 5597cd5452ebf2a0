"""Backbone transfer, classification: scratch vs frozen vs fine-tuned (and more strategies) on one set."""

import streamlit as st

from core import tasks
from core.studies import index
from ui import comparison_view as view
from ui import errors_view, figures, seeds_view, training
from ui.settings import KEEP

PREFIX = "cls"
TASK = "classification"

st.title("Backbone transfer: classification")
figures.intro("What does a pretrained backbone buy on a small, imbalanced set? Train the same network **from "
            "scratch**, **frozen** (only a new head learns) and **fine-tuned**, or any other freeze strategy from "
            "the sidebar, and compare them on the same test images. The default set is the KITTI study's imbalance "
            "(2074 / 303 / 122) on three Fashion-MNIST classes.")

choice = training.training_sidebar(TASK, PREFIX)
if choice.data is not None:
    counts = choice.data.class_counts()
    figures.note(f"**{choice.dataset}** · {len(choice.data.images):,} images · {figures.counted(choice.data.counts())} · "
               "classes " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
result, runs, names = view.compared_runs(PREFIX, TASK, choice)

classes = result.extra["classes"]
shown = [m for m in tasks.get(TASK).metrics if m != "mRecall"]  # the same number as mCA: shown once
view.metrics_section(PREFIX, result, runs, names, [*shown, *[f"acc/{c}" for c in classes]],
                    "Mean class accuracy (mCA) averages each class's accuracy, so the rare classes count as much as the "
                    "common one; it is the macro recall, so that column is not repeated.",
                    "same test images; paired bootstrap of mCA, McNemar on accuracy")
seeds_view.section(index.get(TASK), choice.dataset, PREFIX)

st.subheader("Confusion matrices")
errors_view.confusion(PREFIX, result, names)

st.subheader("Learning curves")
metric = st.radio("Metric", ["accuracy", "mCA", "macro_f1"], horizontal=True, key=f"{PREFIX}.curve_metric", **KEEP)
view.learning_curves(result, names, metric, PREFIX)

st.subheader("What did it get wrong?")
errors_view.gallery(PREFIX, result, names, choice.dataset)
