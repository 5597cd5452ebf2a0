"""Face detection: MTCNN pretrained on real faces against its fine-tuned variants, on cartoon faces."""

import sys
import time

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from core import devices, plots, tasks
from core.experiments import face_detection as fd
from core.experiments import tables
from core.metrics import paired
from core.models import mtcnn_batched
from core.predictors import Detections
from core.train import mtcnn as mtcnn_train
from core.train.runstore import RunStore
from ui import jobs
from ui.export import export_buttons
from ui.image_input import pick_image
from ui.sidebar import device

PREFIX = "detect"
NEW_VARIANTS = "detect.new_variants"  # finished by a run started here: added to the selection
GALLERY_SIZE = 18
CROP_MARGIN = 0.25


@st.cache_resource(show_spinner="Reading the cartoon test split…")
def test_split() -> tuple[list[Image.Image], list[np.ndarray]]:
    return fd.test_images()


@st.cache_resource(max_entries=8, show_spinner="Running the variant over the test split (once)…")
def variant_run(name: str, device_name: str) -> fd.VariantRun:
    images, _ = test_split()
    return fd.run_variant(name, images, devices.pick_device(force_cpu=device_name == "cpu"))


@st.cache_resource(max_entries=32, show_spinner="Running the variants on this image…")
def image_cascade(name: str, device_name: str, image_key: str, _image: Image.Image) -> mtcnn_batched.Cascade:
    return fd.run_variant(name, [_image], devices.pick_device(force_cpu=device_name == "cpu")).cascades[0]


@st.cache_data(max_entries=8, show_spinner="Scoring real faces…")
def forgetting(name: str, device_name: str) -> dict[str, float]:
    dev = devices.pick_device(force_cpu=device_name == "cpu")
    return fd.forgetting(name, fd.reference_faces(dev), dev)


def start_training(stages: list[str]) -> None:
    """Queue the run, then its process; this session follows the run by its id."""
    run_id = mtcnn_train.queue(mtcnn_train.MTCNNConfig(stages=tuple(stages)), RunStore())
    jobs.start(PREFIX, [sys.executable, "-m", "core.train.mtcnn", "--run", run_id], [run_id])


@st.fragment(run_every=2)
def training_status() -> None:
    job = jobs.current(PREFIX)
    if job is None:
        return
    ended = jobs.settle(PREFIX)
    if ended is not None:
        st.session_state[NEW_VARIANTS] = [n for n in fd.finetuned_variants() if n.endswith(tuple(ended.done))]
        st.session_state[f"{PREFIX}.failed"] = ended.failed
        st.rerun(scope="app")
    run = job.runs()[0]
    history, phase = run.history, run.metrics.get("phase")
    stages = ", ".join(run.config.get("stages", []))
    if st.session_state.get(f"{PREFIX}.stopping"):
        st.info("Stopping: the run keeps its last checkpoint…")
    elif phase:
        st.info(f"Fine-tuning {stages}: {phase['name']}…")
    elif history:
        last = history[-1]
        st.info(f"Fine-tuning {stages}: {last['phase']} epoch {last['epoch'] + 1}, loss {last['train_loss']:.3f}, "
                f"face/background accuracy {last['val']['face_accuracy']:.1%}")
    else:
        st.info(f"Fine-tuning {stages}: starting…")
    if st.button("Stop", key="detect.stop", disabled=bool(st.session_state.get(f"{PREFIX}.stopping"))):
        jobs.stop(PREFIX)
        st.rerun(scope="fragment")


def crops(image: Image.Image, boxes: np.ndarray) -> list[Image.Image]:
    out = []
    for x1, y1, x2, y2 in boxes:
        mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
        out.append(ImageOps.contain(image.crop((int(x1 - mx), int(y1 - my), int(x2 + mx), int(y2 + my))), (96, 96)))
    return out


@st.dialog("Test image", width="large")
def enlarge(index: int, variant: str, scored: fd.Scored, iou: float) -> None:
    images, truth = test_split()
    d = scored.detections[index]
    st.plotly_chart(plots.detections_figure(images[index], Detections(d.boxes, d.scores), truth=truth[index],
                                            iou_threshold=iou), width="stretch")
    st.caption(f"{variant} · test image {index} · green TP, red FP, orange dashed FN")


st.title("Face detection: real faces → cartoon faces")
st.markdown("MTCNN was trained on real faces. Does fine-tuning its first stage (PNet, as in the study) or all "
            "three stages on cartoon faces pay off, at what cost in speed, and what does it forget about real "
            "faces? Each variant runs once over the test split; the sliders re-score that cache without a model.")

with st.sidebar:
    st.markdown(f"**Stage thresholds** (the study: {', '.join(map(str, fd.FLOOR))})")
    thresholds = tuple(st.slider(stage, floor, 0.99, floor, 0.01, key=f"detect.t.{stage}")
                       for stage, floor in zip(("PNet", "RNet", "ONet"), fd.FLOOR, strict=True))
    iou = st.slider(f"IoU for a match (the study: {fd.STUDY_IOU})", 0.1, 0.9, fd.STUDY_IOU, 0.05, key="detect.iou")

