"""Object detection: one YOLO architecture trained from scratch and from pretrained weights, checkpoint by checkpoint."""

import pandas as pd
import streamlit as st

from core import plots, registry
from core.data.types import open_image
from core.experiments import tables
from core.models import imported
from core.studies import index
from core.studies.object_detection import experiment as od
from core.studies.object_detection import train as trainer
from ui import figures, hero, seeds_view
from ui import object_detection as ui_od
from ui.image_input import pick_image
from ui.settings import KEEP
from ui.sidebar import device

st.title("Object detection: YOLO from scratch vs from pretrained weights")
figures.intro("The same architecture trained twice on the same split with the same settings: built from its yaml "
            "(scratch) and started from pretrained weights. Every few epochs a checkpoint is kept; each is scored "
            "on the test split by this project's metrics and by ultralytics' own code on the same predictions.")

with figures.controls("Detection set, training and the runs compared"):
    sets = ui_od.detection_sets()
    dataset = st.selectbox("Detection set", sets, index=sets.index(od.DATASET) if od.DATASET in sets else 0,
                           key="yolo.dataset", **KEEP, help="Bring a YOLO folder or zip (data.yaml, images/, labels/) or a COCO "
                                                    "json on the Datasets page.")
    found = od.runs_on(dataset)
    ui_od.training_panel(dataset, expanded=not all(found.values()), force_cpu=device().type == "cpu")
    picked = {}
    for col, start in zip(st.columns(2), trainer.STARTS, strict=True) if all(found.values()) else ():
        options = {registry.yolo_variant(r).name: r for r in found[start]}
        picked[start] = options[col.selectbox(f"{start} run", list(options), key=f"yolo.run.{start}", **KEEP)]
ui_od.training_status()
hero.hero("object_detection")
if not all(found.values()):
    st.info(f"{dataset} needs a finished run of each start: train both (under *Train both starts*).")
    st.stop()
runs = [picked[s] for s in trainer.STARTS]
differ = [k for k in ("epochs", "image_size", "fraction", "lr", "batch_size", "seed")
          if runs[0].config.get(k) != runs[1].config.get(k)]
if differ:
    st.warning(f"The two runs differ in {', '.join(differ)}: the comparison is not at equal settings.")
dev = device()
ids = tuple(r.id for r in runs)
labels = tuple(r.checkpoint_label for r in runs)
mine = {m.name: m for m in imported.listing() if m.task == "object_detection"}
picked = st.multiselect("Your detectors (scored on the same test images)", list(mine), key="yolo.yours", **KEEP,
                        format_func=lambda n: f"yours: {n}") if mine else []
try:
    result, scored = ui_od.study(ids, labels, dataset, dev.type, tuple((n, mine[n].sha256) for n in picked))
except ValueError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
except ui_od.UNREADABLE as exc:
    st.error(f"A kept checkpoint of these runs cannot be read ({exc}). Train the pair again, or pick other runs.")
    st.stop()
short = {registry.yolo_variant(r).name: str(r.config["start"]) for r in runs}

st.subheader("Best and last checkpoints (test split)")
figures.table(ui_od.study_table(result), width="stretch")
figures.busy(result.extra.get("timing_busy", ""))
figures.explain(ui_od.numbers_note(result))
if result.comparisons:  # "pretrained @ epoch 3", not two run ids
    said = {n: (f"{short[n.split('@')[0]]} @ {n.split('@')[1]}" if n.split("@")[0] in short else n)
            for c in result.comparisons for n in c[:2]}
    figures.table(tables.comparisons_table(result.comparisons, said), width="stretch")
    figures.verdicts(tables.verdicts(result.comparisons, said))

rows = pd.DataFrame(result.extra["per_checkpoint"])
rows["variant"] = rows["variant"].map(short)
history = pd.DataFrame([{"variant": short[registry.yolo_variant(r).name], "epoch": h["epoch"] + 1, **h["val"],
                         "train loss": h["train_loss"]} for r in runs for h in r.history])
metric = st.radio("Over epochs", ["AP50", "AP50-95", "P", "R"], horizontal=True, key="yolo.curve.metric", **KEEP)
curves = plots.checkpoint_curves_figure(history, rows, metric)
figures.show(curves, "yolo.curves", "yolo_checkpoints")

best = {n: s for n, s in scored.items() if n in {p["best"] for p in result.extra["checkpoints"]}}
st.subheader("PR at each start's best checkpoint")
pr = plots.pr_figure({f"{short[n.split('@')[0]]} @ {n.split('@')[1]}": next(iter(s.result.curves.values()))
                      for n, s in best.items()} if len(result.extra["classes"]) == 1 else
                     {f"{short[n.split('@')[0]]} @ {n.split('@')[1]} · {c}": curve
                      for n, s in best.items() for c, curve in s.result.curves.items()}, ap_label="AP50")
figures.show(pr, "yolo.pr", "yolo_pr")
seeds_view.section(index.get("object_detection"), dataset, "yolo")

st.subheader("Detections side by side")
common = sorted({c.epoch for c in od.checkpoints(runs[0])} & {c.epoch for c in od.checkpoints(runs[1])})
epoch = st.select_slider("Checkpoint (epoch)", common, value=common[-1], key="yolo.epoch", **KEEP) if len(common) > 1 \
    else common[0]
threshold = st.slider("Score threshold", 0.05, 0.95, 0.25, 0.05, key="yolo.threshold", **KEEP)
where = st.radio("On", ["a test image", "a sample photo, an upload or another dataset"], horizontal=True,
                 key="yolo.on", **KEEP)
data, samples = od.test_split(dataset)
if where == "a test image":
    index = st.slider("Test image", 0, len(samples) - 1, 0, key="yolo.index", **KEEP)
    image, truth, key = open_image(samples[index].image), samples[index].boxes, f"test:{dataset}:{index}"
else:
    chosen = pick_image("yolo.pick")
    if chosen is None:
        st.stop()
    image, truth, key = chosen.loaded.image, chosen.truth, chosen.key
figures.explain("Transfer on the left, scratch on the right (the study drew them above and below). Green: a box that "
           "matches a truth at IoU 0.5; red: a false alarm; orange dashed: a missed object.")
for col, r in zip(st.columns(2), reversed(runs), strict=True):
    c = next(c for c in od.checkpoints(r) if c.epoch == epoch)
    f = ui_od.found_on(c.path, int(r.config["image_size"]), dev.type, key, image)
    d = ui_od.as_detections(f, data.classes, threshold)
    col.markdown(f"**{r.config['start']}** · {c.label} · {len(d.boxes)} box(es) at score ≥ {threshold:.2f}")
    figures.show(plots.detections_figure(image, d, truth=truth if len(data.classes) == 1 else None),
                 f"yolo.side.{r.config['start']}", "detections", where=col)

if dataset == od.DATASET:
    ui_od.across_families(ids, labels, dataset, dev.type, short)
