"""The classification page's "what did it get wrong" section: clickable confusion matrices, a gallery of one
variant's test errors (or what it fixed or broke against the baseline), and Grad-CAM of two variants on the
image picked from the gallery."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from core import plots
from core.data import catalogue
from core.data.types import open_image
from core.experiments import errors
from core.experiments.comparison import Comparison
from core.metrics import classification
from ui import explain_view, figures
from ui.settings import KEEP
from ui.sidebar import device

GALLERY = 12
ANY = "any"
SHOW = ("its errors", "fixed vs the baseline", "broken vs the baseline")


@st.cache_data(max_entries=256, show_spinner=False)
def _image(dataset: str, index: int) -> Image.Image:
    return open_image(catalogue.labelled(dataset).images[index]).convert("RGB")


def confusion(prefix: str, result: Comparison, names: dict[str, str]) -> None:
    """The variants' confusion matrices side by side; a click on a cell shows that cell's errors below."""
    classes = result.extra["classes"]
    normalised = st.toggle("Row shares", value=True, key=f"{prefix}.normalised", **KEEP,
                           help="Each true class sums to 100%; off: counts")
    matrices = {names[v]: classification.from_confusion(np.array(cm), classes)
                for v, cm in result.extra["confusion"].items()}
    fig = plots.confusion_figure(matrices, normalised, clickable=True)
    fig.update_layout(height=380)
    event = figures.show(fig, f"{prefix}.confusion", "confusion", on_select="rerun", selection_mode="points")
    points = event.selection.points if event and event.selection else []
    cell = next((p.get("customdata") for p in points if p.get("customdata")), None)
    if cell and st.session_state.get(f"{prefix}.errors.clicked") != cell:
        # a new click: point the gallery at that variant and cell (before its widgets are drawn in this run)
        st.session_state[f"{prefix}.errors.clicked"] = cell
        by_name = {n: v for v, n in names.items()}
        st.session_state[f"{prefix}.errors.variant"] = by_name.get(cell[0], st.session_state.get(
            f"{prefix}.errors.variant"))
        st.session_state[f"{prefix}.errors.true"], st.session_state[f"{prefix}.errors.pred"] = cell[1], cell[2]
        st.session_state[f"{prefix}.errors.show"] = SHOW[0]
    figures.explain("Click a cell to see those test images in the gallery below.")


def gallery(prefix: str, result: Comparison, names: dict[str, str], dataset: str) -> None:
    classes, preds = result.extra["classes"], result.extra["predictions"]
    variants, baseline = list(preds), result.extra["baseline"]
    finetuned = next((v for v in variants if result.extra["runs"][v]["strategy"] == "finetune"), variants[-1])
    cols = st.columns([2, 2, 1, 1])
    # defaults first, not by index=: a confusion click sets these widgets through the session state
    offered = [finetuned, *(v for v in variants if v != finetuned)]
    variant = cols[0].selectbox("Variant", offered, format_func=names.get, key=f"{prefix}.errors.variant", **KEEP)
    show = cols[1].radio("Show", SHOW, horizontal=True, key=f"{prefix}.errors.show", **KEEP)
    true = cols[2].selectbox("True", [ANY, *classes], key=f"{prefix}.errors.true", **KEEP)
    pred = cols[3].selectbox("Predicted", [ANY, *classes], key=f"{prefix}.errors.pred", **KEEP)
    if show == SHOW[0]:
        rows = errors.mistakes(preds[variant], classes, None if true == ANY else true, None if pred == ANY else pred)
        what = f"{len(rows):,} test errors of {names[variant]}"
    elif variant == baseline:
        st.info(f"{names[variant]} is the baseline: pick another variant to see what it fixed or broke.")
        return
    else:
        fixed, broken = errors.changed(preds[baseline], preds[variant], classes)
        rows = fixed if show == SHOW[1] else broken
        rows = rows[(rows["true"] == true) | (true == ANY)]
        rows = rows[(rows["predicted"] == pred) | (pred == ANY)]
        what = (f"{len(rows):,} test images {names[baseline]} got wrong and {names[variant]} right"
                if show == SHOW[1] else f"{len(rows):,} test images {names[baseline]} got right and "
                f"{names[variant]} wrong")
    filters = " · ".join(f"{k} {v}" for k, v in (("true", true), ("predicted", pred)) if v != ANY)
    st.markdown(f"**{what}**" + (f" ({filters})" if filters else "") + (f"; the first {GALLERY} shown"
                                                                        if len(rows) > GALLERY else ""))
    if rows.empty:
        return
    shown = rows.head(GALLERY)
    st.image([_image(dataset, int(i)) for i in shown["index"]], width=96,
             caption=[f"{t} → {p} ({c:.0%})" for t, p, c in zip(shown["true"], shown["predicted"], shown["confidence"],
                                                                 strict=True)])
    picked = st.selectbox("Where does it look? Image", list(shown["index"]), key=f"{prefix}.errors.cam",
                          format_func=lambda i: _label(shown, i))
    row = shown[shown["index"] == picked].iloc[0]
    others = [v for v in variants if v != variant]
    frozen = next((v for v in others if result.extra["runs"][v]["strategy"] == "frozen"), None)
    beside = [frozen, *(v for v in others if v != frozen)] if frozen else others  # pretrained features first
    other = st.selectbox("Beside", beside, format_func=names.get, key=f"{prefix}.errors.beside") if beside else None
    pair = [other, variant] if other else [variant]
    explain_view.where_it_looks(pair, str(device()), f"data:{dataset}:{picked}", _image(dataset, int(picked)),
                                str(row["true"]), names)


def _label(rows, index: int) -> str:
    row = rows[rows["index"] == index].iloc[0]
    return f"image {index}: {row['true']} → {row['predicted']} ({row['confidence']:.0%})"
