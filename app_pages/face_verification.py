"""Face verification: ImageNet backbones as face embeddings, before and after fine-tuning, against dlib's face model."""

import pandas as pd
import streamlit as st

from core import plots, tasks, timing, weights
from core.data import catalogue
from core.experiments import tables
from core.metrics import verification
from core.models import backbones, embeddings
from core.studies import index
from core.studies.face_verification import experiment as fv
from core.studies.face_verification import train as trainer
from ui import face_verification as ui_fv
from ui import figures, hero, jobs, seeds_view
from ui.settings import KEEP
from ui.sidebar import FORCE_CPU, device

st.title("Face verification: ImageNet features → faces")
figures.intro("The study took AlexNet and VGG16 trained on ImageNet, called two faces the same person when their "
            "outputs were close, and fine-tuned them with binary cross-entropy on that distance: the classifier "
            "layers first (phase 1), then everything (phase 2). Here any backbone does, beside a metric-learning "
            "loss and dlib's face descriptor, a model trained on faces. Each image is embedded once; the threshold "
            "re-scores the cached distances.")

with st.sidebar:
    st.subheader("Embedding")
    names = catalogue.verification_names()
    dataset = st.selectbox("Pairs", names, key="verify.dataset", **KEEP, help="Cartoon people (built in), an LFW folder with "
                           "pairs.txt, or a folder of people (one folder per person) from the Datasets page")
    choices = sorted(backbones.BACKBONES)
    backbone = st.selectbox("Backbone", choices, index=choices.index(fv.DEFAULT_BACKBONE), key="verify.backbone", **KEEP)
    tap = st.radio("Embedding", list(embeddings.TAPS), key="verify.tap", **KEEP, format_func=embeddings.TAPS.get)
    distance = st.radio("Distance", list(verification.DISTANCES), key="verify.distance", **KEEP,
                        format_func=verification.DISTANCES.get)
    mode = st.radio("Scored on", ["test pairs", "all pairs"], horizontal=True, key="verify.mode", **KEEP,
                    help="all pairs: every pair of the test people's images, counted in blocks")
    reference = st.toggle("dlib face reference", value=True, key="verify.dlib", **KEEP)

with figures.controls("Fine-tune this backbone on the training people of this set"):
    recipes = st.multiselect("Runs", list(trainer.RECIPES), default=list(trainer.RECIPES), key="verify.recipes", **KEEP,
                             format_func=lambda r: f"{r}: {trainer.RECIPES[r][2]}")
    epochs = st.slider("Epochs (phase 2: the first 2 train the classifier layers only)", 3, 20, 8, key="verify.epochs", **KEEP)
    busy = jobs.current(ui_fv.PREFIX) is not None
    label = "Start" + ui_fv.estimate(dataset, backbone, tap, distance, recipes, epochs)
    if st.button(label, disabled=busy or not recipes, type="primary", key="verify.train"):
        ui_fv.start_training(dataset, backbone, tap, distance, recipes, epochs, bool(st.session_state.get(FORCE_CPU)))
        st.rerun()
ui_fv.training_status()
hero.hero("face_verification")
source = weights.source(embeddings.source(backbone, tap))
if weights.state(source.name) == weights.State.MISSING:
    st.warning(weights.unavailable_message(source.name), icon=":material/cloud_off:")
    st.stop()

dev = str(device().type)
data_source = catalogue.entries()[dataset].source
variants = ui_fv.variants_for(dataset, backbone, tap, distance, reference)
embedded = {v.name: ui_fv.embedded(v.name, dev, dataset, mode, data_source) for v in variants}
metrics = list(tasks.get("face_verification").metrics)
names = {v.name: fv.label(v) for v in variants}
if mode == "all pairs":
    images, people = ui_fv.test_people(dataset, data_source)
    result, results = fv.all_pairs(variants, embedded, people, distance, dataset, dev)
    timing.into(result.variants, result.extra, ui_fv.timings(tuple(embedded), dev, dataset, mode, data_source))
    figures.table(tables.metric_table(result, metrics, names), width="stretch")
    figures.explain(f"{len(images):,} images of the test people: {result.extra['pairs']:,} pairs, counted in blocks. "
               "The pairs share images, so no per-pair test: use test pairs for ΔAUC with DeLong's CI.")
    figures.show(plots.roc_figure({names[n]: r for n, r in results.items()}), "verify.roc.all", "face_verification_roc")
    st.stop()

