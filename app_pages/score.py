"""Score your predictions: any model's outputs, scored with the dashboard's metrics and figures."""

import pandas as pd
import streamlit as st

from core import numbers, plots
from core.metrics import detection
from ui import figures
from ui.scoring import IOU_CHOICES, SCORED, YOURS_SOURCE, comparisons, example, metric_row, score, uploads, yours
from ui.settings import KEEP

st.title("Score your predictions")
figures.intro("Evaluate any model's outputs with the metrics every page uses: the same numbers as "
            "`python -m core.metrics`. Start from a generated example, or upload your own files.")

name = st.radio("Task", list(SCORED), format_func=lambda n: f"{SCORED[n].title} ({SCORED[n].score_format})",
                horizontal=True, key="score.task", **KEEP)
chosen = SCORED[name]
task = chosen.scoring
sources = ["Generated example", "Upload", *([YOURS_SOURCE] if chosen.predictor in ("classifier", "regressor") else [])]
source = st.radio("Data", sources, horizontal=True, key="score.source", **KEEP)
ious = detection.COCO_IOUS
if task == "detection":
    ious = IOU_CHOICES[st.selectbox("IoU thresholds", list(IOU_CHOICES), key="score.iou", **KEEP)]
files = example(chosen) if source == "Generated example" else yours(chosen) if source == YOURS_SOURCE else \
    uploads(chosen)
if files is None:
    if source == "Upload":
        st.info("Upload the file(s) above, or switch to the generated example.")
    st.stop()
try:
    report = score(name, files, tuple(ious))
except ValueError as exc:
    st.error(str(exc))
    st.stop()
summary = report.summary

if task == "detection":
    result = report.results["detections"]
    t0 = round(result.iou_thresholds[0] * 100)
    metric_row([("AP (COCO)", f"{summary['AP']:.3f}"), (f"AP_VOC{t0}", f"{summary[f'AP_VOC{t0}']:.3f}"),
                (f"AP_trapz{t0}", f"{summary[f'AP_trapz{t0}']:.3f}"), ("images", summary["n_images"]),
                ("detections / truths", f"{summary['n_detections']} / {summary['n_gt']}")])
    pr_tab, f1_tab = st.tabs(["Precision–recall", "F1 against threshold"])
    with pr_tab:
        fig = plots.pr_figure(result.curves, ap_label=f"AP{t0}")
        figures.show(fig, "score.fig.pr", "precision_recall")
        st.caption(f"Per class at IoU {result.iou_thresholds[0]:.2f}; the diamond is the best-F1 point.")
    with f1_tab:
        fig = plots.f1_figure(result.curves)
        figures.show(fig, "score.fig.f1", "f1_threshold")
    figures.table(result.per_class, width="stretch")
    with st.expander("All COCO numbers"):
        st.json({k: v for k, v in summary.items() if k != "per_class"})
elif task == "classification":
    metric_row([("accuracy", f"{summary['accuracy']:.3f}"),
                ("mean class accuracy", f"{summary['mean_class_accuracy']:.3f}"),
                ("macro F1", f"{summary['macro']['f1']:.3f}"), ("weighted F1", f"{summary['weighted']['f1']:.3f}")])
    normalised = st.toggle("Row-normalised", value=True, key="score.normalised", **KEEP)
    fig = plots.confusion_figure(report.results, normalised=normalised)
    figures.show(fig, "score.fig.cm", "confusion")
    figures.table(pd.DataFrame(summary["variants"]).T.rename_axis("column").reset_index(), width="stretch")
    st.markdown("**Per class** (pred)")
    figures.table(pd.DataFrame(summary["per_class"]), width="stretch")
    comparisons(report)
elif task == "verification":
    metric_row([("AUC", f"{summary['AUC']:.3f}"), ("EER", f"{summary['EER']:.3f}"),
                ("TAR @ FAR 1e-2", f"{summary['TAR@FAR=0.01']:.3f}"), ("best accuracy", f"{summary['best_accuracy']:.3f}")])
    fig = plots.roc_figure(report.results)
    figures.show(fig, "score.fig.roc", "roc")
    comparisons(report)
elif task == "regression":
    metric_row([("MAE", f"{summary['mae']:.2f}"), ("RMSE", f"{summary['rmse']:.2f}"),
                ("Pearson r", numbers.text(summary["pearson"])), ("Spearman ρ", numbers.text(summary["spearman"]))])
    fig = plots.scatter_figure(report.points, report.results)
    figures.show(fig, "score.fig.scatter", "predicted_vs_actual")
    comparisons(report)
else:
    raise ValueError(f"no view for task {task!r}")
