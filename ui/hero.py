"""The evidence a study page opens on: its key figure beside each variant's headline with its 95% CI, each Δ with
its CI and a verdict word. Every study page draws it the same way, from core.experiments.evidence: the study's
compared settings and their finished runs on the test split, the numbers the Home tiles and the talk also show.

Read from the runs folder's cache when the runs have not changed since it was written (prepare writes it), so it is
drawn before anything on the page is computed."""

from __future__ import annotations

import base64
import html

import pandas as pd
import streamlit as st
import torch

from core.engine.store import RunStore
from core.experiments import evidence
from core.studies import index
from ui import figures
from ui.sidebar import device, presenting

# Table cells wrap inside the column rather than overflow it: the hero must fit 1280 × 720 at the projector's font.
_CSS = """
<style>
table.hero { width: 100%; border-collapse: collapse; margin-bottom: 0.6rem; table-layout: auto; }
table.hero th, table.hero td { text-align: left; padding: 0.15rem 0.4rem; border-bottom: 1px solid #ddd;
  white-space: normal; overflow-wrap: break-word; vertical-align: top; font-size: 0.85rem; }
table.hero td.num { white-space: nowrap; }
</style>
"""


@st.cache_data(max_entries=32, show_spinner=False)
def _evidence(study_name: str, key: str, runs_dir: str, device_name: str) -> evidence.Evidence:
    """key (evidence.runs_key) changes when the study's runs do, so a finished run is shown on the next rerun."""
    del key
    return evidence.cached(index.get(study_name), RunStore(runs_dir), torch.device(device_name))


@st.cache_data(max_entries=32, show_spinner=False)
def _png(study_name: str, key: str, runs_dir: str, device_name: str) -> bytes | None:
    """The evidence figure's PNG (kept beside the evidence; drawn once when it is not)."""
    del key
    study, store, dev = index.get(study_name), RunStore(runs_dir), torch.device(device_name)
    return evidence.figure_png(study, store, dev, evidence.cached(study, store, dev))


def get(study_name: str) -> evidence.Evidence:
    """The study's evidence now (from memory, the disk cache, or computed once)."""
    store, dev = RunStore(), device()
    key = evidence.runs_key(index.get(study_name), store, dev)
    with st.spinner("Scoring the compared runs on the test split (once; kept until a run changes)…"):
        return _evidence(study_name, key, str(store.folder), dev.type)


def _table(frame: pd.DataFrame) -> str:
    """A small HTML table whose cells wrap: numbers with their CI stay on one line, names may wrap."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(
        f"<td class='{'num' if '[' in str(v) and str(v)[:1] in '+-−0123456789' else ''}'>{html.escape(str(v))}</td>"
        for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table class='hero'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def hero(study_name: str) -> evidence.Evidence:
    """The study's evidence, first on its page: the key figure on the left, the numbers and the verdict on the
    right; what is missing, and why, when no finished run exists yet."""
    e = get(study_name)
    box = st.container(border=True, key=f"hero-{study_name}")
    if e.missing:
        box.info(e.missing, icon=":material/hourglass_empty:")
        return e
    st.markdown(_CSS, unsafe_allow_html=True)
    left, right = box.columns([11, 9] if presenting() else [1, 1], gap="small")
    # the numbers are sent before the figure: a new tab loads plotly.js first, and the numbers need not wait for it
    with right:  # the differences first: they are the answer
        if e.deltas is not None and not e.deltas.empty:
            shown = e.deltas.drop(columns=[c for c in e.deltas.columns if c.startswith("P(better)")]) \
                if presenting() else e.deltas
            st.markdown(_table(shown), unsafe_allow_html=True)
        if e.variants is not None and not e.variants.empty:
            one_each = e.variants["seeds"].isin(["1 seed", "yours, no seed", "untrained"]).all()
            st.markdown(_table(e.variants.drop(columns=["seeds"]) if one_each else e.variants),
                        unsafe_allow_html=True)
            if one_each:
                st.caption("One training run per variant: each CI counts the test items only.")
        if e.headline is not None and not presenting():
            st.markdown(f"**{e.headline['verdict']}**")
        figures.explain("The study's compared settings, each from its finished runs, scored on the test split; "
                        "brackets: 95% CI (bootstrap over test items, and over seeds where there are several). "
                        "The same numbers as the Home tile and the talk. The sections below compare whichever runs "
                        "you pick.", label="About these numbers")
        for problem in e.problems:
            st.caption(problem)
    if e.figure is not None:
        png = _png(study_name, evidence.runs_key(index.get(study_name), RunStore(), device()), str(RunStore().folder),
                   device().type) if presenting() else None
        if png:  # an image drawn in the page at once: a new tab need not load plotly.js before the evidence shows
            left.markdown(f'<img class="hero-figure" alt="{html.escape(e.figure_title)}" style="width:100%" '
                          f'src="data:image/png;base64,{base64.b64encode(png).decode()}">', unsafe_allow_html=True)
        else:
            fig = evidence.presented(e.figure).update_layout(height=380)
            figures.show(fig, f"hero.{study_name}.figure", f"{study_name}-evidence", where=left)
        left.caption(e.figure_title)
    return e
