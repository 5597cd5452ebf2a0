"""Try your image: two variants of one task on a sample or uploaded photo, side by side, with timings."""

import streamlit as st

from core import devices, plots, registry, tasks, timing
from core.models.mtcnn_batched import DEFAULT_THRESHOLDS, STUDY_IOU
from core.models.outputs import Detections, TopK
from core.predictors import Value
from core.weights import WeightsUnavailable
from ui import cache, explain_view, figures
from ui.image_input import pick_image
from ui.settings import KEEP
from ui.sidebar import device, presenting

st.title("Try your image")
figures.intro("Run two variants of one task on the same photo and compare their outputs and speed.")

with figures.controls("Image, task and variants"):
    picked = pick_image("try")
    if picked is None:
        st.stop()
    loaded, image_key = picked.loaded, picked.key

    preview, setup = st.columns([1, 3])
    if not presenting():
        preview.image(loaded.image, width="stretch")
    with setup:
        # a face embedding says nothing about one image: the verification page compares two
        runnable = {t.name: t.title for t in tasks.TASKS.values() if t.predictor and t.predictor != "embedder"}
        task = st.selectbox("Task", list(runnable), format_func=runnable.get, key="try.task", **KEEP)
        variants = registry.for_task(task)
        ready = [v.name for v in variants if registry.availability(v).ok]
        missing = [v for v in variants if not registry.availability(v).ok]
        if missing:
            with figures.section(f"{len(missing)} variant(s) of this task need weights that are not on this machine"):
                for v in missing:
                    st.markdown(f"- **{v.name}**: {registry.availability(v).message}")
        if not ready:
            st.info("No variant of this task can run here yet: " + ("see the weights above." if missing else
                    "its variants are trained runs; train one on the task's page."))
            st.stop()
        left, right = st.columns(2)
        chosen = [left.selectbox("Variant A", ready, index=0, key="try.a", **KEEP)]
        if len(ready) > 1:
            chosen.append(right.selectbox("Variant B", ready, index=1, key="try.b", **KEEP))
        else:
            right.info("Only one variant of this task is available now; fine-tuned variants appear here once trained.")

dev = device()
try:
    speed = cache.timings(tuple(chosen), str(dev), image_key, (loaded.image,))
except WeightsUnavailable as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"Running on {devices.describe(dev)} · ms / image: the median of {timing.ROUNDS} runs on this image, "
           "the variants interleaved after a warm-up, with the range")
figures.busy(timing.busy_words(speed))
columns = st.columns([1] + [2] * len(chosen)) if presenting() else st.columns(len(chosen))
if presenting():  # the picker is folded away: the image stays in view beside the results
    columns.pop(0).image(loaded.image, width="stretch", caption=loaded.name)
for i, (col, name) in enumerate(zip(columns, chosen, strict=True)):
    with col:
        st.subheader(name)
        st.caption(registry.variant(name).description)
        with st.spinner(f"Running {name}…"):
            out = cache.predict(name, str(dev), image_key, (loaded.image,))[0]
        t = speed[name]
        st.metric("ms / image", f"{t.median_ms:,.1f}", help=str(t))
        st.caption(f"range {t.low_ms:,.1f}–{t.high_ms:,.1f} ms over {t.rounds} runs")
        if isinstance(out, TopK):
            figures.show(plots.topk_figure(out, name=name), f"try.fig.{i}", "top_classes")
        elif isinstance(out, Detections):
            st.markdown(f"**{len(out.boxes)}** " + ("face(s)" if task == "face_detection" else "box(es)") + " found")
            figures.show(plots.detections_figure(loaded.image, out, name=name, truth=picked.truth,
                                                 iou_threshold=STUDY_IOU), f"try.fig.{i}", "detections")
            if task == "face_detection":
                st.caption(f"MTCNN's default stage thresholds {', '.join(map(str, DEFAULT_THRESHOLDS))}, minimum face "
                           "20 px; the Face detection page sets its own in the sidebar.")
            if picked.truth is not None:
                st.caption(f"Against the dataset's boxes at IoU ≥ {STUDY_IOU} (the face study's threshold): "
                           "green TP, red FP, orange dashed FN.")
        elif isinstance(out, Value):
            st.metric(f"predicted {out.name}", f"{out.value:.3f}")
        else:
            raise TypeError(f"no view for output {type(out).__name__}")

if task == "classification" and chosen:
    st.subheader("Where does it look?")
    explain_view.where_it_looks(chosen, str(dev), image_key, loaded.image, picked.label)