names = ["mtcnn/pretrained", *fd.finetuned_variants()]
if st.session_state.get(NEW_VARIANTS):
    st.session_state["detect.variants"] = [*st.session_state.get("detect.variants", []),
                                           *st.session_state.pop(NEW_VARIANTS)]
chosen = st.multiselect("Variants", names, default=names[:3], key="detect.variants")
with st.expander("Fine-tune a new variant on the cartoon training split"):
    left, right = st.columns(2)
    busy = jobs.current(PREFIX) is not None
    if left.button("PNet only, as in the study (about 15 s on 2 CPU cores)", disabled=busy, key="detect.train.p"):
        start_training(["pnet"])
    if right.button("All stages (about 80 s)", disabled=busy, key="detect.train.all"):
        start_training(["pnet", "rnet", "onet"])
    training_status()
    for message in st.session_state.pop(f"{PREFIX}.failed", []):
        st.error(f"The fine-tuning did not finish: {message}")
if not chosen:
    st.info("Choose at least one variant; fine-tuned ones appear here once a run has finished.")
    st.stop()

dev = device()
images, truth = test_split()
runs = [variant_run(name, str(dev.type)) for name in chosen]
forgotten = {name: forgetting(name, str(dev.type)) for name in chosen}
start = time.perf_counter()
result, scored = fd.compare(runs, truth, thresholds, iou, paired.N_BOOT_LIVE, forgotten, device=dev.type)
rescoring_ms = (time.perf_counter() - start) * 1000

st.dataframe(tables.metric_table(result, list(tasks.get("face_detection").metrics)), hide_index=True, width="stretch")
st.caption(f"{len(images)} test images, {sum(len(t) for t in truth)} faces · AP: COCO 101-point at IoU {iou:.2f}; "
           f"AP_VOC: all-point; best_F1 at its score threshold · ms_per_image: one pass over the test split · "
           f"re-scored from the cache in {rescoring_ms:.0f} ms on {devices.describe(dev)}")
st.caption("What fine-tuning forgets: real_photo_recall is the share of the faces the pretrained model finds in "
           "astronaut, grace_hopper and zidane (default thresholds "
           f"{', '.join(map(str, mtcnn_batched.DEFAULT_THRESHOLDS))}; IoU 0.5) that the variant still finds; "
           "lfw_patch_AUC: real faces against background patches (scikit-image's lfw_subset), scored by the cascade's "
           "three networks.")
if result.comparisons:
    st.markdown(f"**Against {chosen[0]}** (paired bootstrap over images)")
    st.dataframe(tables.comparisons_table(result.comparisons), hide_index=True, width="stretch")

fig = plots.pr_figure({n: s.curve for n, s in scored.items()}, ap={n: s.ap for n, s in scored.items()})
st.plotly_chart(fig, width="stretch", key="detect.pr")
export_buttons(fig, "face_detection_pr", "detect.export")

st.subheader("Side by side")
source = st.radio("On", ["a test image", "a sample photo, an upload or another dataset"], horizontal=True,
                  key="detect.on")
if source == "a test image":
    index = st.slider("Test image", 0, len(images) - 1, 0, key="detect.index")
    shown, shown_truth = images[index], truth[index]
    side = {name: s.detections[index] for name, s in scored.items()}
else:
    picked = pick_image("detect.pick")
    if picked is None:
        st.stop()
    shown, shown_truth = picked.loaded.image, picked.truth
    side = {name: mtcnn_batched.resolve(image_cascade(name, str(dev.type), picked.key, shown), thresholds)
            for name in scored}
for col, (name, d) in zip(st.columns(len(side)), side.items(), strict=True):
    col.markdown(f"**{name}** · {len(d.boxes)} face(s)")
    col.plotly_chart(plots.detections_figure(shown, Detections(d.boxes, d.scores), truth=shown_truth,
                                             iou_threshold=iou), width="stretch", key=f"detect.side.{name}")

st.subheader("Misses and false alarms")
who = st.selectbox("Variant", list(scored), key="detect.gallery.variant")
kind = st.radio("Show", ["missed faces (FN)", "false alarms (FP)"], horizontal=True, key="detect.gallery.kind")
items = []
for i, (m, d) in enumerate(zip(scored[who].matches, scored[who].detections, strict=True)):
    boxes = truth[i][~m.gt_matched] if kind.startswith("missed") else d.boxes[~m.is_tp]
    items += [(i, c) for c in crops(images[i], boxes)]
if not items:
    st.success(f"No {kind} at these thresholds.")
for row in range(0, min(len(items), GALLERY_SIZE), 6):
    for n, (col, (i, crop)) in enumerate(zip(st.columns(6), items[row:row + 6], strict=False), start=row):
        col.image(crop)
        if col.button(f"image {i}", key=f"detect.open.{n}"):
            enlarge(i, who, scored[who], iou)
st.caption(f"{len(items)} {kind}; the first {min(len(items), GALLERY_SIZE)} shown. Click one to see its image.")