ps = ui_fv.pair_set(dataset, data_source)
result = fv.compare(variants, embedded, ps, distance, dev)
timing.into(result.variants, result.extra, ui_fv.timings(tuple(embedded), dev, dataset, mode, data_source))
figures.table(tables.metric_table(result, metrics, names), width="stretch")
figures.busy(result.extra.get("timing_busy", ""))
figures.explain(f"{len(ps.same)} test pairs ({int(ps.same.sum())} same person) · distance: "
           f"{verification.DISTANCES[distance]} · EER_distance: the threshold where false accepts equal false "
           f"rejects · no_face: images where dlib found no face and embedded the whole image · ms_per_image: the "
           f"median of {timing.ROUNDS} interleaved rounds over the same first {fv.TIMED_IMAGES} images, after a warm-up")
if result.comparisons:
    st.markdown("**ΔAUC against the pretrained embedding** (DeLong's test on the same pairs)")
    figures.table(tables.comparisons_table(result.comparisons, names), width="stretch")
if ps.name.endswith("/all") and any(v.run_id for v in variants):
    st.warning("This set's pairs have no test split, so they may pair people the fine-tuned runs trained on: "
               "their scores here are optimistic.", icon=":material/warning:")
for problem in ps.problems[:10]:
    st.caption(f"Skipped: {problem}")
seeds_view.section(index.get("face_verification"), dataset, "verify")

scored = {v.name: fv.score(embedded[v.name], ps, distance) for v in variants}
far = st.slider("Operating point: the false accept rate each variant is held to", 0.0, 1.0, 0.1, 0.01,
                key="verify.far", **KEEP, format="%.2f")
thresholds = {n: verification.threshold_at_far(s.distances, ps.same, far) for n, s in scored.items()}
confusions = {names[n]: verification.confusion(s.distances, ps.same, thresholds[n]) for n, s in scored.items()}
fig = ui_fv.operating_points(plots.roc_figure({names[n]: s.result for n, s in scored.items()}), confusions)
figures.show(fig, "verify.roc", "face_verification_roc")
figures.table(pd.DataFrame([{"variant": names[n], "distance threshold": f"{thresholds[n]:.3f}",
                             "same, accepted": c.true_accepts, "same, rejected": c.false_rejects,
                             "different, accepted": c.false_accepts, "different, rejected": c.true_rejects,
                             "FAR": f"{c.far:.3f}", "TAR": f"{c.tar:.3f}"}
                            for n, c in zip(scored, confusions.values(), strict=True)]), width="stretch")
figures.explain("Each embedding's distances have a scale of their own, so one distance threshold would hold the "
                "variants to different false accept rates: each gets its own threshold, the largest at which at most "
                "this share of the different-people pairs is accepted. ○ on the ROC: that operating point; ×: its "
                "equal-error point.", label="About the thresholds")

st.subheader("Hardest pairs at this operating point")
who = st.selectbox("Variant", list(scored), key="verify.browse", **KEEP, format_func=names.get)
threshold = thresholds[who]
accepts, rejects = ui_fv.hardest(scored[who].distances, ps.same, threshold)
st.markdown("**False accepts**: different people, closest first")
ui_fv.pair_row(ps, accepts, scored[who].distances)
st.markdown("**False rejects**: the same person, furthest apart first")
ui_fv.pair_row(ps, rejects, scored[who].distances)

st.subheader("Verify two faces")
ui_fv.verify_two(ps, variants, scored, distance, thresholds, dev)
