"""Results in, plotly figures out: one theme, one colour per variant."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from core.models.predict import Detections, TopK

TEMPLATE = "plotly_white"
VARIANT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def colour(i: int) -> str:
    return VARIANT_COLOURS[i % len(VARIANT_COLOURS)]


def topk_figure(result: TopK, title: str = "", index: int = 0) -> go.Figure:
    """Horizontal bars of the top-k class probabilities, most probable on top."""
    fig = go.Figure(go.Bar(
        x=result.probs[::-1], y=result.labels[::-1], orientation="h", marker_color=colour(index),
        text=[f"{p:.1%}" for p in result.probs[::-1]], textposition="outside", textangle=0, cliponaxis=False,
    ))
    fig.update_layout(template=TEMPLATE, title=title, xaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability"),
                      height=300, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def detections_figure(image: Image.Image, dets: Detections, title: str = "", index: int = 0) -> go.Figure:
    """The image with each box drawn and labelled by its score."""
    fig = go.Figure(go.Image(z=np.asarray(image.convert("RGB"))))
    for (x1, y1, x2, y2), score in zip(dets.boxes, dets.scores, strict=True):
        fig.add_shape(type="rect", x0=x1, y0=y1, x1=x2, y1=y2, line=dict(color=colour(index), width=3))
        fig.add_annotation(x=x1, y=y1, text=f"{score:.2f}", showarrow=False, yanchor="bottom", xanchor="left",
                           font=dict(color="white"), bgcolor=colour(index))
    fig.update_layout(template=TEMPLATE, title=title, margin=dict(l=0, r=0, t=40 if title else 0, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
