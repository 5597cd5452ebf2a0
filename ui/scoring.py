"""The Score page's glue: the tasks it scores (from the task table), uploads and examples, parsing and scoring
cached per file, and its small widgets."""

from __future__ import annotations

import io
import json

import pandas as pd
import streamlit as st
import torch

from core import tasks
from core.data import catalogue
from core.engine.loop import split_indices
from core.experiments import tables
from core.metrics import detection, reports, synthetic
from core.models import imported
from core.studies.transfer import experiment as tx
from core.weights import WeightsUnavailable
from ui import figures
from ui.settings import KEEP
from ui.sidebar import device

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


YOURS_SOURCE = "Your model on a dataset"


def yours(task: tasks.Task) -> tuple[bytes, ...] | None:
    """Predictions of an imported model on a set's test split, as the CSV an upload would be (no export needed)."""
    mine = [m for m in imported.listing() if m.task == task.name]
    if not mine:
        st.info("No imported model of this task yet: import one on the Your models page.")
        return None
    left, right = st.columns(2)
    name = left.selectbox("Your model", [m.name for m in mine], key=f"score.{task.name}.yours", **KEEP,
                          format_func=lambda n: f"yours: {n}")
    dataset = right.selectbox("Scored on the test split of", catalogue.labelled_names(task.name),
                              key=f"score.{task.name}.yours.dataset", **KEEP)
    meta = next(m for m in mine if m.name == name)
    try:
        return (your_predictions(name, meta.sha256, dataset, device().type),)
    except (ValueError, WeightsUnavailable) as exc:
        st.error(f"yours: {name} cannot be scored on {dataset}: {exc}", icon=":material/error:")
        return None


@st.cache_data(max_entries=8, show_spinner="Running your model over the test split…")
def your_predictions(name: str, sha256: str, dataset: str, device_name: str) -> bytes:
    data = catalogue.labelled(dataset)
    test = split_indices(data)[2]
    o = tx.yours_outcome(name, sha256, dataset, tuple(test), torch.device(device_name))
    if data.classes is None:
        return pd.DataFrame({"true": o.targets, "pred": o.predicted}).to_csv(index=False).encode()
    classes = list(data.classes)
    return pd.DataFrame({"true": [classes[int(t)] for t in o.targets],
                         "pred": [classes[int(p)] for p in o.predicted]}).to_csv(index=False).encode()


def metric_row(items: list[tuple[str, object]], of: str = "pred") -> None:
    """The headline numbers of one column of predictions, as cards, said to be that column's."""
    st.caption(f"Of `{of}`, the first predictions column (the tables below have every column)")
    for col, (label, value) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, value)


def comparisons(report: reports.Report) -> None:
    if report.comparisons:
        st.markdown("**Two variants on the same samples** (Δ = a − b)")
        figures.table(tables.comparisons_table(report.comparisons), width="stretch")


