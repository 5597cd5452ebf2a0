"""Face detection: MTCNN pretrained on real faces against its fine-tuned variants, on cartoon faces."""

import time

import streamlit as st

from core import devices, plots, tasks
from core.experiments import tables
from core.metrics import paired
from core.models import mtcnn_batched
from core.models.outputs import Detections
from core.studies import index
from core.studies.face_detection import experiment as fd
from ui import face_detection as ui_fd
from ui import figures, hero, jobs, seeds_view
from ui.image_input import pick_image
from ui.settings import KEEP
from ui.sidebar import device

st.title("Face detection: real faces → cartoon faces")
figures.intro("MTCNN was trained on real faces. Does fine-tuning its first stage (PNet, as in the study) or all "
            "three stages on cartoon faces pay off, at what cost in speed, and what does it forget about real "
            "faces? Each variant runs once over the test split; the sliders re-score that cache without a model.")

with st.sidebar:
    st.markdown(f"**Stage thresholds** (the study: {', '.join(map(str, fd.FLOOR))})")
    thresholds = tuple(st.slider(stage, floor, 0.99, floor, 0.01, key=f"detect.t.{stage}", **KEEP)
                       for stage, floor in zip(("PNet", "RNet", "ONet"), fd.FLOOR, strict=True))
    iou = st.slider(f"IoU for a match (the study: {fd.STUDY_IOU})", 0.1, 0.9, fd.STUDY_IOU, 0.05, key="detect.iou", **KEEP)

names = ["mtcnn/pretrained", *fd.finetuned_variants()]
if "detect.variants" not in st.session_state:  # set here, not by `default=`: a finished run is added below
    st.session_state["detect.variants"] = names[:3]
if st.session_state.get(ui_fd.NEW_VARIANTS):
    st.session_state["detect.variants"] = [*st.session_state.get("detect.variants", []),
                                           *st.session_state.pop(ui_fd.NEW_VARIANTS)]
st.session_state["detect.variants"] = [n for n in st.session_state["detect.variants"] if n in names]
with figures.controls("Variants and fine-tuning"):
    short = tables.variant_names(names)
    chosen = st.multiselect("Variants", names, key="detect.variants", **KEEP,
                            format_func=lambda n: short[n] + (f" · run …{n[-6:]}" if n != short[n] and
                                                              tables.RUN_ID.search(n) else ""))
    with figures.section("Fine-tune a new variant on the cartoon training split"):
        left, right = st.columns(2)
        busy = jobs.current(ui_fd.PREFIX) is not None
        if left.button("PNet only, as in the study" + ui_fd.estimate(("pnet",)), disabled=busy, key="detect.train.p"):
            ui_fd.start_training(["pnet"])
        if right.button("All stages" + ui_fd.estimate(("pnet", "rnet", "onet")), disabled=busy, key="detect.train.all"):
            ui_fd.start_training(["pnet", "rnet", "onet"])
ui_fd.training_status()
hero.hero("face_detection")
if not chosen:
    st.info("Choose at least one variant; fine-tuned ones appear here once a run has finished.")
    st.stop()

dev = device()
images, truth = ui_fd.test_split()
runs = [ui_fd.variant_run(name, str(dev.type)) for name in chosen]
forgotten = {name: ui_fd.forgetting(name, str(dev.type)) for name in chosen}
speed = ui_fd.timings(tuple(chosen), str(dev.type))
start = time.perf_counter()
result, scored = fd.compare(runs, truth, thresholds, iou, paired.N_BOOT_LIVE, forgotten, device=dev.type,
                            timings=speed)
rescoring_ms = (time.perf_counter() - start) * 1000

short = tables.variant_names(list(result.variants))
figures.table(tables.metric_table(result, list(tasks.get("face_detection").metrics), short), width="stretch")
figures.busy(result.extra.get("timing_busy", ""))
figures.explain(ui_fd.numbers_note(len(images), truth, iou, speed, rescoring_ms, devices.describe(dev)),
                label="About these numbers")
figures.explain(ui_fd.FORGETTING_NOTE, label="What fine-tuning forgets")
if result.comparisons:
    st.markdown(f"**Against {short.get(chosen[0], chosen[0])}** (paired bootstrap over images)")
    figures.table(tables.comparisons_table(result.comparisons, short), width="stretch")
    figures.verdicts(tables.verdicts(result.comparisons, short))

fig = plots.pr_figure({short.get(n, n): s.curve for n, s in scored.items()},
                      ap={short.get(n, n): s.ap for n, s in scored.items()})
figures.show(fig, "detect.pr", "face_detection_pr")
seeds_view.section(index.get("face_detection"), fd.DATASET, "detect")

st.subheader("Side by side")
source = st.radio("On", ["a test image", "a sample photo, an upload or another dataset"], horizontal=True,
                  key="detect.on", **KEEP)
if source == "a test image":
    index = st.slider("Test image", 0, len(images) - 1, 0, key="detect.index", **KEEP)
    shown, shown_truth = images[index], truth[index]
    side = {name: s.detections[index] for name, s in scored.items()}
else:
    picked = pick_image("detect.pick")
    if picked is None:
        st.stop()
    shown, shown_truth = picked.loaded.image, picked.truth
    side = {name: mtcnn_batched.resolve(ui_fd.image_cascade(name, str(dev.type), picked.key, shown), thresholds)
            for name in scored}
st.caption(f"Stage thresholds {', '.join(f'{t:.2f}' for t in thresholds)} (PNet, RNet, ONet; the sidebar's), minimum "
           "face 20 px. Try your image runs MTCNN at its defaults, "
           f"{', '.join(map(str, mtcnn_batched.DEFAULT_THRESHOLDS))}, so it keeps fewer boxes on the same photo.")
for col, (name, d) in zip(st.columns(len(side)), side.items(), strict=True):
    col.markdown(f"**{short.get(name, name)}** · {len(d.boxes)} face(s)")
    figures.show(plots.detections_figure(shown, Detections(d.boxes, d.scores), truth=shown_truth, iou_threshold=iou),
                 f"detect.side.{name}", "detections", where=col)

st.subheader("Misses and false alarms")
who = st.selectbox("Variant", list(scored), key="detect.gallery.variant", **KEEP)
kind = st.radio("Show", ["missed faces (FN)", "false alarms (FP)"], horizontal=True, key="detect.gallery.kind", **KEEP)
items = []
for i, (m, d) in enumerate(zip(scored[who].matches, scored[who].detections, strict=True)):
    boxes = truth[i][~m.gt_matched] if kind.startswith("missed") else d.boxes[~m.is_tp]
    items += [(i, c) for c in ui_fd.crops(images[i], boxes)]
if not items:
    st.success(f"No {kind} at these thresholds.")
for row in range(0, min(len(items), ui_fd.GALLERY_SIZE), 6):
    for n, (col, (i, crop)) in enumerate(zip(st.columns(6), items[row:row + 6], strict=False), start=row):
        col.image(crop)
        if col.button(f"image {i}", key=f"detect.open.{n}"):
            ui_fd.enlarge(i, who, scored[who], iou)
st.caption(f"{len(items)} {kind}; the first {min(len(items), ui_fd.GALLERY_SIZE)} shown. Click one to see its image.")
