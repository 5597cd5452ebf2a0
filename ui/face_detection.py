"""The face-detection page's Streamlit glue: cached cascades over the test split, fine-tuning from the page
(queued run, its own process, followed by id), and the gallery's crops and dialog."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from core import devices, numbers, plots, registry
from core.engine import estimates
from core.engine.store import RunStore
from core.models import mtcnn_batched
from core.models.outputs import Detections
from core.studies.face_detection import experiment as fd
from core.studies.face_detection import train as mtcnn_train
from ui import figures, jobs

PREFIX = "detect"
NEW_VARIANTS = "detect.new_variants"  # finished by a run started here: selected
GALLERY_SIZE = 18
CROP_MARGIN = 0.25


@st.cache_resource(show_spinner="Reading the cartoon test split…")
def test_split() -> tuple[list[Image.Image], list[np.ndarray]]:
    return fd.test_images()


@st.cache_resource(max_entries=8, show_spinner="Running the variant over the test split (once; kept on disk)…")
def variant_run(name: str, device_name: str) -> fd.VariantRun:
    images, _ = test_split()
    return fd.run_variant(name, images, devices.pick_device(force_cpu=device_name == "cpu"), cache=True)


@st.cache_resource(max_entries=8, show_spinner="Timing the variants side by side (interleaved rounds)…")
def timings(names: tuple[str, ...], device_name: str) -> dict:
    """The chosen variants timed together on the same images: a new choice is timed anew, all of it."""
    images, _ = test_split()
    return fd.time_variants(list(names), images, devices.pick_device(force_cpu=device_name == "cpu"))


@st.cache_resource(max_entries=32, show_spinner="Running the variants on this image…")
def image_cascade(name: str, device_name: str, image_key: str, _image: Image.Image) -> mtcnn_batched.Cascade:
    return fd.run_variant(name, [_image], devices.pick_device(force_cpu=device_name == "cpu")).cascades[0]


@st.cache_data(max_entries=2, show_spinner="Finding the faces in the sample photos…")
def reference_faces(device_name: str) -> dict[str, np.ndarray]:
    """What the pretrained model finds in the sample photos: the same for every variant, found once."""
    return fd.reference_faces(devices.pick_device(force_cpu=device_name == "cpu"))


@st.cache_data(max_entries=8, show_spinner="Scoring real faces…")
def forgetting(name: str, device_name: str) -> dict[str, float]:
    return fd.forgetting(name, reference_faces(device_name), devices.pick_device(force_cpu=device_name == "cpu"))


def start_training(stages: list[str]) -> None:
    """Queue the run, then its process; this session follows the run by its id."""
    jobs.queue_and_start(PREFIX, lambda: [mtcnn_train.queue(mtcnn_train.MTCNNConfig(stages=tuple(stages)), RunStore())])


def estimate(stages: tuple[str, ...]) -> str:
    """" (about 50 s here, from 2 past runs)" for a button, or "" when this machine has not run that config."""
    return jobs.estimate("face_detection", [mtcnn_train.MTCNNConfig(stages=stages).to_dict()], count=True)


def _ended(ended: jobs.Ended) -> None:
    kept = set(ended.done)  # a stopped run is offered under Variants, not added
    st.session_state[NEW_VARIANTS] = [v.name for v in registry.for_task("face_detection") if v.run_id in kept]


def training_status() -> None:
    jobs.panel(PREFIX, _progress, _ended, stopped="If it finished an epoch it is a variant at that epoch: pick it "
                                                   "under Variants to compare it.")


def _progress(job: jobs.Job) -> None:
    run = job.runs()[0]
    history, phase = run.history, run.metrics.get("phase")
    stages = ", ".join(run.config.get("stages", []))
    past = estimates.past_seconds("face_detection", run.config)
    left = "" if past is None else (f" · {estimates.words(past[0] - (time.time() - run.created))} left by past runs"
                                    if past[0] > time.time() - run.created else " · taking longer than past runs")
    if phase:
        st.info(f"Fine-tuning {stages}: {estimates.phase_words(phase)}…{left}")
    elif history:
        last = history[-1]
        st.info(f"Fine-tuning {stages}: {last['phase']} epoch {last['epoch'] + 1}, loss {numbers.text(last['train_loss'])}, "
                f"face/background accuracy {numbers.text(last['val'].get('face_accuracy'), fmt='.1%')}{left}")
    else:
        st.info(f"Fine-tuning {stages}: starting the training process…")


def crops(image: Image.Image, boxes: np.ndarray) -> list[Image.Image]:
    out = []
    for x1, y1, x2, y2 in boxes:
        mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
        out.append(ImageOps.contain(image.crop((int(x1 - mx), int(y1 - my), int(x2 + mx), int(y2 + my))), (96, 96)))
    return out


@st.dialog("Test image", width="large")
def enlarge(index: int, variant: str, scored: fd.ScoredCascade, iou: float) -> None:
    images, truth = test_split()
    d = scored.detections[index]
    figures.show(plots.detections_figure(images[index], Detections(d.boxes, d.scores), truth=truth[index],
                                         iou_threshold=iou), "detect.hard.image", "detections")
    st.caption(f"{variant} · test image {index} · green TP, red FP, orange dashed FN")


def numbers_note(images: int, truth: list, iou: float, speed: dict, rescoring_ms: float, device: str) -> str:
    """What the face-detection table's numbers are, and how the speeds were measured."""
    return (f"{images} test images, {sum(len(t) for t in truth)} faces · AP: COCO 101-point at IoU {iou:.2f}; "
            f"AP_VOC: all-point; best_F1 at its score threshold · ms_per_image: median of {fd.timing.ROUNDS} "
            f"interleaved passes over the first {fd.TIMED_IMAGES} test images at MTCNN's default thresholds, after "
            "a warm-up (range: " + "; ".join(f"{n} {t.low_ms:,.0f}–{t.high_ms:,.0f}" for n, t in speed.items())
            + f") · re-scored from the cache in {rescoring_ms:.0f} ms on {device}")


FORGETTING_NOTE = (
    "What fine-tuning forgets: real_photo_recall is the share of the faces the pretrained model finds in astronaut, "
    f"grace_hopper and zidane (default thresholds {', '.join(map(str, mtcnn_batched.DEFAULT_THRESHOLDS))}; IoU 0.5) "
    "that the variant still finds; lfw_patch_AUC: real faces against background patches (scikit-image's "
    "lfw_subset), scored by the cascade's three networks.")
