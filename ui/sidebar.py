"""The shared sidebar: device (with a CPU override) and presentation mode."""

from __future__ import annotations

import streamlit as st
import torch

from core import devices
from core.train.runstore import RunStore, RunStoreError
from ui.settings import KEEP

FORCE_CPU = "app.force_cpu"
PRESENTATION = "app.presentation"
STORE_PROBLEM = "app.runs_problem"

_PRESENTATION_CSS = """
<style>
html, body, [data-testid="stMarkdownContainer"] p { font-size: 1.25rem; }
h1 { font-size: 3rem !important; }
</style>
"""


def device() -> torch.device:
    """The device the pages run models on, honouring the sidebar's Force CPU toggle."""
    return devices.pick_device(force_cpu=bool(st.session_state.get(FORCE_CPU, False)))


def runs_problem() -> str:
    """Why runs cannot be recorded here ("" when they can): checked once per browser session."""
    if STORE_PROBLEM not in st.session_state:
        try:
            RunStore().check_writable()
            st.session_state[STORE_PROBLEM] = ""
        except RunStoreError as exc:
            st.session_state[STORE_PROBLEM] = str(exc)
    return st.session_state[STORE_PROBLEM]


def render() -> None:
    problem = runs_problem()
    if problem:
        st.error(f"{problem} Until then nothing can be trained; comparing what exists still works.",
                 icon=":material/folder_off:")
    with st.sidebar:
        dev = device()
        st.markdown(f"**Device** · `{devices.describe(dev)}`")
        auto = devices.pick_device()
        st.toggle("Force CPU", key=FORCE_CPU, **KEEP, disabled=auto.type == "cpu",
                  help="Run every model on the CPU even when a GPU is present, e.g. to compare speeds.")
        st.toggle("Presentation mode", key=PRESENTATION, **KEEP, help="Larger text for projecting in a talk.")
    if st.session_state.get(PRESENTATION):
        st.markdown(_PRESENTATION_CSS, unsafe_allow_html=True)
