"""The object-detection page's Streamlit glue: cached scoring of the chosen runs, the cross-family table, live
detections at a checkpoint, and training both starts from the page (queued runs, one process, followed by id)."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import replace

import pandas as pd
import streamlit as st
from PIL import Image

from core import devices, numbers, plots, registry
from core.data import catalogue
from core.engine.store import Run, RunStore
from core.experiments import tables
from core.experiments.comparison import Comparison
from core.metrics import paired
from core.models import yolo
from core.models.outputs import Detections
from core.studies.object_detection import experiment as od
from core.studies.object_detection import train as trainer
from ui import figures, jobs

PREFIX = "yolo"
UNREADABLE = (RuntimeError, OSError, EOFError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile)  # a damaged file
SETTINGS = {"quick": trainer.QUICK, "full": trainer.FULL}


def detection_sets() -> list[str]:
    return [name for name, e in catalogue.entries().items() if e.task == "detection" and e.available()]


def _runs(run_ids: tuple[str, ...]) -> list[Run]:
    store = RunStore()
    return [store.get(i) for i in run_ids]


@st.cache_resource(max_entries=8, show_spinner="Scoring every kept checkpoint on the test split…")
def study(run_ids: tuple[str, ...], labels: tuple[str, ...], dataset: str, device_name: str,
          yours: tuple[tuple[str, str], ...] = ()) -> tuple[Comparison, dict[str, od.ScoredBoxes]]:
    """labels: the runs' last checkpoints, so that a run that kept another one is scored again; yours: your imported
    detectors (name, sha256) beside them."""
    return od.study(_runs(run_ids), dataset, devices.pick_device(force_cpu=device_name == "cpu"), paired.N_BOOT_LIVE,
                    yours=tuple(n for n, _ in yours))


@st.cache_resource(max_entries=4, show_spinner="Running MTCNN over the test split (once)…")
def family(run_ids: tuple[str, ...], labels: tuple[str, ...], dataset: str, device_name: str
           ) -> tuple[Comparison, dict]:
    _, scored = study(run_ids, labels, dataset, device_name)
    best = [f"{registry.yolo_variant(r).name}@{od.best_and_last(r)['best'].label.replace(' ', '')}"
            for r in reversed(_runs(run_ids))]
    return od.cross_family({n: scored[n] for n in best}, dataset, devices.pick_device(force_cpu=device_name == "cpu"),
                           n_boot=paired.N_BOOT_LIVE)


@st.cache_resource(max_entries=16, show_spinner="Loading the checkpoint…")
def detector(path: str, image_size: int, device_name: str) -> yolo.Detector:
    return yolo.Detector.from_checkpoint(path, image_size, devices.pick_device(force_cpu=device_name == "cpu"))


@st.cache_data(max_entries=64, show_spinner="Running the checkpoints on this image…")
def found_on(path: str, image_size: int, device_name: str, image_key: str, _image: Image.Image) -> yolo.Found:
    return detector(path, image_size, device_name).find([_image])[0]


def as_detections(found: yolo.Found, names: list[str], threshold: float) -> Detections:
    keep = found.scores >= threshold
    return Detections(found.boxes[keep], found.scores[keep],
                      tuple(names[c] for c in found.classes[keep]) if len(names) > 1 else ())


def study_table(result: Comparison) -> pd.DataFrame:
    """The study's shape: one row per run and checkpoint (best, last), ours beside ultralytics' numbers."""
    rows = []
    for pick in result.extra["checkpoints"]:
        for which in ("best", "last"):
            m = result.variants[pick[which]]
            rows.append({"start": pick["start"], "checkpoint": f"{which} (epoch {m['epoch']})",
                         **{k: tables.number(m[k]) for k in ("P", "R", "F1", "AP50", "AP50-95")},
                         "ultralytics P": tables.number(m["ultralytics_P"]),
                         "ultralytics R": tables.number(m["ultralytics_R"]),
                         "ultralytics AP50": tables.number(m["ultralytics_AP50"]),
                         "ultralytics AP50-95": tables.number(m["ultralytics_AP50-95"]),
                         "val AP50 (ultralytics)": tables.number(m["val_AP50"]),
                         "ms/image": tables.number(m["ms_per_image"], "ms_per_image"),
                         "train images/s": tables.number(m["train_images_per_s"], "ms_per_image")})
    for name in result.extra.get("yours", []):
        m = result.variants[name]
        rows.append({"start": "yours", "checkpoint": name.removeprefix("yours/"),
                     **{k: tables.number(m[k]) for k in ("P", "R", "F1", "AP50", "AP50-95")},
                     **{f"ultralytics {k}": tables.number(m[f"ultralytics_{k}"]) for k in ("P", "R", "AP50", "AP50-95")},
                     "val AP50 (ultralytics)": "–", "ms/image": "–", "train images/s": "–"})
    return pd.DataFrame(rows)


def start_training(dataset: str, settings: str, force_cpu: bool) -> None:
    cfg = replace(SETTINGS[settings], dataset=dataset)
    jobs.queue_and_start(PREFIX, lambda: trainer.queue_pair(cfg, RunStore()), force_cpu)


def training_status() -> None:
    jobs.panel(PREFIX, _progress, stopping="Stopping: the run keeps the checkpoints it has written…",
               stopped="It keeps the checkpoints it wrote; with one, it is offered among the runs to pick.")  # finished
    # runs are listed by od.runs_on on the rerun


def _progress(job: jobs.Job) -> None:
    run, nth = jobs.running_run(job)
    start, epochs = run.config.get("start", "?"), int(run.config.get("epochs", 1))
    phase = run.metrics.get("phase")
    if phase and phase["name"].startswith("predicting"):
        st.info(f"Training **{start}** ({nth}): {phase['name']} ({phase['done']} of {phase['total']})…")
    elif run.history:
        last = run.history[-1]
        st.progress(len(run.history) / epochs, text=f"Training **{start}** ({nth}): epoch {len(run.history)} of "
                                                    f"{epochs}, validation AP50 {numbers.text(last['val'].get('AP50'))}")
    else:
        st.info(f"Training **{start}** ({nth}): starting…")


def training_panel(dataset: str, expanded: bool, force_cpu: bool) -> None:
    """The settings of both starts, the two train buttons, the live status and how the last job ended."""
    with figures.section("Train both starts", expanded=expanded):
        source = yolo.pretrained_source()
        q, f = trainer.QUICK, trainer.FULL
        st.markdown(f"Pretrained start: **{source}** ({yolo.architecture(source).removesuffix('.yaml')}); scratch: "
                    f"the same yaml. Quick: epochs {q.epochs}, image px {q.image_size}, training images "
                    f"{q.fraction:.0%} (about 3 minutes for both on 2 CPU cores). Full: epochs {f.epochs}, image px "
                    f"{f.image_size}, checkpoint every {f.every}.")
        busy = jobs.current(PREFIX) is not None
        left, right = st.columns(2)
        if left.button("Train quick", disabled=busy, key="yolo.train.quick", icon=":material/bolt:"):
            start_training(dataset, "quick", force_cpu)
        if right.button("Train full", disabled=busy, key="yolo.train.full"):
            start_training(dataset, "full", force_cpu)


def across_families(run_ids: tuple[str, ...], labels: tuple[str, ...], dataset: str, device_name: str,
                    short: dict[str, str]) -> None:
    """MTCNN and the YOLO starts' best checkpoints on the cartoon test images: AP table, paired CIs, PR overlay."""
    st.subheader("Across families: MTCNN and YOLO on the cartoon faces")
    fam, curves = family(run_ids, labels, dataset, device_name)
    names = {n: f"{registry.variant(n.split('@')[0]).family} {short[n.split('@')[0]]} @ {n.split('@')[1]}"
             if "@" in n else n for n in fam.variants}
    figures.table(tables.metric_table(fam, ["AP50", "F1"], names), width="stretch")
    figures.table(tables.comparisons_table(fam.comparisons, names), width="stretch")
    fig = plots.pr_figure({names[n]: c for n, c in curves.items()}, ap_label="AP50")
    figures.show(fig, "yolo.family.pr", "detection_families_pr")
    figures.explain("The same test images at IoU 0.5; YOLO at each start's best checkpoint, MTCNN at the study's "
               "permissive stage thresholds; paired bootstrap over images against the pretrained YOLO.")


def numbers_note(result: Comparison) -> str:
    """What the checkpoints table's numbers are, why ours and ultralytics' differ, and how the speeds were taken."""
    return (f"{result.extra['images']} test images, {result.extra['objects']} objects · best: the kept checkpoint with "
            "the highest validation fitness (0.1 AP50 + 0.9 AP50-95, ultralytics' rule) · P, R, F1 at each class's "
            "best-F1 score, IoU 0.5. Why ours and ultralytics' differ on the same predictions: both match greedily "
            "in descending score, but COCO rules (ours) read precision at 101 recall points and keep at most 100 "
            "detections per image, while ultralytics integrates the interpolated curve by the trapezoid rule and "
            "reads P and R at the score that maximises a smoothed mean F1. ms/image: the median of "
            f"{od.timing.ROUNDS} rounds over the first {od.TIMED_IMAGES} test images, the checkpoints interleaved "
            "after a warm-up (ranges: " + "; ".join(f"{n.split('/')[-1]} {lo:,.0f}–{hi:,.0f}" for n, (lo, hi) in
                                                   result.extra.get("ms_range", {}).items()) + ").")
