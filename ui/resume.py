"""Queued runs whose process ended before they began (the machine restarted, the process was killed) get a new
one while the app is open."""

import streamlit as st

from core.engine.store import RunStore
from core.runs import prepare


@st.cache_resource(ttl=5, show_spinner=False)
def resume_queue(folder: str) -> int:
    """Start the worker for such runs: at most every 5 s per runs folder, in whichever session comes first (each
    page's run, and the Home and Runs pages' live list while it shows such a run). The number of runs resumed."""
    return sum(len(ids) for _, ids, _ in prepare.resume(RunStore(folder)))
