"""Every figure goes on a page through show(): presentation mode's larger fonts, the full width, and PNG and SVG
download buttons (rendered only when clicked) under it. Result tables go through table() and explanations
through explain(), which presentation mode enlarges and folds away."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import plots, tasks
from ui import sidebar


def show(fig: go.Figure, key: str, stem: str, where=None, export: bool = True, scale: bool = True, **chart):
    """Draw the figure in `where` (the page, a column or a container) with its export buttons; stem names the
    files; scale: larger fonts in presentation mode (not for thumbnails); chart goes to st.plotly_chart (on_select,
    selection_mode). Returns plotly_chart's event."""
    where = where if where is not None else st
    shown = plots.presenting(fig) if scale and sidebar.presenting() else fig
    event = where.plotly_chart(shown, width="stretch", key=key, **chart)
    if export and where is st:
        export_buttons(shown, stem, f"{key}.export")
    elif export:
        with where:
            export_buttons(shown, stem, f"{key}.export")
    return event


def export_buttons(fig: go.Figure, stem: str, key: str) -> None:
    if not plots.export_available():
        st.caption("PNG/SVG export needs Chrome or Chromium (Debian: `apt install chromium`).")
        return
    with st.container(horizontal=True):
        st.download_button("PNG", lambda: plots.export(fig, "png"), f"{stem}.png", "image/png", key=f"{key}.png",
                           icon=":material/download:", help="For slides: 2000 × 1200 px")
        st.download_button("SVG", lambda: plots.export(fig, "svg"), f"{stem}.svg", "image/svg+xml", key=f"{key}.svg",
                           icon=":material/download:")


def table(frame: pd.DataFrame, **dataframe) -> None:
    """A result table, its metric columns under their human labels (core.tasks.label; the frame, its exports and the
    CLI keep the keys): interactive (sortable, scrollable) normally; in presentation mode a plain HTML table with every
    column, whose text scales with the page and wraps inside its cells (the interactive grid is drawn on a canvas at
    a fixed size)."""
    labels = {c: tasks.label(c) for c in frame.columns if isinstance(c, str) and tasks.label(c) != c}
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]  # one precision: 3 decimals
    if sidebar.presenting():
        st.table(frame.rename(columns=labels).style.hide(axis="index").format(na_rep="–", precision=3))
    else:
        config = {c: st.column_config.Column(label) for c, label in labels.items() if c not in floats}
        config |= {c: st.column_config.NumberColumn(labels.get(c, str(c)), format="%.3f") for c in floats}
        st.dataframe(frame, hide_index=True, column_config=config | dataframe.pop("column_config", {}), **dataframe)


def controls(label: str):
    """Where a page's setup goes (training buttons, run pickers): the page itself normally; a closed expander in
    presentation mode, so that the result comes first on the screen."""
    return st.expander(label, icon=":material/tune:") if sidebar.presenting() else st.container()


def section(label: str, expanded: bool = False):
    """A foldable part of a page's setup (a training panel): an expander normally; in presentation mode it already
    sits inside controls() (expanders do not nest), so a bordered box under its label."""
    if sidebar.presenting():
        box = st.container(border=True)
        box.markdown(f"**{label}**")
        return box
    return st.expander(label, expanded=expanded)


SPLIT_ORDER = ("train", "val", "test")


def counted(counts: dict[str, int]) -> str:
    """Split sizes as a reader says them: "train 1,095 · val 235 · test 229" (the usual splits first)."""
    order = sorted(counts, key=lambda k: (SPLIT_ORDER.index(k) if k in SPLIT_ORDER else len(SPLIT_ORDER), k))
    return " · ".join(f"{k} {counts[k]:,}" for k in order)


def note(text: str) -> None:
    """A side fact (a dataset's size and splits): a caption normally, left out in presentation mode."""
    if not sidebar.presenting():
        st.caption(text)


def intro(text: str) -> None:
    """A page's opening paragraph: shown normally; folded into an expander in presentation mode."""
    if sidebar.presenting():
        st.expander("What this page shows", icon=":material/info:").markdown(text)
    else:
        st.markdown(text)


def explain(text: str, where=None, label: str = "About this") -> None:
    """An explanation under a result: a caption normally; folded into an expander in presentation mode, so that
    the result keeps the screen."""
    where = where if where is not None else st
    if sidebar.presenting():
        where.expander(label, icon=":material/info:").caption(text)
    else:
        where.caption(text)


def busy(words: str) -> None:
    """The warning that timings were measured while other work shared the machine (core.timing.busy_words)."""
    if words:
        st.warning(words, icon=":material/speed:")


def verdicts(lines: list[str]) -> None:
    """Each comparison's verdict in words (core.experiments.verdicts), under its table."""
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
