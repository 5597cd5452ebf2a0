"""Entry point: navigation over the pages and the shared sidebar."""

import streamlit as st

from core.engine.store import RunStore, StoreUnreadable
from ui import resume, sidebar

# Presentation mode (kept in the URL) opens with the sidebar folded, so that the page's evidence has the full width.
st.set_page_config(page_title="Transfer learning, side by side", page_icon=":material/compare:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get(sidebar.PRESENTATION) == "true" else "auto")

PAGES = [  # titles short enough for the sidebar at presentation mode's font (1280 px wide)
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/try_image.py", title="Try your image", icon=":material/image_search:"),
    st.Page("app_pages/face_detection.py", title="Face detection", icon=":material/face:"),
    st.Page("app_pages/face_verification.py", title="Face verification", icon=":material/how_to_reg:"),
    st.Page("app_pages/object_detection.py", title="Object detection", icon=":material/center_focus_strong:"),
    st.Page("app_pages/classification.py", title="Classification", icon=":material/category:"),
    st.Page("app_pages/regression.py", title="Regression", icon=":material/scatter_plot:"),
    st.Page("app_pages/feature_extraction.py", title="Feature extraction", icon=":material/layers:"),
    st.Page("app_pages/score.py", title="Score predictions", icon=":material/analytics:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/talk.py", title="Talk", icon=":material/slideshow:"),
    st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    st.Page("app_pages/models.py", title="Your models", icon=":material/upload_file:"),
]

navigation = st.navigation(PAGES)
if sidebar.render():
    resume.resume_queue(str(RunStore().folder.resolve()))
try:
    navigation.run()
except StoreUnreadable as exc:  # every page lists runs: one message instead of a traceback, the store left as it is
    sidebar.store_unreadable(exc)
