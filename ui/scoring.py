"""The Score page's glue: the tasks it scores (from the task table), uploads and examples, parsing and scoring
cached per file, and its small widgets."""

from __future__ import annotations

import io
import json

import pandas as pd
import streamlit as st

from core import tasks
from core.experiments import tables
from core.metrics import detection, reports, synthetic
from ui import figures

SCORED = {t.name: t for t in tasks.scored()}
IOU_CHOICES = {"COCO 0.50:0.95": detection.COCO_IOUS, "0.5 (VOC)": (0.5,), "0.3 (the face-detection study)": (0.3,)}


@st.cache_data(max_entries=16, show_spinner="Scoring…")
def score(task_name: str, files: tuple[bytes, ...], ious: tuple[float, ...]) -> reports.Report:
    """Parse the uploaded bytes and score them; ValueError carries the message for the user."""
    task = SCORED[task_name]
    if task.score_format == "COCO json":
        parsed = []
        for name, data in zip(("ground truth", "detections"), files, strict=True):
            try:
                parsed.append(json.loads(data))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"The {name} file is not valid JSON ({exc}).") from None
        return reports.for_family(task.scoring)(*parsed, ious)
    try:
        frame = pd.read_csv(io.BytesIO(files[0]))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"The file is not a readable CSV file ({exc}).") from None
    return reports.for_family(task.scoring)(frame, "the uploaded CSV")


def example(task: tasks.Task) -> tuple[bytes, ...]:
    if task.score_format == "COCO json":
        return tuple(json.dumps(part).encode() for part in synthetic.example_for(task.scoring)())
    return (synthetic.example_for(task.scoring)().to_csv(index=False).encode(),)


def uploads(task: tasks.Task) -> tuple[bytes, ...] | None:
    if task.score_format == "COCO json":
        left, right = st.columns(2)
        gt = left.file_uploader("Ground truth (COCO json)", type=["json"], key="score.gt")
        pred = right.file_uploader("Detections (COCO result json)", type=["json"], key="score.pred")
        return (gt.getvalue(), pred.getvalue()) if gt and pred else None
    st.caption(f"Columns: {task.score_columns}.")
    f = st.file_uploader("Predictions (CSV)", type=["csv"], key=f"score.{task.name}.csv")
    return (f.getvalue(),) if f else None


def metric_row(items: list[tuple[str, object]]) -> None:
    for col, (label, value) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, value)


def comparisons(report: reports.Report) -> None:
    if report.comparisons:
        st.markdown("**Two variants on the same samples** (Δ = a − b)")
        figures.table(tables.comparisons_table(report.comparisons), width="stretch")


