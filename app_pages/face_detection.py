"""Face detection: MTCNN pretrained on real faces against its fine-tuned variants, on cartoon faces."""

import sys
import time

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageOps

from core import devices, plots
from core.experiments import face_detection as fd
from core.models import mtcnn_batched
from core.models.predict import Detections
from core.train.runstore import RunStore
from ui import jobs
from ui.export import export_buttons
from ui.image_input import pick_image
from ui.sidebar import device

TRAIN_KEY = "detect.training"
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
    pid = jobs.launch([sys.executable, "-m", "core.train.mtcnn", "--stages", *stages])
    st.session_state[TRAIN_KEY] = {"pid": pid, "stages": stages, "started": time.time()}


@st.fragment(run_every=2)
def training_status() -> None:
    job = st.session_state.get(TRAIN_KEY)
    if not job:
        return
    running = [r for r in RunStore().list("running") if r.created >= job["started"] - 5]
    alive = jobs.alive(job["pid"])
    if running:
        history = running[-1].metrics.get("history", [])
        last = history[-1] if history else None
        st.info(f"Fine-tuning {', '.join(job['stages'])}: " +
                (f"{last['stage']} epoch {last['epoch'] + 1}, loss {last['loss']:.3f}, face/background accuracy "
                 f"{last['val_accuracy']:.1%}" if last else "mining samples and scoring the pretrained model…"))
        if st.button("Stop", key="detect.stop"):
            jobs.stop(job["pid"])
    elif not alive:
        finished = [r.id for r in RunStore().list("done") if r.created >= job["started"] - 5]
        st.session_state[NEW_VARIANTS] = [n for n in fd.finetuned_variants() if n.endswith(tuple(finished))]
        del st.session_state[TRAIN_KEY]
        st.rerun(scope="app")


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
    st.markdown("**Stage thresholds** (the study: 0.1, 0.2, 0.2)")
    thresholds = tuple(st.slider(stage, floor, 0.99, floor, 0.01, key=f"detect.t.{stage}")
                       for stage, floor in zip(("PNet", "RNet", "ONet"), fd.FLOOR, strict=True))
    iou = st.slider("IoU for a match (the study: 0.3)", 0.1, 0.9, fd.STUDY_IOU, 0.05, key="detect.iou")

names = ["mtcnn/pretrained", *fd.finetuned_variants()]
if st.session_state.get(NEW_VARIANTS):
    st.session_state["detect.variants"] = [*st.session_state.get("detect.variants", []),
                                           *st.session_state.pop(NEW_VARIANTS)]
chosen = st.multiselect("Variants", names, default=names[:3], key="detect.variants")
with st.expander("Fine-tune a new variant on the cartoon training split"):
    left, right = st.columns(2)
    busy = TRAIN_KEY in st.session_state
    if left.button("PNet only, as in the study (about 15 s on 2 CPU cores)", disabled=busy, key="detect.train.p"):
        start_training(["pnet"])
    if right.button("All stages (about 80 s)", disabled=busy, key="detect.train.all"):
        start_training(["pnet", "rnet", "onet"])
    training_status()
if not chosen:
    st.info("Choose at least one variant; fine-tuned ones appear here once a run has finished.")
    st.stop()

dev = device()
images, truth = test_split()
runs = {name: variant_run(name, str(dev.type)) for name in chosen}
start = time.perf_counter()
scored = {name: fd.score(run, truth, thresholds, iou) for name, run in runs.items()}
base = scored[chosen[0]]
compared = {name: fd.compare_ap(s, base, len(images), n_boot=500) for name, s in scored.items() if name != chosen[0]}
rescoring_ms = (time.perf_counter() - start) * 1000

table = pd.DataFrame([{
    "variant": name, "AP": s.ap, f"AP_VOC{round(iou * 100)}": s.ap_voc, "best F1": s.best.f1,
    "at score": s.best.threshold, "ms / image": runs[name].ms_per_image,
    f"ΔAP vs {chosen[0]}": compared[name].delta if name in compared else None,
    "95% CI": (f"[{compared[name].ci95[0]:+.3f}, {compared[name].ci95[1]:+.3f}]" if name in compared else ""),
} for name, s in scored.items()])
st.dataframe(table, hide_index=True, width="stretch")
st.caption(f"{len(images)} test images, {sum(len(t) for t in truth)} faces · AP: COCO 101-point at IoU {iou:.2f} · "
           f"CI: paired bootstrap over images · re-scored from the cache in {rescoring_ms:.0f} ms on "
           f"{devices.describe(dev)}")

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

st.subheader("What fine-tuning forgets")
st.dataframe(pd.DataFrame([{"variant": n, **forgetting(n, str(dev.type))} for n in scored]), hide_index=True,
             width="stretch")
st.caption("real_photo_recall: share of the faces the pretrained model finds in astronaut, grace_hopper and zidane "
           "(default thresholds 0.6, 0.7, 0.7; IoU 0.5) that the variant still finds. lfw_patch_AUC: real faces "
           "against background patches (scikit-image's lfw_subset), scored by the cascade's three networks.")
