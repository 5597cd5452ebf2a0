"""Backbone transfer, regression: a grafted head predicting a number, frozen vs unfrozen backbone."""

import numpy as np
import streamlit as st

from core import plots, tasks
from core.data import catalogue
from core.data.types import open_image
from core.metrics import regression
from core.studies import index
from ui import comparison_view as view
from ui import figures, seeds_view, training
from ui.settings import KEEP

PREFIX = "reg"


def sample_id(point: dict) -> int | None:
    """The dataset index carried as a clicked point's customdata (plotly may send it as a list or a dict)."""
    data = point.get("customdata")
    if isinstance(data, dict):
        data = next(iter(data.values()), None)
    values = np.ravel(data) if data is not None else []
    return int(values[0]) if len(values) else None
TASK = "regression"

st.title("Backbone transfer: regression")
figures.intro("The age study grafted an MLP head (512→256→32→1, GELU) on ImageNet backbones and trained it with an "
            "L1 loss, backbone frozen or not. Offline, the target is a cartoon face's **fatness** (0 to 1): "
            "**a stand-in for age**, exact because the faces are generated. Bring UTKFace (a folder of "
            "`age_gender_race_date.jpg`) on the Datasets page to predict real ages.")

choice = training.training_sidebar(TASK, PREFIX)
if choice.data is not None:
    t = choice.data.targets
    figures.note(f"**{choice.dataset}** · {len(t):,} images · {figures.counted(choice.data.counts())} · "
               f"{choice.data.target_name} from {t.min():.2f} to {t.max():.2f}, mean {t.mean():.2f}")
result, runs, names = view.compared_runs(PREFIX, TASK, choice)

view.metrics_section(PREFIX, result, runs, names, list(tasks.get(TASK).metrics),
                    "Pearson's r and Spearman's ρ between predicted and actual; MAE in the target's units.",
                    "same test images, paired bootstrap")
seeds_view.section(index.get(TASK), choice.dataset, PREFIX)

st.subheader("Predicted against actual")
st.caption("Click a point to see its image.")
points = result.extra["points"]
columns = st.columns(len(points))
values = np.concatenate([np.r_[p["true"], p["pred"]] for p in points.values()])
pad = 0.05 * (np.ptp(values) or 1.0)
span = [float(values.min() - pad), float(values.max() + pad)]  # one scale for every panel
picked = None
for i, ((variant, p), col) in enumerate(zip(points.items(), columns, strict=True)):
    true, pred = np.array(p["true"]), np.array(p["pred"])
    fig = plots.scatter_figure({names[variant]: (true, pred)}, {names[variant]: regression.evaluate(true, pred)},
                               ids={names[variant]: np.array(p["index"])})
    fig.update_layout(height=460, xaxis_range=span, yaxis_range=span)
    event = figures.show(fig, f"{PREFIX}.scatter.{i}", "predicted_vs_actual", where=col, on_select="rerun",
                         selection_mode="points")
    selected = event.selection.points if event and event.selection else []
    if selected:
        picked = sample_id(selected[0]) if sample_id(selected[0]) is not None else picked

if picked is not None:
    data = catalogue.labelled(choice.dataset)
    left, right = st.columns([1, 3])
    left.image(open_image(data.images[picked]), width=160)
    preds = {names[v]: p["pred"][p["index"].index(picked)] for v, p in points.items() if picked in p["index"]}
    right.markdown(f"**Image {picked}** · actual {data.target_name} **{data.targets[picked]:.2f}**")
    right.dataframe({"variant": list(preds), "predicted": [round(v, 3) for v in preds.values()],
                     "error": [round(v - float(data.targets[picked]), 3) for v in preds.values()]}, hide_index=True)

st.subheader("Learning curves")
metric = st.radio("Metric", ["pearson", "spearman", "MAE"], horizontal=True, key=f"{PREFIX}.curve_metric", **KEEP)
view.learning_curves(result, names, metric, PREFIX)
