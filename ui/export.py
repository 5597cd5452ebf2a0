"""PNG and SVG download buttons for a figure, rendered only when clicked."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import plots


def export_buttons(fig: go.Figure, stem: str, key: str) -> None:
    if not plots.export_available():
        st.caption("PNG/SVG export needs Chrome or Chromium (Debian: `apt install chromium`).")
        return
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("PNG for slides", lambda: plots.export(fig, "png"), f"{stem}.png", "image/png",
                         key=f"{key}.png", icon=":material/download:")
    right.download_button("SVG", lambda: plots.export(fig, "svg"), f"{stem}.svg", "image/svg+xml",
                          key=f"{key}.svg", icon=":material/download:")
