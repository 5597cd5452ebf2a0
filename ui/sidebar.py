"""The shared sidebar: device (with a CPU override) and presentation mode."""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st
import torch

from core import devices
from core.engine.store import RunStore, RunStoreError, StoreUnreadable
from ui.settings import KEEP

FORCE_CPU = "app.force_cpu"
PRESENTATION = "app.presentation"
STORE_PROBLEM = "app.runs_problem"

# Streamlit sizes its text, widgets, sidebar and slider labels in rem: a larger root font scales them all. The top
# padding shrinks so that a page's result starts higher; tables drawn by ui.figures.table are HTML and scale too.
_PRESENTATION_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stMainBlockContainer"] { padding: 3.3rem 1.2rem 4rem 1.2rem; max-width: 100%; }
h1 { font-size: 1.6rem !important; padding: 0 0 0.3rem 0 !important; }
[data-testid="stExpander"] summary { padding-top: 0.25rem; padding-bottom: 0.25rem; }
h2 { font-size: 1.5rem !important; }
h3 { font-size: 1.25rem !important; }
[data-testid="stTable"] table, [data-testid="stTable"] th, [data-testid="stTable"] td { font-size: 0.95rem;
  padding: 0.2rem 0.5rem !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { white-space: normal !important; overflow-wrap: break-word; }
[data-testid="stSidebar"] { font-size: 1rem; }
</style>
"""


def device() -> torch.device:
    """The device the pages run models on, honouring the sidebar's Force CPU toggle."""
    return devices.pick_device(force_cpu=bool(st.session_state.get(FORCE_CPU, False)))


def presenting() -> bool:
    """Whether presentation mode is on (the sidebar toggle, kept in the URL as app.presentation)."""
    return bool(st.session_state.get(PRESENTATION, False))


def runs_problem() -> str:
    """Why runs cannot be recorded here ("" when they can): checked once per browser session, and again while the
    store cannot be read at all (a file that is not SQLite, moved aside by the user, reads again on the next page)."""
    if st.session_state.get(STORE_PROBLEM, ("", ""))[0] in ("", "unreadable"):
        try:
            RunStore().check_writable()
            st.session_state[STORE_PROBLEM] = ("ok", "")
        except StoreUnreadable as exc:
            st.session_state[STORE_PROBLEM] = ("unreadable", str(exc))
        except RunStoreError as exc:
            st.session_state[STORE_PROBLEM] = ("unwritable", str(exc))
    return st.session_state[STORE_PROBLEM][1]


def live(run_every: float) -> Callable:
    """st.fragment(run_every=...) for a view that polls the run store: a store that cannot be read ends the view
    with the page's one message rather than a traceback in it."""
    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args: object, **kwargs: object) -> object:
            try:
                return view(*args, **kwargs)
            except StoreUnreadable as exc:
                store_unreadable(exc)
                return None
        return st.fragment(run_every=run_every)(guarded)
    return wrap


def store_unreadable(exc: RunStoreError) -> None:
    """A page that needs the runs store, which cannot be read: the one message (the sidebar's, once)."""
    if str(exc) != runs_problem():
        st.error(str(exc), icon=":material/database_off:")


def render() -> bool:
    """The sidebar, and the runs folder's problem at the top of the page if it has one: whether runs can be kept."""
    problem = runs_problem()
    if problem and st.session_state[STORE_PROBLEM][0] == "unreadable":
        st.error(problem, icon=":material/database_off:")
    elif problem:
        st.error(f"{problem} Until then nothing can be trained; comparing what exists still works.",
                 icon=":material/folder_off:")
    with st.sidebar:
        dev = device()
        st.markdown(f"**Device** · `{devices.describe(dev)}`")
        auto = devices.pick_device()
        st.toggle("Force CPU", key=FORCE_CPU, **KEEP, disabled=auto.type == "cpu",
                  help="Run every model on the CPU even when a GPU is present, e.g. to compare speeds.")
        st.toggle("Presentation mode", key=PRESENTATION, **KEEP,
                  help="For a projector: larger text, tables and figure fonts; explanations folded away. Kept in the "
                       "URL, so a link opens in it.")
    if presenting():
        st.markdown(_PRESENTATION_CSS, unsafe_allow_html=True)
    return not problem
